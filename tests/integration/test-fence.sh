#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Split brain and the fence hook, on the two-host lab: the replication link
# is cut (colo-lab cut) while clients still reach both hosts.
#
# (a) no fence configured: the documented behaviour. The secondary takes
#     over after the failover timeout and the primary goes on alone: both
#     serve, and their data diverge. Asserted and printed.
# (b) --takeover-requires-fence false: the secondary does not serve (status
#     "fenced", its service port closed, its log says why) until the
#     operator runs colo-ctl failover; then it serves what it had.
# (c) --takeover-requires-fence true: it serves.
# (d) a real fence (colo-lab's "stonith": kill -9 of the other host's
#     daemon): the secondary serves, the old primary is gone; a partition
#     drill sees no split brain and loses no write.
source "$(dirname "$0")/lib.sh"
source "$SRC/deploy/lab/lab-test.sh"
lab_init
command -v redis-cli >/dev/null || { echo "SKIP: redis-cli missing"; exit 77; }
require_dirtylog

# json_field JSON NAME: a string or number member (the first match).
json_field() {
	local re="\"$2\":(\"[^\"]*\"|[0-9.]+)"
	[[ $1 =~ $re ]] && echo "${BASH_REMATCH[1]//\"/}"
}

# role_state HOST: "role/state" of that host's daemon, "" if no answer.
role_state() {
	local js
	js=$("$CTL" -t 5 -s "$(lab_var "HOST_${1}_CTL")" status --json 2>/dev/null) ||
		{ echo ""; return 0; }
	echo "$(json_field "$js" role)/$(json_field "$js" state)"
}

# wait_role_state HOST PATTERN SECONDS: until role/state matches (a glob);
# prints the last role/state seen, fails (1) on timeout.
wait_role_state() {
	local rs=""
	for _ in $(seq $(( $3 * 20 ))); do
		rs=$(role_state "$1")
		# shellcheck disable=SC2053 # the pattern is a glob on purpose
		[[ $rs == $2 ]] && { echo "$rs"; return 0; }
		sleep 0.05
	done
	echo "${rs:-not answering}"
	return 1
}

# rcli HOST ARGS...: redis-cli against that host's service address.
rcli() {
	local svc
	svc=$(lab_var "HOST_${1}_SERVICE"); shift
	timeout 5 redis-cli -h "${svc%:*}" -p "${svc##*:}" "$@" 2>&1
}

fresh_lab() {  # [colo-lab up flags...]
	lab down >/dev/null 2>&1 || true
	lab up --build "$BUILD" --ram 64M "$@" >"$T/lab-up.log" 2>&1 ||
		fail "colo-lab up $*: $(cat "$T/lab-up.log")"
	[[ $(rcli A SET fence:before v-before) == OK ]] || fail "SET through the primary"
}

secondary_log() { lab_var HOST_B_LOG; }

# ---- (a) no fence -------------------------------------------------------
fresh_lab
lab cut
rs=$(wait_role_state B "primary/standalone" 10) ||
	fail "host B is $rs, not primary/standalone, after 10 s"
echo "  (a) B after the cut: $rs"
rs=$(wait_role_state A "primary/standalone" 10) ||
	fail "host A is $rs, not primary/standalone, after 10 s"
echo "  (a) A after the cut: $rs"
[[ $(rcli B GET fence:before) == v-before ]] || fail "(a) B lost fence:before"
[[ $(rcli A SET split:a from-a) == OK ]] || fail "(a) A does not take writes"
[[ $(rcli B SET split:b from-b) == OK ]] || fail "(a) B does not take writes"
[[ -z $(rcli A GET split:b) && -z $(rcli B GET split:a) ]] ||
	fail "(a) the two sides share writes after the cut?"
echo "  (a) documented behaviour without a fence: after the link is cut both"
echo "      sides serve (A went on alone, B took over) and their data diverge:"
echo "      A has split:a and not split:b, B has split:b and not split:a"
pass "(a) no fence: split brain, as documented"

# ---- (b) a fence that refuses ------------------------------------------
fresh_lab --fence false
lab cut
rs=$(wait_role_state B "*/fenced" 10) ||
	fail "host B is $rs, not */fenced, after 10 s"
echo "  (b) B after the cut: $rs"
grep -i fence "$(secondary_log)" | sed 's/^/  (b) B log: /'
grep -qi fence "$(secondary_log)" || fail "(b) B's log does not say it is fenced"
sleep 2
rs=$(role_state B)
[[ $rs == */fenced ]] || fail "(b) B left the fenced state by itself: $rs"
out=$(rcli B PING || true)
[[ $out != PONG ]] || fail "(b) B serves clients while fenced"
echo "  (b) B's service while fenced: ${out:-no answer}"
[[ $(rcli A PING) == PONG ]] || fail "(b) A stopped serving"
out=$("$CTL" -s "$(lab_var HOST_B_CTL)" failover 2>&1) || fail "(b) colo-ctl failover: $out"
echo "  (b) colo-ctl failover: $(tr '\n' ' ' <<<"$out")"
rs=$(wait_role_state B "primary/standalone" 10) ||
	fail "host B is $rs, not primary/standalone, after 10 s"
[[ $(rcli B PING) == PONG ]] || fail "(b) B does not serve after colo-ctl failover"
[[ $(rcli B GET fence:before) == v-before ]] || fail "(b) B lost fence:before"
pass "(b) fence refused: B fenced and not serving until colo-ctl failover, then $rs"

# ---- (c) a fence that agrees -------------------------------------------
fresh_lab --fence true
lab cut
rs=$(wait_role_state B "primary/standalone" 10) ||
	fail "host B is $rs, not primary/standalone, after 10 s"
[[ $(rcli B GET fence:before) == v-before ]] || fail "(c) B lost fence:before"
pass "(c) fence 'true': B took over ($rs) and serves"

# ---- (d) a fence that fences -------------------------------------------
fresh_lab --fence stonith
apid=$(lab_var HOST_A_PID)
lab cut
rs=$(wait_role_state B "primary/standalone" 10) ||
	fail "host B is $rs, not primary/standalone, after 10 s"
for _ in $(seq 50); do
	[[ $(awk '{print $3}' "/proc/$apid/stat" 2>/dev/null) =~ ^[RSD]$ ]] || break
	sleep 0.1
done
[[ $(awk '{print $3}' "/proc/$apid/stat" 2>/dev/null) =~ ^[RSD]$ ]] &&
	fail "(d) the old primary (pid $apid) is still running after B's fence"
[[ $(rcli A PING) != PONG ]] || fail "(d) A still serves after the fence"
[[ $(rcli B GET fence:before) == v-before ]] || fail "(d) B lost fence:before"
pass "(d) stonith fence: A's daemon killed by B's fence, B serves ($rs), one side only"

# The same as a drill: cut, detect, re-protect, verify, read back.
lab heal
lab start-secondary A >/dev/null
lab protect A --wait >/dev/null || fail "(d) re-protection by A"
out=$("$DRILL" partition --duration-ms 1500 2>&1) || {
	echo "$out"; fail "(d) partition drill with the stonith fence"; }
grep -v '^drill-result' <<<"$out" | sed 's/^/  /'
[[ $out == *"split_brain=0"* && $out == *"lost=0"* ]] ||
	fail "(d) drill: split brain or lost writes with a fence"
pass "(d) partition drill with the fence: no split brain, no lost write"
