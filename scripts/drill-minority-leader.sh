#!/usr/bin/env bash
# Isolate the leader in a minority of one: the majority must elect a leader of its own; after
# the heal everybody must agree on one leader again (the old one stepped down or took over).
source "$(dirname "$0")/lib.sh"
start_cluster
old=$(await_leader "" 5) || verdict fail "no leader after start-up"
orch partition "isolate:$old" >/dev/null || verdict fail "could not isolate node $old"
deadline=$((SECONDS + 5)); majority=none
while [ $SECONDS -le $deadline ]; do
  # The leaders named by every running node except the isolated one.
  named=$(orch status --views | awk -v old="$old" '$1 != old && $2 == "up" { print $3 }' | sort -u)
  if [ "$(echo "$named" | wc -l)" -eq 1 ] && [ "$named" != none ] && [ "$named" != "$old" ]; then
    majority=$named; break
  fi
  sleep 0.1
done
[ "$majority" != none ] || verdict fail "the majority did not agree on a new leader within 5 s of isolating $old"
orch heal >/dev/null || verdict fail "could not heal"
after=$(await_leader "" 5) || verdict fail "no agreement on one leader within 5 s after the heal"
verdict pass "leader $old isolated, majority elected $majority, after the heal all follow $after"
