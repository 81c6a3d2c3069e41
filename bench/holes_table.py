"""Tables (median [min-max] of the runs) from bench/holes.sh's output.

Usage: python3 bench/holes_table.py RESULTS...
"""

import json
import statistics
import sys


def spread(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    med = statistics.median(xs)
    return f"{med:g} [{min(xs):g}-{max(xs):g}]"


def main():
    rows, loads = {}, {}
    for path in sys.argv[1:]:
        for line in open(path):
            if line.startswith("#"):
                load = line.split("load average:")[-1].split(",")[0].strip()
                case = line[2:].split("|")[0].split(" run ")[0].strip()
                loads.setdefault(case, []).append(load)
                continue
            r = json.loads(line)
            if "send_queue" in r:
                key = ("stall", r["runtime"], r["send_queue"])
            else:
                key = (r["scenario"], r["runtime"])
            rows.setdefault(key, []).append(r)
    for key, rs in sorted(rows.items()):
        case = " ".join(key)
        print(f"## {case}: {len(rs)} runs, load at start {', '.join(loads.get(case, []))}")
        if key[0] == "stall":
            print("  dropped after s:", spread([r["dropped_after_s"] for r in rs]),
                  "| not dropped:", sum(r["dropped_after_s"] is None for r in rs))
            print("  lines sent:", spread([r["lines_sent"] for r in rs]),
                  "| of which the kernel took:", spread([r["lines_into_kernel"] for r in rs]))
            print("  VmRSS peak above baseline KiB:", spread([r["rss_peak_above_baseline_kib"] for r in rs]),
                  "| RssAnon peak above baseline KiB:",
                  spread([r.get("anon_peak_above_baseline_kib") for r in rs]),
                  "| bound KiB:", rs[0]["bound_kib"])
            print("  VmRSS baseline KiB:", spread([r["rss_baseline_kib"] for r in rs]))
        elif key[0] == "seq":
            print("  reached:", spread([r["reached"] for r in rs]),
                  "| total s:", spread([r["total_seconds"] for r in rs]))
            for i in range(max(len(r["per_1000"]) for r in rs)):
                marks = [r["per_1000"][i] for r in rs if len(r["per_1000"]) > i]
                print(f"  to {marks[0]['users']}: s", spread([m["seconds"] for m in marks]),
                      "| join p50 ms", spread([m["join_p50_ms"] for m in marks]),
                      "| join p99 ms", spread([m["join_p99_ms"] for m in marks]))
            print("  chat p50 ms:", spread([r["chat_p50_ms"] for r in rs]),
                  "| chat p99 ms:", spread([r["chat_p99_ms"] for r in rs]),
                  "| lines:", spread([r["chat_lines"] for r in rs]))
        elif key[0] == "storm":
            print("  storm s:", spread([r["storm_seconds"] for r in rs]),
                  "| outcomes:", [r["outcomes"] for r in rs])
            print("  join p50 ms:", spread([r["join_p50_ms"] for r in rs]),
                  "| join p99 ms:", spread([r["join_p99_ms"] for r in rs]))
            print("  chat p50 ms:", spread([r["chat_p50_ms"] for r in rs]),
                  "| chat p99 ms:", spread([r["chat_p99_ms"] for r in rs]),
                  "| lines:", spread([r["chat_lines"] for r in rs]))
        else:
            print("  s:", spread([r["seconds"] for r in rs]), "| outcomes:", [r["outcomes"] for r in rs])
            logs = {l.split("WARN", 1)[-1] for r in rs for l in r["server_limit_log"]}
            for l in logs:
                print("  log: WARN" + l)


if __name__ == "__main__":
    main()
