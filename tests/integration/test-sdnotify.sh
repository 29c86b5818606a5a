#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Both daemons under a stand-in for systemd (no PID-1 systemd here): each
# gets NOTIFY_SOCKET naming a datagram socket this test owns
# (notify-sink.py), and the watchdog variables WatchdogSec=2s would set.
# They must send READY=1 once serving, a STATUS= line that follows the
# pair (waiting, colo, secondary lost, took over) without repeating itself
# while the primary re-dials, WATCHDOG=1 about every second (never 2 s
# apart), and STOPPING=1 on SIGTERM.
source "$(dirname "$0")/lib.sh"
require_dirtylog

WATCHDOG_USEC=2000000

# sink NAME: a notify socket at $T/NAME.ns; what arrives, in $T/NAME.notify.
sink() {
	spawn "sink-$1" python3 "$SRC/tests/integration/notify-sink.py" \
		"$T/$1.ns" "$T/$1.notify"
	for _ in $(seq 250); do
		[[ -S $T/$1.ns ]] && { touch "$T/$1.notify"; return 0; }
		sleep 0.02
	done
	fail "notify sink $1 did not bind"
}

# supervised SINK COMMAND...: as systemd runs a Type=notify service with a
# watchdog (WATCHDOG_PID is the daemon's own PID: each exec keeps it, so
# that PID_NAME is the daemon's too).
supervised() {
	local sink=$1; shift
	exec env NOTIFY_SOCKET="$T/$sink.ns" WATCHDOG_USEC=$WATCHDOG_USEC \
		bash -c 'export WATCHDOG_PID=$$; exec "$@"' supervised "$@"
}

sent() { cut -f2 "$T/$1.notify"; }

# wait_msg SINK REGEX [SECONDS]: a message (a line of sent) matches.
wait_msg() {
	local deadline=$(( $(date +%s) + ${3:-30} ))
	while (( $(date +%s) <= deadline )); do
		grep -qE "$2" < <(sent "$1") && return 0
		sleep 0.05
	done
	fail "$1 sent nothing matching /$2/; it sent: $(sent "$1" | uniq -c | tail -n 12)"
}

now() { python3 -c 'import time; print("%.3f" % time.monotonic())'; }

# pings_ok SINK FROM TO: WATCHDOG=1 between those times, every ~1 s (half
# the interval), never as late as the watchdog itself.
pings_ok() {
	local r
	r=$(awk -F'\t' -v from="$2" -v to="$3" -v lim="$WATCHDOG_USEC" '
		$2 == "WATCHDOG=1" && $1 >= from && $1 <= to {
			if (n++) { d = $1 - last; if (d > max) max = d }
			last = $1
		}
		END { printf "%d %.3f %.3f\n", n, max, (to - from) }' "$T/$1.notify")
	read -r n max span <<<"$r"
	awk -v n="$n" -v max="$max" -v span="$span" -v lim="$WATCHDOG_USEC" '
		BEGIN { exit !(n >= span / 1.5 - 1 && n <= span / 0.8 + 1 &&
			       max < lim / 1e6) }' ||
		fail "$1: $n watchdog pings in $span s, largest gap $max s (want one per second, none 2 s apart)"
	pass "$1: $n watchdog pings in $span s, largest gap $max s"
}

SPORT=$(free_port); PPORT=$(free_port); RPORT=$(free_port)
PSOCK=$T/primary.sock; SSOCK=$T/secondary.sock
sink p; sink s; sink s2
secondary_cmd=("$SECONDARY" --listen "127.0.0.1:$RPORT"
	--service "127.0.0.1:$SPORT" --control "$SSOCK" --guest "$KV" --insecure)

# 1. Ready and waiting, then colo on both sides.
t0=$(now)
start secondary supervised s "${secondary_cmd[@]}"
wait_msg s '^READY=1$' 5
wait_msg s "^STATUS=waiting for the primary on 127.0.0.1:$RPORT\$" 5
start primary supervised p "$PRIMARY" --service "127.0.0.1:$PPORT" \
	--control "$PSOCK" --guest "$KV" --ram 64M \
	--secondary "127.0.0.1:$RPORT" --insecure
wait_msg p '^READY=1$' 5
[[ $(sent p | grep -m1 -vE '^WATCHDOG=1$') == READY=1 ]] ||
	fail "the primary's first message is not READY=1: $(sent p | head -n 3)"
wait_state "$PSOCK" colo 60 primary secondary
wait_msg p "^STATUS=colo, protected by 127.0.0.1:$RPORT\$" 5
wait_msg s '^STATUS=colo with primary 127\.0\.0\.1:[0-9]+$' 5
pass "READY=1, then STATUS= waiting and colo on both daemons"

# 2. The watchdog, at half of WATCHDOG_USEC (the loop would sleep up to 1 s
#    between turns otherwise).
sleep 5
t1=$(now)
pings_ok p "$t0" "$t1"
pings_ok s "$t0" "$t1"

# 3. The secondary dies: the primary says so, once, and while it keeps
#    dialling a closed port its STATUS= changes at most with the reason.
tk=$(now)
kill -KILL "$PID_secondary"; wait "$PID_secondary" 2>/dev/null || true
forget "$PID_secondary"
wait_msg p "^STATUS=standalone: secondary lost: .*; dialling 127\.0\.0\.1:$RPORT\$" 15
sleep 6
changes=$(awk -F'\t' -v from="$tk" '$1 >= from && $2 ~ /^STATUS=/' "$T/p.notify" | wc -l)
(( changes >= 1 && changes <= 3 )) ||
	fail "$changes STATUS= changes in 6 s of re-dialling: $(awk -F'\t' -v from="$tk" '$1 >= from && $2 ~ /^STATUS=/' "$T/p.notify")"
pass "secondary lost: STATUS= says so ($changes changes in 6 s of re-dialling)"
pings_ok p "$tk" "$(now)"

# 4. A new secondary joins: colo again. Then SIGTERM to the primary:
#    STOPPING=1; the secondary takes over and says so in its STATUS=.
start secondary2 supervised s2 "${secondary_cmd[@]}"
wait_state "$PSOCK" colo 60 primary secondary2
wait_msg s2 '^STATUS=colo with primary ' 10
[[ $(sent p | grep '^STATUS=' | tail -n 1) == "STATUS=colo, protected by 127.0.0.1:$RPORT" ]] ||
	fail "after the re-join the primary's STATUS is $(sent p | grep '^STATUS=' | tail -n 1)"
kill -TERM "$PID_primary"
for _ in $(seq 250); do alive "$PID_primary" || break; sleep 0.02; done
alive "$PID_primary" && fail "primary still running 5 s after SIGTERM"
wait "$PID_primary" 2>/dev/null || true
forget "$PID_primary"
wait_msg p '^STOPPING=1$' 1
wait_msg p '^STATUS=stopping \(signal 15\), leaving state colo$' 1
pass "SIGTERM: STOPPING=1 and STATUS=stopping from the primary"
wait_msg s2 '^STATUS=took over, standalone: no secondary$' 15
tt=$(now)
ping_ok "$SPORT" || fail "the promoted secondary does not answer"
sleep 3
pings_ok s2 "$tt" "$(now)"
pass "takeover: the promoted secondary's STATUS= says so, pings go on"

# 5. And the promoted secondary stops the same way.
kill -TERM "$PID_secondary2"
for _ in $(seq 250); do alive "$PID_secondary2" || break; sleep 0.02; done
alive "$PID_secondary2" && fail "secondary still running 5 s after SIGTERM"
wait_msg s2 '^STOPPING=1$' 1
[[ $(sent s2 | grep -c '^READY=1$') == 1 ]] ||
	fail "READY=1 sent $(sent s2 | grep -c '^READY=1$') times by one process"
pass "SIGTERM: STOPPING=1 from the promoted secondary; READY=1 sent once"
