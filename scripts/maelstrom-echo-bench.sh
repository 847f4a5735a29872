#!/usr/bin/env bash
# Messages per second through a bridged Maelstrom program against the built-in transport, in one
# run of this script: the same experiment (3 servers, 2 closed-loop echo clients, direct TCP) once
# with tests/maelstrom/echo.py as every server's program and once with the Rust stand-in inside
# the node, one after the other; prints both and their ratio, with the load average.
#
#   scripts/maelstrom-echo-bench.sh [SECONDS]     (ORCH: the orchestrator binary, as in lib.sh)
set -eu
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for candidate in ${ORCH:-} target/release/orchestrator target/debug/orchestrator; do
  if [ -x "$candidate" ]; then ORCH=$candidate; break; fi
done
SECONDS_RUN=${1:-5}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
experiment() { # $1: the [params] section
  printf 'algorithm = "maelstrom"\nnodes = 3\nduration = "%ss"\n%s\n[workload]\nmaelstrom = "echo"\nclients = 2\n' \
    "$SECONDS_RUN" "$1"
}
experiment '[params]
command = ["python3", "tests/maelstrom/echo.py"]
init_timeout_ms = 20000' >"$DIR/bridged.toml"
experiment '' >"$DIR/builtin.toml"
for which in bridged builtin; do
  "$ORCH" run "$DIR/$which.toml" --net direct --out "$DIR/runs-$which" >"$DIR/$which.out" 2>&1 || {
    echo "the $which run failed:"; tail -20 "$DIR/$which.out"; exit 1; }
done
python3 - "$DIR" "$SECONDS_RUN" <<'PY'
import json, os, sys
d, secs = sys.argv[1], float(sys.argv[2])
def figures(which):
    root = os.path.join(d, f"runs-{which}")
    run = sorted(x for x in os.listdir(root) if x != "latest")[-1]
    s = json.load(open(os.path.join(root, run, "summary.json")))
    m = s["metrics"]
    ok = m["operations_ok"]["value"] if isinstance(m["operations_ok"], dict) else m["operations_ok"]
    lat = m["latency_ms"]
    p50 = lat.get("p50") if isinstance(lat, dict) else None
    return s["messages"]["total"] / secs, ok, p50, s["verdict"]
b, n = figures("bridged"), figures("builtin")
for name, (rate, ok, p50, verdict) in (("bridged (echo.py)", b), ("built-in (stand-in)", n)):
    print(f"{name:<20} {rate:8.0f} msgs/s  {ok:6} echoes ok  p50 {p50} ms  {verdict}")
print(f"ratio bridged/built-in: {b[0] / n[0]:.2f}")
print("load average:", open("/proc/loadavg").read().split()[:3])
PY
