#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Live sync over several connections (--channels): the pages a running
# primary holds reach the secondary over three TLS connections and the two
# RAMs are identical; a secondary killed in the middle of such a sync
# costs the primary nothing (it serves on, standalone) and a new one is
# protected by `colo-ctl protect`; and the same over plain TCP.
source "$(dirname "$0")/lib.sh"
command -v redis-cli >/dev/null || { echo "SKIP: redis-cli missing"; exit 77; }
require_dirtylog

gen_creds "$T/creds"
FILL=${CHANNELS_FILL:-268435456}       # 256 MiB of random data
field() { status_field "$1" "$2"; }

# new_secondary [FLAGS...]: a secondary on a fresh port (RPORT), SSOCK.
N=0
new_secondary() {
	N=$((N + 1))
	RPORT=$(free_port); SPORT=$(free_port); SSOCK=$T/secondary$N.sock
	start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
		--service "127.0.0.1:$SPORT" --control "$SSOCK" --guest "$KV" \
		"${KV_DEBUG[@]}" "$@"
}

# 1. A primary full of data (it dials a port where nothing listens yet)
#    joined by a secondary: three connections, identical RAM.
RPORT=$(free_port); PPORT=$(free_port); PSOCK=$T/primary.sock
start primary "$PRIMARY" --service "127.0.0.1:$PPORT" --control "$PSOCK" \
	--guest "$KV" "${KV_DEBUG[@]}" --ram 384M --tls-creds "$T/creds" \
	--secondary "127.0.0.1:$RPORT" --channels 3
r=$(redis-cli -p "$PPORT" DEBUG FILLRANDOM "$FILL") || fail "FILLRANDOM: $r"
[[ $r == OK ]] || fail "DEBUG FILLRANDOM answered '$r'"
for i in $(seq 200); do echo "SET key:$i value-$i"; done |
	redis-cli -p "$PPORT" >/dev/null || fail "SETs"
N=1; SPORT=$(free_port); SSOCK=$T/secondary1.sock
start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$SSOCK" --guest "$KV" \
	"${KV_DEBUG[@]}" --tls-creds "$T/creds"
wait_state "$PSOCK" colo 120 primary secondary
[[ $(field "$PSOCK" 's["live_sync"]["channels"]') == 3 ]] ||
	fail "live_sync.channels: $(field "$PSOCK" 's["live_sync"]')"
for i in 1 2; do
	grep -q "live-sync channel $i from" "$T/secondary.log" ||
		fail "the secondary logged no channel $i"
done
out=$(ctl "$PSOCK" verify) || fail "verify: $out"
[[ $out == identical ]] || fail "verify said: $out"
[[ $(redis-cli -p "$SPORT" GET key:77 2>/dev/null) == value-77 ]] ||
	ping_ok "$PPORT" || fail "the primary does not answer"
pass "live sync of $((FILL >> 20)) MiB over 3 TLS channels: verify identical"

# 2. The secondary dies (SIGKILL) in the middle of such a sync: the primary
#    goes on standalone and serving; a new secondary is protected.
stop secondary
wait_state "$PSOCK" standalone 30 primary
new_secondary --tls-creds "$T/creds"
ctl "$PSOCK" protect "127.0.0.1:$RPORT" >/dev/null || fail "protect"
seen=""
for _ in $(seq 2000); do
	st=$(state_of "$PSOCK")
	if [[ $st == syncing ]] &&
	   grep -q "live-sync channel 2 from" "$T/secondary.log"; then
		seen=1
		break
	fi
	[[ $st == colo ]] && break
	sleep 0.005
done
[[ -n $seen ]] || fail "never saw the live sync with its channels (state $st)"
pid=$(pid_of secondary)
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
forget "$pid"
unset PID_secondary
wait_state "$PSOCK" standalone 30 primary
ping_ok "$PPORT" || fail "the primary stopped serving after its secondary died"
[[ $(redis-cli -p "$PPORT" GET key:77) == value-77 ]] || fail "key lost"
new_secondary --tls-creds "$T/creds"
ctl "$PSOCK" protect "127.0.0.1:$RPORT" >/dev/null || fail "protect again"
wait_state "$PSOCK" colo 120 primary secondary
out=$(ctl "$PSOCK" verify) || fail "verify after re-protect: $out"
[[ $out == identical ]] || fail "verify after re-protect said: $out"
pass "secondary killed mid-sync: primary standalone and serving, re-protected, identical"
stop secondary
stop primary

# 3. Plain TCP (--insecure), 8 channels, a small guest.
RPORT=$(free_port); PPORT=$(free_port)
start primary "$PRIMARY" --service "127.0.0.1:$PPORT" --control "$PSOCK" \
	--guest "$KV" "${KV_DEBUG[@]}" --ram 64M --insecure \
	--secondary "127.0.0.1:$RPORT" --channels 8
r=$(redis-cli -p "$PPORT" DEBUG FILLRANDOM 33554432) || fail "FILLRANDOM: $r"
N=9; SPORT=$(free_port); SSOCK=$T/secondary9.sock
start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$SSOCK" --guest "$KV" \
	"${KV_DEBUG[@]}" --insecure
wait_state "$PSOCK" colo 60 primary secondary
[[ $(field "$PSOCK" 's["live_sync"]["channels"]') == 8 ]] || fail "not 8 channels"
out=$(ctl "$PSOCK" verify) || fail "verify (TCP): $out"
[[ $out == identical ]] || fail "verify (TCP) said: $out"
pass "live sync over 8 TCP channels: verify identical"
