#!/usr/bin/env bash
# bench/cluster.sh: one server against two clustered servers (one Redis), same run,
# 3 rounds. Needs redis-server and redis-cli on PATH and a release build of chat.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=${CHAT:-$ROOT/target/release/chat}
cd "$(mktemp -d)"
SRV="--flood-rate 0 --max-clients 20000 --send-queue 16MiB"
redis-server --port 47300 --bind 127.0.0.1 --save '' --appendonly no --daemonize no > redis.log 2>&1 &
RP=$!; sleep 0.5
run() { # label, bench args...
  local label=$1; shift
  echo "## $label"; timeout 120 $B bench --json "$@" 2>/dev/null | python3 -c '
import json,sys
d=json.load(sys.stdin)
def f(l):
    return "null" if not l else "p50=%s p99=%s" % (l.get("p50"), l.get("p99"))
print("deliveries/s=%.0f lost=%s latency %s cross %s" % (d.get("deliveries_per_second",0), d.get("lost"), f(d.get("latency_us")), f(d.get("cross_server_latency_us"))))'
}
for round in 1 2 3; do
  $B server --port 47310 $SRV > s1.log 2>&1 & S1=$!
  $B server --port 47311 $SRV --cluster redis://127.0.0.1:47300 --room r$round > c1.log 2>&1 & C1=$!
  $B server --port 47312 $SRV --cluster redis://127.0.0.1:47300 --room r$round > c2.log 2>&1 & C2=$!
  sleep 1.5
  run "single fanout C=100 M=100" --port 47310 --clients 100 --messages 100 --size 64
  run "cluster fanout C=100 M=100" --port 47311,47312 --clients 100 --messages 100 --size 64
  run "single rate C=100 10/s" --port 47310 --clients 100 --messages 50 --rate 10 --size 64
  run "cluster rate C=100 10/s" --port 47311,47312 --clients 100 --messages 50 --rate 10 --size 64
  kill $S1 $C1 $C2; wait $S1 $C1 $C2 2>/dev/null
  $B server --port 47310 $SRV > s1.log 2>&1 & S1=$!
  $B server --port 47311 $SRV --cluster redis://127.0.0.1:47300 --room q$round > c1.log 2>&1 & C1=$!
  $B server --port 47312 $SRV --cluster redis://127.0.0.1:47300 --room q$round > c2.log 2>&1 & C2=$!
  sleep 1.5
  run "single fanout C=1000 M=10" --port 47310 --clients 1000 --messages 10 --size 64
  run "cluster fanout C=1000 M=10" --port 47311,47312 --clients 1000 --messages 10 --size 64
  kill $S1 $C1 $C2; wait $S1 $C1 $C2 2>/dev/null
done
redis-cli -p 47300 info commandstats | grep -E "xadd|xread|evalsha|eval" 
redis-cli -p 47300 info memory | grep used_memory_human
kill $RP
