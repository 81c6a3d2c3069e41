"""What one stalled reader costs the server: RSS growth against --send-queue.

A reader connects with a small SO_RCVBUF, joins and never reads again. A
second user ("f", the filler) first sends 1000-byte lines until the server's
kernel send buffer towards the reader stops growing (its Send-Q, read with
`ss`), so that from then on what the reader is not taking waits in the
server's own send queue. The baseline RSS is taken then. A third user ("a")
then sends `hey` lines, one per write, PACE apart, so that the room sends
each as its own piece: the reader gets `a: hey\\n`, 7 bytes each. The server's
VmRSS and RssAnon (/proc/PID/status) are sampled every 5 ms until the sender reads
`stalled left the chat! (too slow)` or the time bound passes.

Reported per run: the runtime, the send queue, lines sent after the fill,
whether and when the reader was dropped, baseline and peak RSS and the peak
above baseline, for VmRSS and for RssAnon (VmRSS also counts code pages of
the binary and libc first run when the reader is dropped: up to 250 KiB on
the std runtime, which is no queued memory), against the bound docs/protocol.md states for one connection
that does not read: the send queue plus one piece (the longest line plus 72
bytes); the kernel's socket buffer is outside the process.

Loopback only; every loop is bounded (the fill by 20 000 lines, the 7-byte
phase by --seconds). The script starts and stops its own server.

Usage: python3 bench/stall.py --chat target/release/chat --runtime smol \\
           [--send-queue 64KiB] [--seconds 90] [--pace-ms 2] [--runs 3] [--json]
"""

import argparse
import fcntl
import json
import os
import re
import socket
import subprocess
import sys
import termios
import threading
import time

HOST = "127.0.0.1"
FILL_LINE = b"x" * 990  # with "f: " and "\n": 994 bytes delivered
MAX_FILL_LINES = 20_000


def start_server(chat, runtime, send_queue):
    args = [chat, "server", "--port", "0", "--runtime", runtime, "--flood-rate", "0",
            "--notice-hold-per-user", "0"]
    if send_queue:
        args += ["--send-queue", send_queue]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            return proc, int(m.group(1))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    sys.exit("error: the server did not start")


def rss_kib(pid, field="VmRSS"):
    """A /proc/PID/status memory field in KiB: VmRSS (everything resident,
    the binary's and libc's code pages included) or RssAnon (the heap and
    stacks, where queued lines live)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def join(port, nick, rcvbuf=None, timeout=10):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect((HOST, port))
    buf = b""
    while b"alias?" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("closed before alias?")
        buf += chunk
    s.sendall(nick.encode() + b"\n")
    buf = b""
    while b"You are connected" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise RuntimeError(f"{nick}: closed while joining: {buf!r}")
        buf += chunk
    return s


class Drainer(threading.Thread):
    """Reads a socket until it closes or stop is set; notes when `needle` arrives."""

    def __init__(self, sock, needle):
        super().__init__(daemon=True)
        self.sock, self.needle = sock, needle
        self.seen_at = None
        self.stop = False
        self.tail = b""

    def run(self):
        self.sock.settimeout(0.1)
        while not self.stop:
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError:
                return
            if not chunk:
                return
            self.tail = (self.tail + chunk)[-4096:]
            if self.seen_at is None and self.needle in self.tail:
                self.seen_at = time.monotonic()


def skmem(port, reader_port):
    """The server-side socket towards the reader: Send-Q, and `ss -m`'s
    skmem fields (`w` queued memory, `tb` send buffer size)."""
    out = subprocess.run(
        ["ss", "-tnmH", "state", "established", f"( sport = :{port} and dport = :{reader_port} )"],
        capture_output=True, text=True, timeout=5).stdout
    fields = out.split()
    mem = {"send_q": int(fields[1])}
    m = re.search(r"skmem:\(([^)]*)\)", out)
    for item in m.group(1).split(","):
        key = item.rstrip("0123456789")
        mem[key] = int(item[len(key):])
    return mem


def fionread(sock):
    """Bytes waiting in a socket's receive buffer."""
    buf = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    return int.from_bytes(buf, sys.byteorder)


def one_run(opts):
    proc, port = start_server(opts.chat, opts.runtime, opts.send_queue)
    try:
        return measure(opts, proc, port)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


def measure(opts, proc, port):
    pid = proc.pid
    reader = join(port, "stalled", rcvbuf=opts.rcvbuf)
    reader_port = reader.getsockname()[1]
    filler = join(port, "f")
    sender = join(port, "a")
    fdrain = Drainer(filler, b"\x00")
    sdrain = Drainer(sender, b"stalled left the chat! (too slow)")
    fdrain.start()
    sdrain.start()
    rss_start = rss_kib(pid)
    # Fill the server's kernel buffer towards the reader with big lines:
    # 20 at a time while its queued memory (ss's skmem `w`) is more than
    # 256 KiB below its size (`tb`), then one at a time until a line stays
    # in the server: from then on the server's own queue holds what the
    # reader does not take. What the reader's stream carried since its join
    # (two join notices and the fill lines) minus what the two kernel
    # buffers hold (Send-Q, the reader's FIONREAD) is what the server holds.
    fill_lines = 0
    line_bytes = len(FILL_LINE) + 4

    def held_by_server():
        streamed = 2 * len(b"f joined the chat\n") + fill_lines * line_bytes
        return streamed - skmem(port, reader_port)["send_q"] - fionread(reader)

    while fill_lines < MAX_FILL_LINES:
        mem = skmem(port, reader_port)
        if mem["w"] >= mem["tb"] - 256 * 1024:
            break
        for _ in range(20):
            filler.sendall(FILL_LINE + b"\n")
            fill_lines += 1
            time.sleep(0.0005)
        time.sleep(0.02)
    while fill_lines < MAX_FILL_LINES:
        filler.sendall(FILL_LINE + b"\n")
        fill_lines += 1
        time.sleep(0.02)
        if held_by_server() > 0:
            time.sleep(0.3)
            if held_by_server() > 0:
                break
    queued_at_baseline = held_by_server()
    reader_recv_q = fionread(reader)
    mem = skmem(port, reader_port)
    kernel_send_q = mem["send_q"]
    time.sleep(0.3)
    baseline = rss_kib(pid)
    anon_baseline = rss_kib(pid, "RssAnon")
    peak, anon_peak = baseline, anon_baseline
    samples = []
    stop = threading.Event()

    last_send_q = kernel_send_q

    def sampler():
        nonlocal peak, anon_peak, last_send_q
        n = 0
        while not stop.is_set():
            n += 1
            if n % 10 == 0:
                try:
                    last_send_q = skmem(port, reader_port)["send_q"]
                except (IndexError, AttributeError, subprocess.SubprocessError):
                    pass  # the connection is gone
            try:
                r = rss_kib(pid)
            except OSError:
                return
            peak = max(peak, r)
            anon_peak = max(anon_peak, rss_kib(pid, "RssAnon"))
            samples.append(r)
            time.sleep(0.005)

    st = threading.Thread(target=sampler, daemon=True)
    st.start()
    t0 = time.monotonic()
    sent = 0
    pace = opts.pace_ms / 1000
    while time.monotonic() - t0 < opts.seconds and sdrain.seen_at is None:
        sender.sendall(b"hey\n")
        sent += 1
        time.sleep(pace)
    dropped_after = (sdrain.seen_at - t0) if sdrain.seen_at else None
    time.sleep(0.3)
    stop.set()
    st.join()
    after = rss_kib(pid)
    for d in (fdrain, sdrain):
        d.stop = True
    reader.close()
    filler.close()
    sender.close()
    return {
        "runtime": opts.runtime,
        "send_queue": opts.send_queue or "256KiB",
        "fill_lines": fill_lines,
        "kernel_send_q": kernel_send_q,
        "kernel_wmem": mem["w"],
        "kernel_sndbuf": mem["tb"],
        "reader_recv_q": reader_recv_q,
        "server_queue_at_baseline": queued_at_baseline,
        "lines_sent": sent,
        "kernel_send_q_last": last_send_q,
        # Lines the kernel took after the fill (the tail of its last
        # segment still takes small writes); the rest waited in the server.
        "lines_into_kernel": (last_send_q - kernel_send_q) // 7,
        "dropped_after_s": None if dropped_after is None else round(dropped_after, 2),
        "rss_start_kib": rss_start,
        "rss_baseline_kib": baseline,
        "rss_peak_kib": peak,
        "rss_peak_above_baseline_kib": peak - baseline,
        "rss_after_drop_kib": after,
        "anon_baseline_kib": anon_baseline,
        "anon_peak_above_baseline_kib": anon_peak - anon_baseline,
    }


def parse_size(s):
    m = re.fullmatch(r"(\d+)(KiB|MiB)?", s)
    if not m:
        sys.exit(f"bad size {s}")
    return int(m.group(1)) * {None: 1, "KiB": 1024, "MiB": 1 << 20}[m.group(2)]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chat", default="target/release/chat")
    p.add_argument("--runtime", default="smol", choices=["smol", "std"])
    p.add_argument("--send-queue", default=None, help="e.g. 64KiB; the server's default when absent")
    p.add_argument("--seconds", type=float, default=90, help="bound on the 7-byte phase")
    p.add_argument("--pace-ms", type=float, default=2)
    p.add_argument("--rcvbuf", type=int, default=4096, help="the reader's SO_RCVBUF")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--json", action="store_true")
    opts = p.parse_args()
    queue = parse_size(opts.send_queue or "256KiB")
    bound_kib = (queue + 1024 + 72) / 1024
    for i in range(opts.runs):
        r = one_run(opts)
        r["bound_kib"] = round(bound_kib, 1)
        r["load"] = os.getloadavg()[0]
        if opts.json:
            print(json.dumps(r), flush=True)
        else:
            print(f"run {i + 1}: {r}", flush=True)


if __name__ == "__main__":
    main()
