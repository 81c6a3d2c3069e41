"""bench/compare.sh's table: an old and a new build's runs, side by side.

Reads the JSON lines bench/lib.sh's measure_once wrote (with "case",
"runtime", "build" = old|new and "run") and prints, per runtime and case,
each figure's median and spread (min-max) for both builds, the ratio of the
medians new/old, and whether the two spreads overlap.

Usage: compare.py --results FILE --old NAME --new NAME --runs N
                  --load-start L --load-end L --seconds S [--server-args A]
"""

import argparse
import json
import statistics


def cpu_per_delivery(line):
    """Server CPU (user + system, joins included) per delivery, in µs."""
    cpu, received = line.get("server_cpu_seconds"), line["result"]["received"]
    return cpu * 1e6 / received if cpu is not None and received else None


def latency(key):
    return lambda line: (line["result"]["latency_us"] or {}).get(key)


def rss_per_connection(line):
    rss = line["result"]["server_rss_kib"] or {}
    per = rss.get("per_connection_bytes")
    return None if per is None else per / 1024


# Per kind of case: (figure, how to read it from a run, unit, higher is better).
FIGURES = {
    "fanout": [
        ("deliveries/s", lambda l: l["result"]["deliveries_per_second"], "M/s", True),
        ("p99 latency", latency("p99"), "ms", False),
        ("server CPU per delivery", cpu_per_delivery, "µs", False),
    ],
    "rate": [
        ("p50 latency", latency("p50"), "µs", False),
        ("p99 latency", latency("p99"), "µs", False),
        ("server CPU per delivery", cpu_per_delivery, "µs", False),
    ],
    "idle": [
        ("join time", lambda l: l["result"]["join_seconds"], "s", False),
        ("RSS per connection", rss_per_connection, "KiB", False),
    ],
}
SCALE = {"M/s": 1e-6, "ms": 1e-3, "µs": 1, "s": 1, "KiB": 1}


def fmt(value, unit):
    v = value * SCALE[unit]
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"


def failed(line):
    """Why a run does not count, or None: failed, timed out, or lost lines."""
    if "error" in line:
        return "failed: " + line["error"][:200]
    r = line["result"]
    if r["joined"] < r["clients"]:
        return f"{r['joined']}/{r['clients']} joined"
    if r["drain_end"] == "timeout":
        return "the drain hit its timeout"
    if r["lost"] or r["duplicated"]:
        return f"{r['lost']} lost, {r['duplicated']} duplicated"
    return None


def main():
    p = argparse.ArgumentParser()
    for flag in ("results", "old", "new", "load-start", "load-end", "server-args"):
        p.add_argument("--" + flag, default="")
    p.add_argument("--runs", type=int, required=True)
    p.add_argument("--seconds", type=int, required=True)
    a = p.parse_args()
    lines = [json.loads(l) for l in open(a.results) if l.strip()]

    print(f"old: {a.old}")
    print(f"new: {a.new}")
    print(f"{a.runs} run(s) per build, alternating old and new, a fresh server each; "
          f"server flags: --flood-rate 0 --max-clients 20000 {a.server_args}".rstrip())
    print(f"load average (1, 5, 15 min) at the start: {a.load_start}; at the end: {a.load_end}; "
          f"{a.seconds} s of load")
    print("A figure is the median of the runs, (min-max) their spread; ratio = new/old medians;")
    print("'within spread' when the two spreads overlap (no change shown), else which way it moved.")
    problems = []
    groups = {}
    for line in lines:
        groups.setdefault((line["runtime"], line["case"]), []).append(line)
        why = failed(line)
        if why:
            problems.append(f"{line['runtime']} {line['case']} {line['build']} run {line['run']}: {why}")
    for (runtime, case), runs in groups.items():
        kind = case.split("-")[0]
        print()
        print(f"## {runtime}, {case}")
        print()
        print("| figure | old | new | new/old | |")
        print("| --- | --- | --- | --- | --- |")
        for figure, read, unit, higher_better in FIGURES[kind]:
            values = {}
            for build in ("old", "new"):
                values[build] = [v for v in (read(l) for l in runs
                                             if l["build"] == build and "error" not in l)
                                 if v is not None]
            old, new = values["old"], values["new"]
            if not old or not new:
                print(f"| {figure} ({unit}) | {len(old)} runs | {len(new)} runs | | |")
                continue
            mo, mn = statistics.median(old), statistics.median(new)
            ratio = mn / mo if mo else float("nan")
            if len(old) < 2 or len(new) < 2:
                verdict = "one run: no spread"
            elif min(new) > max(old):
                verdict = "better" if higher_better else "worse"
            elif max(new) < min(old):
                verdict = "worse" if higher_better else "better"
            else:
                verdict = "within spread"
            cell = lambda vs, m: f"{fmt(m, unit)} ({fmt(min(vs), unit)}–{fmt(max(vs), unit)})"
            print(f"| {figure} ({unit}) | {cell(old, mo)} | {cell(new, mn)} | {ratio:.2f}× | {verdict} |")
    if problems:
        print()
        print("Runs that failed, timed out or lost lines (their figures are still counted above")
        print("when the bench reported them):")
        for why in problems:
            print(f"- {why}")


if __name__ == "__main__":
    main()
