#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Newer state is never replaced by older state (I8), and a takeover keeps
# the operator's settings.
#
# 1. A fenced SVM holds the only copy of an acknowledged write; a new,
#    empty primary dials it: refused, with both generations named, and it
#    does not dial again; `failover` serves the write; the promoted
#    secondary runs with the tunables the old primary had been `set` to.
# 2. `drop-fenced` is the operator's way to let that new primary in.
# 3. The same pair's primary comes back after a partition with a newer
#    generation: accepted; it is killed during the sync that replaces the
#    fenced SVM; the fenced SVM (kept until the first checkpoint) is back
#    and still serves the write.
source "$(dirname "$0")/lib.sh"
require_dirtylog

setup_fenced() {  # extra secondary flags...
	INSECURE=1 start_pair "$KV" --ram 64M "$@"
	wait_state "$PSOCK" colo 30
	redis-cli -p "$PPORT" SET canary alive >/dev/null
	ctl "$PSOCK" checkpoint >/dev/null || fail "checkpoint"
}

# new_primary NAME: an empty primary on the old host, dialling the
# secondary.
new_primary() {
	NPORT=$(free_port)
	start "$1" "$PRIMARY" --service "127.0.0.1:$NPORT" \
		--control "$T/$1.sock" --guest "$KV" --ram 64M --insecure \
		--secondary "127.0.0.1:$RPORT"
}

# 1 ---------------------------------------------------------------------
SECONDARY_FLAGS=(--takeover-requires-fence false)
start_pair_fenced() {
	SPORT=$(free_port); PPORT=$(free_port); RPORT=$(free_port)
	PSOCK=$T/primary.sock; SSOCK=$T/secondary.sock
	start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
		--service "127.0.0.1:$SPORT" --control "$SSOCK" --guest "$KV" "${KV_DEBUG[@]}" \
		--insecure "${SECONDARY_FLAGS[@]}"
	start primary "$PRIMARY" --service "127.0.0.1:$PPORT" \
		--control "$PSOCK" --guest "$KV" "${KV_DEBUG[@]}" --ram "${RAM:-64M}" --insecure \
		--secondary "127.0.0.1:$RPORT" "$@"
	wait_state "$PSOCK" colo 30
	redis-cli -p "$PPORT" SET canary alive >/dev/null
}
start_pair_fenced
ctl "$PSOCK" set checkpoint-delay 7000 >/dev/null || fail "set checkpoint-delay"
ctl "$PSOCK" set compare-timeout 2500 >/dev/null || fail "set compare-timeout"
ctl "$PSOCK" checkpoint >/dev/null || fail "checkpoint"
ppair=$(status_get "$PSOCK" pair_id)
kill -KILL "$PID_primary"
wait_state "$SSOCK" fenced 10
# Read once fenced: a checkpoint may have followed ours before the kill.
gen=$(status_get "$SSOCK" generation)
pair=$(status_get "$SSOCK" pair_id)
[[ $gen -ge 2 && $pair == "$ppair" ]] ||
	fail "secondary holds pair $pair generation $gen (the primary's pair: $ppair)"
fenced_svm=$(status_field "$SSOCK" 's["svm_pid"]')

new_primary fresh
for _ in $(seq 100); do
	grep -q "refused us" "$T/fresh.log" && break
	sleep 0.05
done
grep -q "refused us" "$T/fresh.log" || fail "the new primary was not refused"
msg=$(grep "refusing primary" "$T/secondary.log" | tail -n 1)
[[ $msg == *"pair $pair generation $gen here"* &&
   $msg == *"generation 0 (another pair)"* && $msg == *"drop-fenced"* ]] ||
	fail "the refusal does not name both generations: $msg"
[[ $(status_field "$SSOCK" 's["state"]') == fenced ]] || fail "not fenced any more"
[[ $(status_field "$SSOCK" 's["svm_pid"]') == "$fenced_svm" ]] ||
	fail "the fenced SVM was replaced"
[[ $(status_field "$T/fresh.sock" 's["next_dial_in_ms"]') == -1 ]] ||
	fail "a refused primary goes on dialling"
sleep 1
(( $(grep -c "refusing primary" "$T/secondary.log") == 1 )) ||
	fail "the refused primary dialled again"
pass "an empty primary is refused by a fenced secondary, both generations named"

ctl "$SSOCK" failover >/dev/null || fail "failover of the fenced secondary"
v=""
for _ in $(seq 50); do
	v=$(redis-cli -p "$SPORT" GET canary 2>/dev/null || true)
	[[ $v == alive ]] && break
	sleep 0.1
done
[[ $v == alive ]] || fail "after failover: GET canary gave '$v'"
tun=$(status_field "$SSOCK" '"%d %d" % (s["tunables"]["checkpoint-delay"], s["tunables"]["compare-timeout"])')
[[ $tun == "7000 2500" ]] || fail "the promoted secondary runs with checkpoint-delay/compare-timeout $tun, not 7000/2500"
grep -q "checkpoint-delay 7000 ms.*the old primary's" "$T/secondary.log" ||
	fail "the takeover does not log the settings it took"
pass "failover served the acknowledged write with the old primary's settings (7000/2500 ms)"
kill -TERM "$PID_fresh" "$PID_secondary"; wait "$PID_fresh" "$PID_secondary" || true
PIDS=()

# 2 ---------------------------------------------------------------------
start_pair_fenced
ctl "$PSOCK" checkpoint >/dev/null || fail "checkpoint"
kill -KILL "$PID_primary"
wait_state "$SSOCK" fenced 10
new_primary fresh2
for _ in $(seq 100); do
	grep -q "refused us" "$T/fresh2.log" && break
	sleep 0.05
done
out=$(ctl "$SSOCK" drop-fenced) || fail "drop-fenced: $out"
wait_state "$SSOCK" waiting 5
ctl "$T/fresh2.sock" protect "127.0.0.1:$RPORT" >/dev/null || fail "protect"
wait_state "$T/fresh2.sock" colo 30
[[ -z $(redis-cli -p "$NPORT" GET canary) ]] || fail "the new primary has data"
ctl "$SSOCK" drop-fenced >/dev/null 2>&1 && fail "drop-fenced without a fenced SVM succeeded"
pass "drop-fenced lets a new primary in; without a fenced SVM it is an error"
kill -TERM "$PID_fresh2" "$PID_secondary"; wait "$PID_fresh2" "$PID_secondary" || true
PIDS=()

# 3 ---------------------------------------------------------------------
# 200 MB in one checkpoint: a slower failover timeout than the default, so
# that a loaded test machine does not count the big checkpoint as a loss.
SECONDARY_FLAGS+=(--failover-timeout-ms 3000)
RAM=256M start_pair_fenced --failover-timeout-ms 3000
[[ $(redis-cli -p "$PPORT" DEBUG FILLRANDOM 200000000) == OK ]] ||
	fail "DEBUG FILLRANDOM with --enable-debug-command=yes"
ctl "$PSOCK" checkpoint >/dev/null || fail "checkpoint"
# A partition: the primary stops answering; the fence fails.
kill -STOP "$PID_primary"
wait_state "$SSOCK" fenced 10
fenced_svm=$(status_field "$SSOCK" 's["svm_pid"]')
sgen=$(status_field "$SSOCK" 's["generation"]')
kill -CONT "$PID_primary"
# It finds its secondary lost, dials again, and is let in: same pair, at
# least the same generation. Kill it in the middle of the sync that would
# replace the fenced SVM.
for _ in $(seq 1000); do
	grep -q "kept until the new sync" "$T/secondary.log" && break
	sleep 0.01
done
grep -q "kept until the new sync" "$T/secondary.log" ||
	fail "the returning primary was not let in: $(grep -i 'refus\|accepted' "$T/secondary.log" | tail -n 3)"
kill -KILL "$PID_primary"
grep -q "old fenced SVM gone" "$T/secondary.log" &&
	fail "the sync finished before the primary was killed; no test"
wait_state "$SSOCK" fenced 10
[[ $(status_field "$SSOCK" 's["svm_pid"]') == "$fenced_svm" ]] ||
	fail "the fenced SVM did not come back after the failed sync"
[[ $(status_field "$SSOCK" 's["generation"]') == "$sgen" ]] || fail "generation changed"
ctl "$SSOCK" failover >/dev/null || fail "failover"
for _ in $(seq 50); do
	v=$(redis-cli -p "$SPORT" GET canary 2>/dev/null || true)
	[[ $v == alive ]] && break
	sleep 0.1
done
[[ $v == alive ]] || fail "after the failed sync and failover: GET canary gave '$v'"
pass "a sync cut short after an accepted hello left the fenced SVM in place"
