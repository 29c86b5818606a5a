#!/bin/bash
# SPDX-License-Identifier: MIT
# `colo-ctl verify` of an unmodified program holding a few hundred MiB:
# every own page of the program is read and digested on the primary, and
# captured and digested again on the secondary, seconds of work each. The
# daemons heartbeat inside those steps (common/proc/proc-idle.c), so a
# pair with the default 1 s failover timeout stays a pair: verify once made the
# secondary take over from a primary that was only busy.
source "$(dirname "$0")/lib.sh"

REDIS=/usr/bin/redis-server
if [[ ! -x $REDIS ]] || ! command -v redis-cli >/dev/null; then
	echo "SKIP: redis-server or redis-cli not installed"
	exit 77
fi
require_dirtylog
# meson sets MALLOC_PERTURB_: glibc then fills every buffer it hands out,
# a 650 MiB image's in one memset that no heartbeat can enter (seconds on
# this machine). What is measured here is our own steps; no deployment
# runs with it.
unset MALLOC_PERTURB_

PROG=(--exec-port 6379 --exec "$REDIS" --port 6379 --save '' --appendonly no
      --enable-debug-command yes)
TIMEOUTS=(--heartbeat-ms 200 --failover-timeout-ms 1000)
SPORT=$(free_port); PPORT=$(free_port); RPORT=$(free_port)
PSOCK=$T/primary.sock; SSOCK=$T/secondary.sock
gen_creds "$T/creds"
start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$SSOCK" \
	--tls-creds "$T/creds" "${TIMEOUTS[@]}" "${PROG[@]}"
start primary "$PRIMARY" --service "127.0.0.1:$PPORT" --control "$PSOCK" \
	--secondary "127.0.0.1:$RPORT" --tls-creds "$T/creds" \
	"${TIMEOUTS[@]}" "${PROG[@]}"
wait_state "$PSOCK" colo 60 primary secondary
rc() { timeout 60 redis-cli -p "$PPORT" "$@"; }

# About 650 MiB of values, then a checkpoint to carry them.
[[ $(rc DEBUG POPULATE 600000 key 1000) == OK ]] || fail "DEBUG POPULATE"
ctl "$PSOCK" checkpoint >/dev/null || fail "checkpoint after DEBUG POPULATE"
echo "  $(rc INFO memory | grep '^used_memory_human' | tr -d '\r')"
pass "a checkpoint carrying 600,000 new keys (650 MiB) with the default 1 s failover timeout"

t0=$SECONDS
out=$(ctl "$PSOCK" verify 2>&1) || fail "verify: $out"
[[ $out == identical* ]] || fail "verify said: $out"
echo "  verify in $(( SECONDS - t0 )) s: $out"
[[ $(state_of "$PSOCK") == colo && $(state_of "$SSOCK") == colo ]] ||
	fail "the pair left colo state during verify ($(state_of "$PSOCK")/$(state_of "$SSOCK"))"
! grep -q "taking over" "$T/secondary.log" ||
	fail "the secondary took over during verify"
pass "verify of a 650 MiB program with the default 1 s failover timeout: identical, still a pair"
