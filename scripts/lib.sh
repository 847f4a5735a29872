# Shared helpers for the failure drills. Source it; then `start_cluster`, act, `verdict`.
#
# Environment:
#   ORCH    the orchestrator binary (default: target/release, then target/debug, then PATH)
#   CONFIG  the experiment file (default: configs/bully.toml)
#   NODES   cluster size (default: 5)
#   OUT     where run directories go (default: runs/drills)
#   NET     network mode: proxy (default), iptables (root only) or direct
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ -z "${ORCH:-}" ]; then
  for candidate in target/release/orchestrator target/debug/orchestrator "$(command -v orchestrator || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then ORCH=$candidate; break; fi
  done
fi
[ -n "${ORCH:-}" ] || { echo "FAIL: no orchestrator binary (build with: cargo build --release)"; exit 1; }
CONFIG=${CONFIG:-configs/bully.toml}
NODES=${NODES:-5}
OUT=${OUT:-runs/drills}
NET=${NET:-proxy}
DRILL=$(basename "$0" .sh)
RUN=""

orch() { "$ORCH" "$@" --run "$RUN"; }

# Starts the cluster in the background and stops it whatever happens to the drill.
start_cluster() {
  local line
  line=$("$ORCH" up "$CONFIG" --nodes "$NODES" --out "$OUT" --net "$NET" --detach) || {
    echo "FAIL $DRILL: the cluster did not come up"; exit 1; }
  RUN=${line##*run directory: }
  trap 'stop_cluster' EXIT
}

stop_cluster() {
  if [ -n "$RUN" ]; then "$ORCH" down --run "$RUN" >"$RUN.down.txt" 2>&1 || true; RUN=""; fi
}

# The leader every running node agrees on, or "none".
leader() { "$ORCH" status --leader --run "$RUN" 2>/dev/null || echo none; }

# Waits up to $2 seconds for a unanimous leader other than $1 ("" for any); prints it.
await_leader() {
  local not=$1 deadline=$((SECONDS + $2)) l
  while [ $SECONDS -le $deadline ]; do
    l=$(leader)
    if [ "$l" != none ] && [ "$l" != "$not" ]; then echo "$l"; return 0; fi
    sleep 0.1
  done
  echo none; return 1
}

# Prints the one-line verdict and exits 0 (pass) or 1 (fail).
verdict() {
  if [ "$1" = pass ]; then echo "PASS $DRILL: $2"; exit 0; else echo "FAIL $DRILL: $2"; exit 1; fi
}
