#!/usr/bin/env bash
# A flapping network: random halves partitioned and healed in a loop; after the last heal the
# cluster must converge on one leader within 5 s.
source "$(dirname "$0")/lib.sh"
FLAPS=${FLAPS:-6}
start_cluster
await_leader "" 5 >/dev/null || verdict fail "no leader after start-up"
for _ in $(seq "$FLAPS"); do
  orch partition random-halves >/dev/null || verdict fail "could not partition"
  sleep 0.3
  orch heal >/dev/null || verdict fail "could not heal"
  sleep 0.2
done
t0=$SECONDS
final=$(await_leader "" 5) || verdict fail "no agreement within 5 s after $FLAPS flaps"
verdict pass "$FLAPS partition/heal flaps, then all agree on leader $final (within $((SECONDS - t0 + 1)) s)"
