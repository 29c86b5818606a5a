#!/bin/bash
# SPDX-License-Identifier: MIT
# A second unmodified program under the pair (issue 13), to show the
# process backend is not redis-specific: Debian's memcached with one
# worker thread, over TLS. memcached is several threads (worker, logger,
# LRU maintainer, crawler...) talking through an eventfd and libevent's
# pipes, and its threads' start makes its fd numbers differ from run to
# run: the first checkpoint renumbers the SVM's to the PVM's. Keys set
# through the primary (memcached's text protocol, mc-client.py), a missing
# key, incr, delete; checkpoints and verify; a connection kept across
# checkpoints; then kill -9 of the primary, and every key the client got
# STORED for is served by the promoted secondary.
source "$(dirname "$0")/lib.sh"

MEMCACHED=/usr/bin/memcached
if [[ ! -x $MEMCACHED ]]; then
	echo "SKIP: memcached not installed (apt-get install memcached)"
	exit 77
fi
require_dirtylog
MC="python3 $SRC/tests/integration/mc-client.py"

# One worker thread, no UDP, loopback; as root memcached wants -u.
PROG=(--exec-port 11211 --exec "$MEMCACHED" -t 1 -p 11211 -U 0 -l 127.0.0.1
      -u root)
SPORT=$(free_port); PPORT=$(free_port); RPORT=$(free_port)
PSOCK=$T/primary.sock; SSOCK=$T/secondary.sock
gen_creds "$T/creds"
start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$SSOCK" \
	--tls-creds "$T/creds" "${PROG[@]}"
start primary "$PRIMARY" --service "127.0.0.1:$PPORT" --control "$PSOCK" \
	--secondary "127.0.0.1:$RPORT" --tls-creds "$T/creds" \
	--checkpoint-delay 2000 "${PROG[@]}"
wait_state "$PSOCK" colo 60 primary secondary
wait_state "$SSOCK" colo 10
[[ $(status_get "$PSOCK" transport) == tls ]] || fail "the link is not TLS"
pass "pair in colo state around memcached (TLS)"

out=$($MC "$PPORT" set a 0 300) || fail "sets: $out"
[[ $out == "stored 300" ]] || fail "sets: $out"
out=$($MC "$PPORT" ops) || fail "ops: $out"
[[ $out == "None|STORED|42|51|STORED|DELETED|None|NOT_FOUND|NOT_FOUND" ]] ||
	fail "a missing key, incr, delete gave '$out'"
pass "300 sets, a missing key, incr, delete through the protected pair"

out=$(ctl "$PSOCK" checkpoint) || fail "checkpoint: $out"
echo "  $out"
out=$(ctl "$PSOCK" verify) || fail "verify: $out"
echo "  $out"
[[ $out == identical* ]] || fail "verify said: $out"
pass "checkpoint, and verify: the SVM's memory is the PVM's"
# Whether this run's threads numbered the two programs' fds differently
# (about one start in four here): information, not a condition.
grep -o "[0-9]* fd moves gave" "$T/secondary.log" | sed 's/^/  renumbered: /' || true

out=$($MC "$PPORT" held "$CTL" "$PSOCK") || fail "held: $out"
[[ $out == "STORED|2|3|4" ]] || fail "a connection across checkpoints got '$out'"
out=$($MC "$PPORT" set b 0 300) || fail "more sets: $out"
[[ $out == "stored 300" ]] || fail "more sets: $out"
out=$(ctl "$PSOCK" verify) || fail "verify: $out"
[[ $out == identical* ]] || fail "verify after more sets said: $out"
[[ $(state_of "$PSOCK") == colo && $(status_get "$PSOCK" last_error) == "" ]] ||
	fail "the pair left colo state: $(status_get "$PSOCK" last_error)"
echo "  checkpoints $(status_get "$PSOCK" checkpoints)," \
	"mismatches $(status_get "$PSOCK" mismatches)"
pass "one connection across 3 checkpoints; 300 sets more; verify identical"

# Acknowledged after the last checkpoint, then the primary host dies.
out=$($MC "$PPORT" set c 0 50) || fail "last sets: $out"
[[ $out == "stored 50" ]] || fail "last sets: $out"
kill -KILL "$PID_primary"
forget "$PID_primary"
deadline=$(( $(date +%s) + 30 ))
until [[ $($MC "$SPORT" get c:49 2>/dev/null) == v-343 ]]; do
	(( $(date +%s) < deadline )) || fail "the secondary does not serve c:49"
	require_alive secondary
	sleep 0.2
done
for p in "a 0 300" "b 0 300" "c 0 50"; do
	out=$($MC "$SPORT" check $p) || fail "after takeover: $out"
done
[[ $($MC "$SPORT" get held) == 4 && $($MC "$SPORT" get n) == 51 &&
   $($MC "$SPORT" get gone) == None ]] || fail "values lost in the takeover"
out=$($MC "$SPORT" set after 0 10) || fail "the promoted memcached: $out"
pass "after kill -9 of the primary the secondary serves every STORED key"
stop secondary
