"""One `chat bench --json` line, digested for bench/run.sh.

Usage: digest.py summary JSON    prints a one-line summary for the log
       digest.py timed-out JSON  exits 0 when the run hit a timeout (not
                                 everyone joined, or the drain hit --timeout)
"""

import json
import sys


def main():
    mode, line = sys.argv[1], sys.argv[2]
    r = json.loads(line)
    if mode == "timed-out":
        sys.exit(0 if r["joined"] < r["clients"] or r["drain_end"] == "timeout" else 1)
    lat = r["latency_us"] or {}
    print(
        f"joined {r['joined']}/{r['clients']} in {r['join_seconds'] or 0:.2f} s, "
        f"{r['received']}/{r['expected']} delivered ({r['lost']} lost, {r['duplicated']} dup), "
        f"{r['deliveries_per_second']:.0f}/s, p99 {lat.get('p99', 0):.0f} us, drain {r['drain_end']}"
    )


if __name__ == "__main__":
    main()
