"""Writes docs/performance.md from bench/run.sh's results (called by run.sh).

Input: one JSON line per `chat bench` run ({"row", "server", "run", "result"
or "error"}) and criterion's output directory. Output: the whole file. The
blocks this script generates sit between `<!-- bench/run.sh:begin NAME -->`
and `<!-- bench/run.sh:end NAME -->` markers; everything else in the existing
file (the hand-written "Core micro-benchmarks" section, for one) is kept as
it is, and the core figures of this run are put at the end of that section.
"""

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
from collections import defaultdict

SERVERS = ["smol", "std", "seed"]
SERVER_NAMES = {
    "smol": "`chat server --runtime smol`",
    "std": "`chat server --runtime std`",
    "seed": "seed (Python)",
}
FANOUT_ROWS = [("fanout-10x1000", 10, 1000), ("fanout-100x100", 100, 100), ("fanout-1000x10", 1000, 10)]
IDLE_ROWS = [("idle-1000", 1000), ("idle-5000", 5000), ("idle-15000", 15000)]
MARK = "<!-- bench/run.sh:{} {} -->"


def args():
    p = argparse.ArgumentParser()
    p.add_argument("--results", required=True)
    p.add_argument("--criterion", required=True)
    p.add_argument("--core-status", default="ok")
    p.add_argument("--out", required=True)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--quick", default="0")
    p.add_argument("--started", default="")
    p.add_argument("--load-start", default="")
    p.add_argument("--load-end", default="")
    p.add_argument("--load-seconds", default="")
    p.add_argument("--server-args", default="")
    return p.parse_args()


def load_results(path):
    runs = defaultdict(list)
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                r = json.loads(line)
                runs[(r["row"], r["server"])].append(r)
    return runs


# ---- formatting ----------------------------------------------------------

def rate(x):
    if x is None:
        return "-"
    if x >= 1e6:
        return f"{x / 1e6:.2f} M/s"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k/s"
    return f"{x:.0f}/s"


def micros(us):
    if us is None:
        return "-"
    if us >= 1e6:
        return f"{us / 1e6:.2f} s"
    if us >= 10_000:
        return f"{us / 1e3:.1f} ms"
    return f"{us:.0f} µs"


def secs(s):
    return "-" if s is None else f"{s:.3f} s" if s < 10 else f"{s:.1f} s"


def ratio(ours, seed):
    if ours is None or seed is None or seed == 0:
        return "n/a"
    return f"{ours / seed:.2f}×"


def nsfmt(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


# ---- reading runs --------------------------------------------------------

def ok_results(runs):
    return [r["result"] for r in runs if "result" in r]


def median_of(results, key):
    values = [v for v in (key(r) for r in results) if v is not None]
    return statistics.median(values) if values else None


def lat(key):
    return lambda r: (r["latency_us"] or {}).get(key)


def rss_per_conn(r):
    rss = r.get("server_rss_kib")
    return rss and rss.get("per_connection_bytes")


def complete(r):
    return r["joined"] == r["clients"] and r["lost"] == 0 and r["drain_end"] == "complete"


def notes(runs):
    """What went wrong in these runs, briefly."""
    out = []
    for r in runs:
        if "error" in r:
            out.append(f"run {r['run']} failed: {r['error'][:120]}")
            continue
        x = r["result"]
        bits = []
        if x["joined"] < x["clients"]:
            bits.append(f"{x['joined']}/{x['clients']} joined ({x['join_failure']})")
        if x["closed_early"]:
            n = x["closed_early"]
            bits.append(f"{n} connection{'' if n == 1 else 's'} closed by the server")
        if x["malformed"]:
            bits.append(f"{x['malformed']} garbled payloads")
        if x["drain_end"] != "complete":
            bits.append(f"drain ended: {x['drain_end'].replace('_', ' ')}"
                        f" after {x['waited_seconds']:.1f} s")
        if bits:
            out.append(f"run {r['run']}: " + ", ".join(bits))
    return out


def per_run(runs, key):
    vals = []
    for r in runs:
        vals.append("err" if "error" in r else str(key(r["result"])))
    return " · ".join(vals) if vals else "-"


# ---- sections ------------------------------------------------------------

def header(a, runs_total):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()
    pyver = platform.python_version()
    quick = a.quick == "1"
    lines = [
        "Figures from one run of `bench/run.sh`"
        + (" **in --quick mode (one run per figure, a smaller matrix): for development, not for comparison**" if quick else "")
        + ".",
        "",
        f"- Date: {a.started} (UTC). Load matrix: {a.load_seconds} s.",
        f"- Machine: {os.cpu_count()} CPUs (`nproc`), {cpu}; Linux {platform.release()}; {rustc}; Python {pyver} for the seed.",
        f"- Load average (1, 5, 15 min) at the start: {a.load_start}; at the end: {a.load_end}. "
        "The machine is shared with other work: figures move between runs, compare within one run.",
        f"- Every figure is the median of {a.runs} run(s), each against a fresh server; a run that hit its timeout was not repeated. "
        "`chat bench` and the server share the 2 cores.",
        "- Ratios are ours ÷ the seed's, measured in the same run: above 1 is better for deliveries/s; below 1 is better for times, latencies and memory.",
        "",
        "Reproduce:",
        "",
        "```sh",
        "bench/run.sh              # the whole matrix, about 7 minutes; writes this file",
        "bench/run.sh --quick      # one run each, smaller matrix (development)",
        "# one figure by hand:",
        "cargo build --release -p chat-cli",
        f"target/release/chat server --port 0 --runtime smol --flood-rate 0 --max-clients 20000 {a.server_args}".rstrip() + "  # prints the port",
        "target/release/chat bench --port PORT --clients 100 --messages 100 --size 64 --server-pid PID",
        "target/release/chat bench --port PORT --clients 100 --messages 100 --rate 10",
        "target/release/chat bench --port PORT --scenario idle --clients 5000 --server-pid PID",
        "python3 bench/seed_server.py 0   # the seed; then chat bench ... --dialect seed",
        "```",
    ]
    if a.server_args:
        lines.insert(6, f"- Extra server flags: `{a.server_args}`.")
    return "\n".join(lines)


def fanout_section(runs):
    out = [
        "### Fanout at full speed (S = 64 B)",
        "",
        "Every client joins, then (after a barrier: everyone joined) sends M messages as fast as its socket takes them; "
        "every message goes to every client, the sender included: C × M × C deliveries. Deliveries/s counts distinct "
        "deliveries from the go to the last one received. Latency is receive time minus the send timestamp in the "
        "payload: at full speed it is mostly queueing behind the burst.",
        "",
        "| C × M | server | deliveries/s | × seed | lost per run | dup · out of order | p50 | p99 | to last delivery |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    problems = []
    for row, c, m in FANOUT_ROWS:
        seed = ok_results(runs.get((row, "seed"), []))
        seed_dps = median_of(seed, lambda r: r["deliveries_per_second"])
        for server in SERVERS:
            rs = runs.get((row, server), [])
            if not rs:
                continue
            res = ok_results(rs)
            dps = median_of(res, lambda r: r["deliveries_per_second"])
            dup = sum(r["duplicated"] for r in res)
            ooo = sum(r["out_of_order"] for r in res)
            out.append(
                f"| {c} × {m} | {SERVER_NAMES[server]} | {rate(dps)} | "
                f"{'—' if server == 'seed' else ratio(dps, seed_dps)} | {per_run(rs, lambda r: r['lost'])} | "
                f"{dup} · {ooo} | {micros(median_of(res, lat('p50')))} | {micros(median_of(res, lat('p99')))} | "
                f"{secs(median_of(res, lambda r: r['elapsed_seconds']))} |")
            problems += [f"{c} × {m}, {server}: {n}" for n in notes(rs)]
    return out + notes_block(problems)


def rate_section(runs):
    rs_any = next((ok_results(runs[k]) for k in runs if k[0] == "rate-100x10" and ok_results(runs[k])), [])
    m = rs_any[0]["messages"] if rs_any else 100
    out = [
        f"### Latency at a fixed rate (C = 100, 10 msgs/s each, {m / 10:.0f} s)",
        "",
        "Each client sends one message every 100 ms, the clients spread evenly over the interval (1 000 messages/s, "
        "100 000 deliveries/s in all). Latency is per delivery, send to receive, over all of them.",
        "",
        "| server | p50 | p90 | p99 | p99.9 | max | p99 × seed | lost per run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    seed = ok_results(runs.get(("rate-100x10", "seed"), []))
    seed_p99 = median_of(seed, lat("p99"))
    problems = []
    for server in SERVERS:
        rs = runs.get(("rate-100x10", server), [])
        if not rs:
            continue
        res = ok_results(rs)
        p99 = median_of(res, lat("p99"))
        out.append(
            f"| {SERVER_NAMES[server]} | {micros(median_of(res, lat('p50')))} | {micros(median_of(res, lat('p90')))} | "
            f"{micros(p99)} | {micros(median_of(res, lat('p99_9')))} | {micros(median_of(res, lat('max')))} | "
            f"{'—' if server == 'seed' else ratio(p99, seed_p99)} | {per_run(rs, lambda r: r['lost'])} |")
        problems += [f"{server}: {n}" for n in notes(rs)]
    return out + notes_block(problems)


def idle_section(runs):
    out = [
        "### Idle clients: join time and memory",
        "",
        "C clients join (at most 100 in the handshake at once, so no accept backlog overflows) and stay. Join time is "
        "from the first connect to the last confirmed join (`You are connected to the server!`; for the seed, its join "
        "notice). RSS per connection is the server's VmRSS growth from before the first connect to all joined, divided "
        "by the clients joined. Then one probe message goes to everyone: delivered shows the server still serves them all.",
        "",
        "| clients | server | joined (min) | join time | × seed | RSS per connection | × seed | probe delivered |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    problems = []
    for row, n in IDLE_ROWS:
        seed = ok_results(runs.get((row, "seed"), []))
        seed_complete = bool(seed) and all(r["joined"] == r["clients"] for r in seed)
        seed_join = median_of(seed, lambda r: r["join_seconds"]) if seed_complete else None
        seed_rss = median_of(seed, rss_per_conn) if seed_complete else None
        for server in SERVERS:
            rs = runs.get((row, server), [])
            if not rs:
                continue
            res = ok_results(rs)
            joined = min((r["joined"] for r in res), default=0)
            join = median_of(res, lambda r: r["join_seconds"])
            rss = median_of(res, rss_per_conn)
            delivered = min((r["received"] for r in res), default=0)
            timeout = "" if all(r["joined"] == r["clients"] for r in res) else " (timeout)"
            if server == "seed":
                jr = rr = "—"
            elif seed_complete:
                jr, rr = ratio(join, seed_join), ratio(rss, seed_rss)
            else:
                jr = rr = "seed incomplete"
            out.append(
                f"| {n} | {SERVER_NAMES[server]} | {joined}/{n} | {secs(join)}{timeout} | {jr} | "
                f"{'-' if rss is None else f'{rss / 1024:.1f} KiB'} | {rr} | {delivered}/{n} |")
            problems += [f"{n} clients, {server}: {x}" for x in notes(rs)]
    return out + notes_block(problems)


def notes_block(problems):
    if not problems:
        return [""]
    return ["", "What went wrong:", ""] + [f"- {p}" for p in problems] + [""]


def targets_section(runs):
    def res(row, server):
        return ok_results(runs.get((row, server), []))

    def dps(row, server):
        return median_of(res(row, server), lambda r: r["deliveries_per_second"])

    def clean(row, server):
        rs = res(row, server)
        return bool(rs) and all(complete(r) and r["duplicated"] == 0 for r in rs)

    lines = ["### Targets (smol runtime unless said)", ""]

    def target(text, met, figure):
        verdict = "n/a" if met is None else ("**met**" if met else "**not met**")
        lines.append(f"- {text}: {verdict} ({figure})")

    for row, c, m, goal in [("fanout-10x1000", 10, 1000, 2.5e6), ("fanout-100x100", 100, 100, 4e6), ("fanout-1000x10", 1000, 10, 4e6)]:
        ours, seed = dps(row, "smol"), dps(row, "seed")
        if ours is None:
            target(f"fanout C={c}: ≥ {goal / 1e6:g} M deliveries/s, ≥ 2× seed, none lost or duplicated", None, "not measured")
            continue
        met = ours >= goal and seed is not None and ours >= 2 * seed and clean(row, "smol")
        target(f"fanout C={c}: ≥ {goal / 1e6:g} M deliveries/s, ≥ 2× seed, none lost or duplicated", met,
               f"{rate(ours)}, {ratio(ours, seed)} seed, {'clean' if clean(row, 'smol') else 'losses or duplicates'}")
    p99 = median_of(res("rate-100x10", "smol"), lat("p99"))
    target("C=100 × 10 msgs/s: p99 < 1 ms", None if p99 is None else p99 < 1000, f"p99 {micros(p99)}")
    r5 = res("idle-5000", "smol")
    j5 = median_of(r5, lambda r: r["join_seconds"]) if r5 and all(r["joined"] == 5000 for r in r5) else None
    target("5 000 clients joined in ≤ 2 s", None if not r5 else (j5 is not None and j5 <= 2),
           "not measured" if not r5 else f"{secs(j5)}" if j5 is not None else "not all joined")
    rss_rows = r5 or res("idle-1000", "smol")
    rss = median_of(rss_rows, rss_per_conn)
    target("≤ 4 KiB RSS per idle connection", None if rss is None else rss <= 4096,
           "not measured" if rss is None else f"{rss / 1024:.1f} KiB")
    r15 = res("idle-15000", "smol")
    held = bool(r15) and all(r["joined"] == 15000 and r["received"] == 15000 for r in r15)
    target("15 000 concurrent clients held and served", None if not r15 else held,
           "not measured" if not r15 else
           f"{min(r['joined'] for r in r15)} joined, probe delivered to {min(r['received'] for r in r15)}")
    std100 = dps("fanout-100x100", "std")
    target("std: ≥ 1 M deliveries/s at C=100", None if std100 is None else std100 >= 1e6, rate(std100))
    std1000 = res("fanout-1000x10", "std")
    target("std: 1 000 clients served", None if not std1000 else clean("fanout-1000x10", "std"),
           "not measured" if not std1000 else
           f"{min(r['joined'] for r in std1000)} joined, {max(r['lost'] for r in std1000)} lost at most")
    lines.append("")
    return lines


def load_block(a, runs):
    body = [header(a, runs), "", "## Load: `chat bench` against the servers", ""]
    body += fanout_section(runs)
    body += rate_section(runs)
    body += idle_section(runs)
    body += targets_section(runs)
    return wrap("load", "\n".join(body))


def core_block(a):
    rows = []
    for dirpath, _, files in os.walk(a.criterion):
        if os.path.basename(dirpath) == "new" and "benchmark.json" in files and "estimates.json" in files:
            with open(os.path.join(dirpath, "benchmark.json")) as f:
                bench = json.load(f)
            with open(os.path.join(dirpath, "estimates.json")) as f:
                est = json.load(f)
            median = est["median"]["point_estimate"]
            tp = bench.get("throughput") or {}
            per = "-"
            if "Elements" in tp and tp["Elements"]:
                per = f"{nsfmt(median / tp['Elements'])} / element"
            elif "Bytes" in tp and tp["Bytes"]:
                per = f"{tp['Bytes'] / (median / 1e9) / 2**20:.0f} MiB/s"
            rows.append((bench["full_id"], median, per))
    rows.sort(key=lambda r: natural(r[0]))
    body = ["### Figures from the last `bench/run.sh`", ""]
    if a.core_status != "ok" or not rows:
        body.append("The core micro-benchmark did not run to the end this time (see `target/bench/core.txt`).")
    else:
        body += [
            f"`cargo bench -p chat-tests --bench core{' -- --quick' if a.quick == '1' else ''}`, "
            f"in the same run as the load figures above (load average {a.load_end} at the end); criterion's median.",
            "",
            "| benchmark | median | per element or throughput |",
            "| --- | --- | --- |",
        ]
        body += [f"| `{name}` | {nsfmt(median)} | {per} |" for name, median, per in rows]
    return wrap("core", "\n".join(body))


def natural(s):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def wrap(name, text):
    return f"{MARK.format('begin', name)}\n{text}\n{MARK.format('end', name)}"


def strip_generated(text):
    return re.sub(r"<!-- bench/run\.sh:begin (\w+) -->.*?<!-- bench/run\.sh:end \1 -->\n?", "", text, flags=re.S)


def compose(existing, load, core):
    rest = strip_generated(existing)
    rest = re.sub(r"\A\s*# Performance[^\n]*\n", "", rest).strip("\n")
    heading = "## Core micro-benchmarks"
    if heading in rest:
        start = rest.index(heading)
        nxt = rest.find("\n## ", start + len(heading))
        end = len(rest) if nxt < 0 else nxt
        section = rest[start:end].rstrip("\n")
        rest = rest[:start] + section + "\n\n" + core + "\n" + rest[end:]
    else:
        rest = (rest + "\n\n" if rest else "") + heading + "\n\n" + core + "\n"
    return "# Performance\n\n" + load + "\n\n" + rest.strip("\n") + "\n"


def main():
    a = args()
    runs = load_results(a.results)
    existing = ""
    if os.path.exists(a.out):
        with open(a.out) as f:
            existing = f.read()
    text = compose(existing, load_block(a, runs), core_block(a))
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
