#!/bin/bash
# SPDX-License-Identifier: MIT
# The Pacemaker agent deploy/ocf/colo against the real daemons on loopback:
# resource-agents' ocf-tester drives one instance through start, monitor,
# promote, demote, notify and stop; then two instances (nodes "alpha" and
# "beta": their own ports, sockets and logs) are driven as Pacemaker would
# drive a promotable clone, with fake-crm-attribute standing in for the
# cluster's node attributes, and every OCF code, promotion score and
# acknowledged INCR is checked across demote, promote and a killed primary.
# Its own scratch name: during one run here every /tmp/colo-test.* was
# removed from outside while the test ran (a shared machine's cleanup).
COLO_TMP_NAME=${COLO_TMP_NAME:-colo-ocf-test}
source "$(dirname "$0")/lib.sh"
command -v ocf-tester >/dev/null ||
	{ echo "SKIP: ocf-tester missing (Debian package resource-agents)"; exit 77; }
require_dirtylog

AGENT=$SRC/deploy/ocf/colo
export OCF_ROOT=/usr/lib/ocf
# The agent takes one directory for the three programs.
mkdir -p "$T/bin"
ln -s "$PRIMARY" "$SECONDARY" "$CTL" "$T/bin/"
gen_creds "$T/creds"

# kill_pidfile FILE: the daemon an agent left running (after a failure).
kill_pidfile() {
	local pid
	pid=$(cat "$1" 2>/dev/null) || return 0
	kill -TERM "$pid" 2>/dev/null || true
}

# 1. ocf-tester, one instance, no peers.
out=$(ocf-tester -n colo -o binaries="$T/bin" -o guest="$KV" -o ram=64M \
	-o service="127.0.0.1:$(free_port)" -o listen="127.0.0.1:$(free_port)" \
	-o control="$T/tester.sock" -o tls_creds="$T/creds" \
	-o log_file="$T/tester.log" "$AGENT" 2>&1) || true
kill_pidfile "$T/tester.sock.pid"
[[ $out == *"$AGENT passed all tests"* ]] || fail "ocf-tester: $out"
pass "ocf-tester: passed all tests"

# 2. A pair, as Pacemaker drives a promotable clone.
declare -A SVC REP
for n in alpha beta; do
	SVC[$n]=$(free_port); REP[$n]=$(free_port)
done
PEERS="alpha=127.0.0.1:${REP[alpha]} beta=127.0.0.1:${REP[beta]}"
mkdir -p "$T/sbin" "$T/cib"
ln -s "$SRC/tests/integration/fake-crm-attribute" "$T/sbin/crm_attribute"

# ra NODE ACTION [VAR=VALUE...]: the agent as NODE's instance; its exit code.
ra() {
	local node=$1 action=$2 rc=0
	shift 2
	env OCF_ROOT=/usr/lib/ocf HA_SBIN_DIR="$T/sbin" COLO_FAKE_CIB="$T/cib" \
		OCF_RESKEY_crm_feature_set=3.17.4 OCF_RESOURCE_INSTANCE=colo \
		OCF_RESKEY_CRM_meta_on_node="$node" \
		OCF_RESKEY_CRM_meta_timeout=60000 \
		OCF_RESKEY_binaries="$T/bin" OCF_RESKEY_guest="$KV" \
		OCF_RESKEY_ram=64M OCF_RESKEY_peers="$PEERS" \
		OCF_RESKEY_service="127.0.0.1:${SVC[$node]}" \
		OCF_RESKEY_listen="127.0.0.1:${REP[$node]}" \
		OCF_RESKEY_control="$T/$node.sock" \
		OCF_RESKEY_tls_creds="$T/creds" \
		OCF_RESKEY_log_file="$T/$node.log" \
		"$@" "$AGENT" "$action" >>"$T/agent.log" 2>&1 || rc=$?
	# Whatever daemon it left running is stopped by cleanup, by PID.
	[[ -f $T/$node.sock.pid ]] && PIDS+=("$(cat "$T/$node.sock.pid")")
	return "$rc"
}

expect() {  # NODE ACTION RC [VAR=VALUE...]
	local node=$1 action=$2 want=$3 rc=0
	shift 3
	ra "$node" "$action" "$@" || rc=$?
	[[ $rc == "$want" ]] ||
		fail "$action on $node returned $rc, not $want (agent.log: $(tail -n 3 "$T/agent.log" | tr '\n' ' '))"
}

score_of() { cat "$T/cib/$1/master-colo" 2>/dev/null || echo none; }
holds() { cut -d' ' -f1 "$T/cib/$1/colo-holds-colo" 2>/dev/null || echo none; }

expect_node() {  # NODE MONITOR-RC SCORE HOLDS
	expect "$1" monitor "$2"
	[[ $(score_of "$1") == "$3" ]] ||
		fail "$1: promotion score $(score_of "$1"), not $3"
	[[ $(holds "$1") == "$4" ]] || fail "$1: holds $(holds "$1"), not $4"
}

# incr PORT N: N INCRs of counter n; prints the last value acknowledged.
incr() {
	local out
	out=$(for _ in $(seq "$2"); do echo "INCR n"; done |
		timeout 60 redis-cli -p "$1" 2>&1) || fail "INCR on $1: $out"
	echo "${out##*$'\n'}"
}

# Bad parameters: the OCF code for each, and a reason naming the value.
expect alpha validate-all 0
expect alpha validate-all 6 OCF_RESKEY_peers="alpha=127.0.0.1:1 beta"
grep -q "peers: 'beta' is not NODE=HOST:PORT" "$T/agent.log" ||
	fail "no reason for a bad peers entry"
expect alpha start 6 OCF_RESKEY_service=nowhere
grep -q "'nowhere' is not HOST:PORT" "$T/agent.log" ||
	fail "no reason for a bad service address"
expect alpha validate-all 5 OCF_RESKEY_guest=/nonexistent/guest
expect alpha validate-all 6 OCF_RESKEY_tls_creds=/nonexistent
expect alpha monitor 7 OCF_RESKEY_guest=/nonexistent/guest \
	OCF_RESKEY_CRM_meta_interval=0   # a probe where colo is not installed
pass "bad parameters refused with 5 or 6 and a reason"

expect alpha monitor 7
expect alpha start 0
expect beta start 0
expect alpha start 0   # a started resource starts again fine
expect_node alpha 0 10 empty
expect_node beta 0 10 empty
pass "two nodes started unpromoted: monitor 0, empty, score 10"

# A daemon that does not answer its control socket is a failure (1).
kill -STOP "$(cat "$T/alpha.sock.pid")"
rc=0; ra alpha monitor || rc=$?
kill -CONT "$(cat "$T/alpha.sock.pid")"
[[ $rc == 1 ]] || fail "monitor of a stopped (SIGSTOP) daemon returned $rc, not 1"
expect alpha monitor 0
pass "monitor of a daemon that does not answer: 1"

# An empty node is not promoted while its peer holds state.
echo "fenced 00000000000000aa 7" >"$T/cib/beta/colo-holds-colo"
expect alpha promote 1
expect alpha monitor 0
grep -q 'node beta holds state (fenced 00000000000000aa 7)' "$T/agent.log" ||
	fail "the refused promote did not say why"
pass "promote of an empty node refused while beta holds state"

expect beta monitor 0         # beta publishes what it really holds: empty
expect alpha promote 0
expect alpha promote 0        # promoting the promoted is fine
expect alpha monitor 8
wait_state "$T/beta.sock" colo 120
expect_node alpha 8 1000 serving
expect_node beta 0 900 colo
pass "fresh primary on alpha (monitor 8, score 1000); beta in colo (900)"

acked=$(incr "${SVC[alpha]}" 300)
[[ $acked == 300 ]] || fail "300 INCRs on alpha acknowledged up to '$acked'"

# Demote: alpha steps down; beta keeps every write, fenced, until promoted.
expect alpha demote 0
expect alpha demote 0         # demoting the demoted is fine
wait_state "$T/beta.sock" fenced 30
expect_node alpha 0 10 empty
expect_node beta 0 500 fenced
pass "demote: alpha an empty secondary (10), beta fenced (500)"

expect beta promote 0
expect_node beta 8 1000 serving
v=$(timeout 10 redis-cli -p "${SVC[beta]}" GET n)
[[ $v == "$acked" ]] || fail "after the move, n is '$v', $acked acknowledged"
wait_state "$T/alpha.sock" colo 120
wait_state "$T/beta.sock" colo 10
expect_node alpha 0 900 colo
pass "promote on beta: $acked of $acked INCRs kept; alpha re-protects beta"

# The promoted node's daemon dies: it reports not running, the other
# holds everything (fenced), is promoted and serves every acknowledged write.
acked=$(incr "${SVC[beta]}" 300)
[[ $acked == 600 ]] || fail "300 more INCRs on beta acknowledged up to '$acked'"
kill -KILL "$(cat "$T/beta.sock.pid")"
expect beta monitor 7
[[ $(holds beta) == stopped ]] || fail "a dead beta publishes $(holds beta)"
wait_state "$T/alpha.sock" fenced 30
expect_node alpha 0 500 fenced
# A fence_command that fails keeps alpha from serving; one that works lets it.
expect alpha promote 1 OCF_RESKEY_fence_command="echo fence-said-no; exit 3"
grep -q 'fence command failed: fence-said-no' "$T/agent.log" ||
	fail "no reason for the failed fence command"
expect_node alpha 0 500 fenced
expect alpha promote 0 OCF_RESKEY_fence_command="touch $T/fenced-beta"
[[ -f $T/fenced-beta ]] || fail "promote did not run the fence command"
expect alpha monitor 8
v=$(timeout 10 redis-cli -p "${SVC[alpha]}" GET n)
[[ $v == "$acked" ]] || fail "after the kill, n is '$v', $acked acknowledged"
pass "beta killed: monitor 7; fence_command failing: promote 1; alpha promoted with $v of $acked INCRs"

# Pacemaker restarts beta (stop, start: an empty secondary); the serving
# side's post-start notify protects itself with it.
expect beta stop 0
expect beta start 0
expect alpha notify 0 OCF_RESKEY_CRM_meta_notify_type=post \
	OCF_RESKEY_CRM_meta_notify_operation=start
wait_state "$T/beta.sock" colo 120
expect_node beta 0 900 colo
pass "beta restarted and back in colo state"

for n in alpha beta; do
	expect "$n" stop 0
	expect "$n" stop 0
	expect "$n" monitor 7
	[[ ! -f $T/$n.sock.pid ]] || fail "$n: PID file left after stop"
done
grep -qi 'warning.*stopping the serving side in state' "$T/agent.log" &&
	fail "a protected serving side was stopped with the data-loss warning"
pass "stopped: monitor 7 on both"
