#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A stop request always stops (I10): SIGTERM ends either daemon within 5 s
# in every state it can be in (waiting, dialling, syncing, colo, in the
# middle of a checkpoint on either side, during a takeover, fenced, while
# the fence command runs, promoted), stops its guest, and logs the state it
# left. STOP_REPEAT rounds (10 by default; the sanitizer build runs fewer).
source "$(dirname "$0")/lib.sh"
require_dirtylog

REPEAT=${STOP_REPEAT:-10}
LIMIT=5
worst=0
declare -A WORST

# stopped NAME PID WHAT STATE [GUEST-PID...]: SIGTERM PID, which must end
# in time, log the state it left, and take its guest with it. (Guest PIDs
# are read before the daemon is made busy: a daemon in a checkpoint does
# not answer status.)
stopped() {
	local name=$1 pid=$2 what=$3 state=$4 g ms
	shift 4
	ms=$(stop_within "$pid" "$LIMIT" "$what")
	grep -qE "leaving state $state" "$T/$name.log" ||
		fail "$what: no log line 'leaving state $state': $(grep -i signal "$T/$name.log")"
	for g in "$@"; do
		(( g > 0 )) || continue
		for _ in $(seq 50); do alive "$g" || break; sleep 0.02; done
		alive "$g" && fail "$what: guest $g outlived its daemon"
	done
	(( ms > ${WORST[$what]:-0} )) && WORST[$what]=$ms
	(( ms > worst )) && worst=$ms
	return 0
}

fresh() { kill -KILL "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true;
	  PIDS=(); rm -f "$T"/*.sock "$T"/*.log; }

pair() {  # extra secondary flags...
	SPORT=$(free_port); PPORT=$(free_port); RPORT=$(free_port)
	PSOCK=$T/primary.sock; SSOCK=$T/secondary.sock
	start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
		--service "127.0.0.1:$SPORT" --control "$SSOCK" --guest "$KV" \
		--insecure "$@"
	start primary "$PRIMARY" --service "127.0.0.1:$PPORT" \
		--control "$PSOCK" --guest "$KV" --ram 32M --insecure \
		--secondary "127.0.0.1:$RPORT"
	wait_state "$PSOCK" colo 30
	wait_state "$SSOCK" colo 10
	PVM=$(status_get "$PSOCK" guest_pid)
	SVM=$(status_get "$SSOCK" svm_pid)
}

for round in $(seq "$REPEAT"); do
	# A secondary waiting for its primary; a primary dialling nobody.
	fresh
	RPORT=$(free_port)
	start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
		--service "127.0.0.1:$(free_port)" --control "$T/s.sock" \
		--guest "$KV" --insecure
	stopped secondary "$PID_secondary" "secondary waiting" waiting
	start primary "$PRIMARY" --service "127.0.0.1:$(free_port)" \
		--control "$T/p.sock" --guest "$KV" --ram 32M --insecure \
		--secondary "127.0.0.1:$RPORT"
	sleep 0.3
	stopped primary "$PID_primary" "primary dialling" "(connecting|standalone)"

	# colo: the secondary first (the primary goes on alone), then the
	# primary, standalone.
	fresh; pair
	stopped secondary "$PID_secondary" "secondary in colo" colo "$SVM"
	stopped primary "$PID_primary" "primary after losing its secondary" \
		"(colo|standalone)" "$PVM"

	# colo: the primary first; the secondary takes over; then the
	# promoted secondary.
	fresh; pair
	stopped primary "$PID_primary" "primary in colo" colo "$PVM"
	wait_state "$SSOCK" standalone 10
	stopped secondary "$PID_secondary" "promoted secondary" standalone "$SVM"

	# In the middle of a checkpoint on the primary: its PVM is stuck short
	# of the safe point (the barrier would wait 30 s).
	fresh; pair
	kill -STOP "$PVM"
	ctl "$PSOCK" checkpoint >/dev/null 2>&1 &
	sleep 0.3
	stopped primary "$PID_primary" "primary mid-checkpoint" colo "$PVM"
	wait "$!" 2>/dev/null || true
	stopped secondary "$PID_secondary" "secondary after the primary stopped" \
		"(colo|checkpoint|standalone)" "$SVM"

	# In the middle of a checkpoint on the secondary: its SVM is stuck.
	fresh; pair
	kill -STOP "$SVM"
	ctl "$PSOCK" checkpoint >/dev/null 2>&1 &
	sleep 0.3
	stopped secondary "$PID_secondary" "secondary mid-checkpoint" checkpoint "$SVM"
	wait "$!" 2>/dev/null || true
	stopped primary "$PID_primary" "primary after the secondary stopped" \
		"(colo|standalone)" "$PVM"

	# The primary dies and the secondary is told to stop in the same
	# instant: the stop must win over the takeover (the CI hang).
	fresh; pair
	kill -KILL "$PID_primary"
	stopped secondary "$PID_secondary" "secondary during takeover" \
		"(colo|checkpoint|standalone)" "$SVM"

	# Fenced, and while the fence command runs.
	fresh; pair --takeover-requires-fence false
	kill -KILL "$PID_primary"
	wait_state "$SSOCK" fenced 10
	stopped secondary "$PID_secondary" "fenced secondary" fenced "$SVM"
	# The command names this test's PID: another test-stop running on the
	# same machine has its own fence command, which is none of ours.
	fence="sleep 60 # test-stop $$"
	fresh; pair --takeover-requires-fence "$fence"
	kill -KILL "$PID_primary"
	for _ in $(seq 100); do
		grep -q "running the fence command" "$T/secondary.log" && break
		sleep 0.05
	done
	stopped secondary "$PID_secondary" "secondary running its fence" \
		"(colo|checkpoint)" "$SVM"
	pgrep -f "$fence" >/dev/null && fail "the fence command outlived the stop"

	echo "round $round: worst stop so far $worst ms"
done

# Live sync, both ends: 200 MB of data so that it lasts a few seconds.
fresh
SPORT=$(free_port); PPORT=$(free_port); RPORT=$(free_port)
start primary "$PRIMARY" --service "127.0.0.1:$PPORT" --control "$T/p.sock" \
	--guest "$KV" "${KV_DEBUG[@]}" --ram 256M --insecure --secondary "127.0.0.1:$RPORT"
[[ $(redis-cli -p "$PPORT" DEBUG FILLRANDOM 200000000) == OK ]] ||
	fail "DEBUG FILLRANDOM with --enable-debug-command=yes"
PVM=$(status_get "$T/p.sock" guest_pid)
sync_tries=0
for side in secondary primary; do
	while :; do
		start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
			--service "127.0.0.1:$SPORT" --control "$T/s.sock" \
			--guest "$KV" "${KV_DEBUG[@]}" --insecure
		wait_state "$T/p.sock" syncing 30
		[[ $side == secondary ]] && break
		# Frozen, the secondary holds the primary in live sync (its
		# sender blocked on a full socket) for as long as the stop
		# takes. A sync that ended before the freeze (a fast machine,
		# a status answered late) is tried again.
		kill -STOP "$PID_secondary"
		[[ $(state_of "$T/p.sock") == syncing ]] && break
		kill -CONT "$PID_secondary"
		(( ++sync_tries < 5 )) ||
			fail "live sync ended before the secondary was frozen, 5 times"
		stop_within "$PID_secondary" "$LIMIT" "secondary, again" >/dev/null
	done
	if [[ $side == secondary ]]; then
		# (The sync may just have reached its first checkpoint, or on
		# an idle machine ended between the poll and the signal: the
		# stop is what is tested; the log line says which state it hit.)
		stopped secondary "$PID_secondary" "secondary syncing" \
			"(hello|syncing|checkpoint|colo)"
		grep -o "leaving state [a-z]*" "$T/secondary.log" | tail -1
	else
		stopped primary "$PID_primary" "primary syncing" syncing "$PVM"
		kill -CONT "$PID_secondary"
		# (Or later, if the sync had just ended: any state will do,
		# the stop is what is tested.)
		stopped secondary "$PID_secondary" "secondary after a sync cut short" \
			"(waiting|hello|syncing|checkpoint|colo|standalone)"
	fi
done

for w in "${!WORST[@]}"; do
	printf '  %-40s worst %5d ms\n' "$w" "${WORST[$w]}"
done
pass "SIGTERM ended the daemon in every state within $LIMIT s ($REPEAT rounds, worst $worst ms)"
