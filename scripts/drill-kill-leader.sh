#!/usr/bin/env bash
# Kill the leader with SIGKILL and expect the survivors to agree on a new one within 5 s.
source "$(dirname "$0")/lib.sh"
start_cluster
old=$(await_leader "" 5) || verdict fail "no leader after start-up"
orch kill "$old" >/dev/null || verdict fail "could not kill node $old"
t0=$SECONDS
new=$(await_leader "$old" 5) || verdict fail "no new leader within 5 s after killing leader $old"
verdict pass "leader $old killed, node $new leads now (within $((SECONDS - t0 + 1)) s)"
