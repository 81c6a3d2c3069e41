"""How fast users join a busy room, and how many a server takes.

Three scenarios, each against a fresh `chat server --runtime R` this script
starts on a free loopback port and stops at the end:

  seq    FROM users join 64 at a time (the prefill); then CHATTERS users
         send RATE lines a second each while more users join one after
         another (each connects, answers `alias?` and waits for `You are
         connected`) up to TO users. Reports the time of each 1 000 joins,
         the total, and the chatters' line latency (p50/p99) meanwhile.
  storm  CHATTERS users chat at RATE while N users join WINDOW at a time;
         reports the storm's time and the chatters' p50/p99 during it.
  idle   N users join WINDOW at a time, nobody chats; reports how many
         joined, how many were refused and with which first line (or
         `reset`, `closed`, `refused`, `timeout`), and the server's log lines
         that state a limit (`lowered`).

The chatters' latency is from the send of a line to its arrival at every
chatter (they all read all lines; one clock, this process). Joined users are
read every 0.5 s, a slice each turn of the loop, so that they never stall the
server and the chatters never wait for a whole sweep.

Loopback only; bounded: every phase by --seconds, each join by 30 s, and
the counts by the flags. Raises its own open-file limit to the hard one (the
server raises its own); the hard limit must exceed the clients.

Usage: python3 bench/joins.py --chat target/release/chat --runtime std seq \\
           [--from 3000 --to 5000 --chatters 4 --rate 2 --seconds 400]
       python3 bench/joins.py ... storm [-n 4000 --window 64]
       python3 bench/joins.py ... idle [-n 10000 --window 64]
"""

import argparse
import errno
import json
import os
import re
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HOST = "127.0.0.1"
JOIN_TIMEOUT = 30.0
SWEEP_EVERY = 0.5


def start_server(chat, runtime, extra, log_path):
    args = [chat, "server", "--port", "0", "--runtime", runtime] + extra
    log = open(log_path, "w")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.match(r"listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            return proc, int(m.group(1))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    sys.exit("error: the server did not start: " + open(log_path).read())


class Joiner:
    """One user's connection, from connect to `You are connected`."""

    def __init__(self, nick, port):
        self.nick = nick.encode()
        self.sock = socket.socket()
        self.sock.setblocking(False)
        self.buf = b""
        self.state = "alias"
        self.started = time.monotonic()
        err = self.sock.connect_ex((HOST, port))
        if err not in (0, errno.EINPROGRESS):
            self.state = "refused"

    def on_readable(self):
        """Reads what came; returns the outcome once known: "joined" or why not."""
        try:
            chunk = self.sock.recv(65536)
        except BlockingIOError:
            return None
        except ConnectionResetError:
            return "reset"
        except ConnectionRefusedError:
            return "refused"
        except OSError as e:
            return f"os error {e.errno}"
        if not chunk:
            first = self.buf.split(b"\n", 1)[0]
            return first.decode(errors="replace") if first.startswith(b"error:") else "closed"
        self.buf += chunk
        if self.state == "alias":
            if self.buf.startswith(b"error:") and b"\n" in self.buf:
                return self.buf.split(b"\n", 1)[0].decode(errors="replace")
            if b"alias?" in self.buf:
                self.buf = b""
                self.state = "joined?"
                self.sock.send(self.nick + b"\n")
            return None
        if b"You are connected" in self.buf:
            self.buf = b""
            return "joined"
        if self.buf.startswith(b"error:") and b"\n" in self.buf:
            return self.buf.split(b"\n", 1)[0].decode(errors="replace")
        self.buf = self.buf[-64:]
        return None


class Chatter:
    """A joined user that sends `t<ns>` lines at a rate and reads them all."""

    def __init__(self, sock, rate, index):
        self.sock = sock
        self.sock.setblocking(False)
        self.period = 1.0 / rate
        # Spread the chatters' sends over the period.
        self.next_send = time.monotonic() + self.period * index / 8
        self.buf = b""

    def send_due(self, now):
        if now >= self.next_send:
            self.sock.send(b"t%d\n" % time.monotonic_ns())
            self.next_send += self.period

    def read(self, latencies):
        try:
            chunk = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            sys.exit("a chatter was disconnected")
        now = time.monotonic_ns()
        self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            m = re.match(rb"c\d+: t(\d+)$", line)
            if m and latencies is not None:
                latencies.append((now - int(m.group(1))) / 1e6)


class Bench:
    def __init__(self, port, chatters, rate):
        self.port = port
        self.sel = selectors.DefaultSelector()
        self.joined = []  # sockets of joined users, swept for reading
        self.chatters = []
        self.latencies = None  # list while a phase records
        self.last_sweep = time.monotonic()
        self.cursor = 0
        self.n_chatters, self.rate = chatters, rate

    def start_chatters(self):
        for i in range(self.n_chatters):
            outcome, sock, _ = self.join_one(f"c{i}")
            if outcome != "joined":
                sys.exit(f"chatter c{i}: {outcome}")
            c = Chatter(sock, self.rate, i)
            self.chatters.append(c)
            self.sel.register(sock, selectors.EVENT_READ, c)

    def tick(self, timeout):
        """Runs the loop once: chatters, sweep, ready sockets; returns ready joiners' events."""
        now = time.monotonic()
        for c in self.chatters:
            c.send_due(now)
        # Read a slice of the joined users each tick, so that each is read
        # every SWEEP_EVERY and the chatters never wait for a whole sweep.
        share = len(self.joined) * (now - self.last_sweep) / SWEEP_EVERY
        if share >= 1:
            self.sweep(int(share))
            self.last_sweep = now
        out = []
        for key, _ in self.sel.select(timeout):
            if isinstance(key.data, Chatter):
                key.data.read(self.latencies)
            else:
                out.append(key.data)
        return out

    def sweep(self, count=None):
        """Reads `count` joined users (all when None) from the cursor on,
        and forgets those the server closed."""
        count = len(self.joined) if count is None else min(count, len(self.joined))
        for _ in range(count):
            if self.cursor >= len(self.joined):
                self.cursor = 0
            s = self.joined[self.cursor]
            try:
                while s.recv(1 << 16, socket.MSG_DONTWAIT):
                    pass
                closed = True  # end of stream: the server closed it
            except BlockingIOError:
                closed = False
            except OSError:
                closed = True
            if closed:
                s.close()
                self.joined[self.cursor] = self.joined[-1]
                self.joined.pop()
            else:
                self.cursor += 1

    def join_window(self, nicks, window, deadline):
        """Joins `nicks`, at most `window` in their handshake at once.

        Returns (outcomes: {outcome: count}, join times in s, end time)."""
        outcomes, times = {}, []
        pending = list(reversed(nicks))
        live = set()
        last_check = time.monotonic()
        while (pending or live) and time.monotonic() < deadline:
            if time.monotonic() - last_check > SWEEP_EVERY:
                last_check = time.monotonic()
                for j in [j for j in live if last_check - j.started > JOIN_TIMEOUT]:
                    self.sel.unregister(j.sock)
                    live.discard(j)
                    j.sock.close()
                    outcomes["timeout"] = outcomes.get("timeout", 0) + 1
            while pending and len(live) < window:
                j = Joiner(pending.pop(), self.port)
                if j.state == "refused":
                    outcomes["refused"] = outcomes.get("refused", 0) + 1
                    j.sock.close()
                    continue
                self.sel.register(j.sock, selectors.EVENT_READ, j)
                live.add(j)
            for j in self.tick(0.005):
                outcome = j.on_readable()
                if outcome is None:
                    continue
                self.sel.unregister(j.sock)
                live.discard(j)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                if outcome == "joined":
                    times.append(time.monotonic() - j.started)
                    self.joined.append(j.sock)
                else:
                    j.sock.close()
        if live or pending:
            outcomes["unfinished at the bound"] = len(live) + len(pending)
        return outcomes, times, time.monotonic()

    def join_one(self, nick, deadline=None):
        deadline = deadline or time.monotonic() + JOIN_TIMEOUT
        j = Joiner(nick, self.port)
        if j.state == "refused":
            return "refused", None, 0.0
        self.sel.register(j.sock, selectors.EVENT_READ, j)
        outcome = None
        while outcome is None and time.monotonic() < min(deadline, j.started + JOIN_TIMEOUT):
            for ready in self.tick(0.005):
                outcome = ready.on_readable() or outcome
        self.sel.unregister(j.sock)
        return outcome or "timeout", j.sock, time.monotonic() - j.started


def cpu_seconds(pid):
    """User plus system CPU time of a process so far, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(len(xs) * p / 100))], 2)


def run(opts):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    log_path = tempfile.mktemp(prefix="joins-server-", suffix=".log")
    extra = opts.server_args.split() if opts.server_args else []
    proc, port = start_server(opts.chat, opts.runtime, extra, log_path)
    result = {"runtime": opts.runtime, "scenario": opts.scenario,
              "nofile_client": hard, "load_start": round(os.getloadavg()[0], 2)}
    try:
        b = Bench(port, opts.chatters if opts.scenario != "idle" else 0, opts.rate)
        b.server_pid = proc.pid
        if opts.scenario == "seq":
            run_seq(b, opts, result)
        elif opts.scenario == "storm":
            b.start_chatters()
            b.latencies = []
            t0 = time.monotonic()
            cpu0 = cpu_seconds(proc.pid)
            outcomes, times, end = b.join_window(
                [f"u{i}" for i in range(opts.n)], opts.window, t0 + opts.seconds)
            result.update(storm_seconds=round(end - t0, 2), outcomes=outcomes,
                          server_cpu_s=round(cpu_seconds(proc.pid) - cpu0, 2),
                          join_p50_ms=pct([t * 1e3 for t in times], 50),
                          join_p99_ms=pct([t * 1e3 for t in times], 99),
                          join_max_ms=round(max(times, default=0) * 1e3, 2),
                          chat_lines=len(b.latencies),
                          chat_p50_ms=pct(b.latencies, 50), chat_p99_ms=pct(b.latencies, 99))
        else:
            t0 = time.monotonic()
            outcomes, times, end = b.join_window(
                [f"u{i}" for i in range(opts.n)], opts.window, t0 + opts.seconds)
            b.sweep()
            result.update(seconds=round(end - t0, 2), outcomes=outcomes,
                          still_connected=len(b.joined))
        result["load_end"] = round(os.getloadavg()[0], 2)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log = open(log_path).read().splitlines()
        result["server_limit_log"] = [l for l in log if "lowered" in l]
        os.unlink(log_path)
    return result


def run_seq(b, opts, result):
    t0 = time.monotonic()
    outcomes, _, end = b.join_window([f"u{i}" for i in range(opts.from_)], 64, t0 + opts.seconds)
    result["prefill"] = {"outcomes": outcomes, "seconds": round(end - t0, 2)}
    b.start_chatters()
    b.latencies = []
    t0 = time.monotonic()
    cpu0 = cpu_seconds(b.server_pid)
    deadline = t0 + opts.seconds
    marks, join_ms, failed = [], [], {}
    last = t0
    n = opts.from_
    while n < opts.to and time.monotonic() < deadline:
        outcome, sock, took = b.join_one(f"u{n}", deadline)
        if outcome != "joined":
            failed[outcome] = failed.get(outcome, 0) + 1
            if sock:
                sock.close()
            if outcome == "timeout":
                break
            continue
        b.joined.append(sock)
        join_ms.append(took * 1e3)
        n += 1
        if (n - opts.from_) % 1000 == 0:
            now = time.monotonic()
            marks.append({"users": n, "seconds": round(now - last, 2),
                          "join_p50_ms": pct(join_ms[-1000:], 50),
                          "join_p99_ms": pct(join_ms[-1000:], 99),
                          "join_max_ms": round(max(join_ms[-1000:]), 2),
                          "load": round(os.getloadavg()[0], 2)})
            last = now
            print(f"  {marks[-1]}", file=sys.stderr, flush=True)
    result.update(reached=n, total_seconds=round(time.monotonic() - t0, 2), per_1000=marks,
                  server_cpu_s=round(cpu_seconds(b.server_pid) - cpu0, 2),
                  failed=failed, chat_lines=len(b.latencies),
                  chat_p50_ms=pct(b.latencies, 50), chat_p99_ms=pct(b.latencies, 99))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--chat", default="target/release/chat")
    p.add_argument("--runtime", default="std", choices=["smol", "std"])
    p.add_argument("--server-args", default="", help="more `chat server` flags, one string")
    p.add_argument("--chatters", type=int, default=4)
    p.add_argument("--rate", type=float, default=2.0, help="lines a second per chatter")
    p.add_argument("--seconds", type=float, default=400, help="bound on the measured phase")
    sub = p.add_subparsers(dest="scenario", required=True)
    s = sub.add_parser("seq")
    s.add_argument("--from", dest="from_", type=int, default=3000)
    s.add_argument("--to", type=int, default=5000)
    for name, n in (("storm", 4000), ("idle", 10000)):
        s = sub.add_parser(name)
        s.add_argument("-n", type=int, default=n)
        s.add_argument("--window", type=int, default=64)
    opts = p.parse_args()
    print(json.dumps(run(opts)), flush=True)


if __name__ == "__main__":
    main()
