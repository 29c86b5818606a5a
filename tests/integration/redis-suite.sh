#!/bin/bash
# SPDX-License-Identifier: MIT
# Redis 7.0.15's own test suite (../shared/redis-tests, unmodified,
# external mode) judges the protected pair: each unit runs once against
# redis-server alone and once against the pair protecting the same
# redis-server (colo-primary --exec, colo-secondary --exec, over TLS), a
# fresh server or pair per unit. Prints a table: tests passed and failed
# on each side, the pair's checkpoints and mismatch checkpoints, and
# verify at the end of the unit, and the unit's seconds (both runs). Fails
# when a test that passes against redis-server alone does not pass
# through the pair, a unit leaves the pair out of colo state, or verify is
# not identical.
#
#   COLO_BUILD=build tests/integration/redis-suite.sh [UNIT...]
#
# Default units: the ones issue 13 names (the meson test `redis-suite`
# runs a subset, tests/integration/meson.build). REDIS_TESTS points at the
# suite (default ../shared/redis-tests beside the project).
source "$(dirname "$0")/lib.sh"

REDIS=/usr/bin/redis-server
SUITE=${REDIS_TESTS:-$SRC/../shared/redis-tests}
if [[ ! -x $REDIS ]] || ! command -v tclsh >/dev/null; then
	echo "SKIP: redis-server or tclsh (Debian's tcl) not installed"
	exit 77
fi
if [[ ! -x $SUITE/runtest ]]; then
	echo "SKIP: Redis's test suite not found at $SUITE (set REDIS_TESTS)"
	exit 77
fi
require_dirtylog
UNITS=("$@")
(( ${#UNITS[@]} )) || UNITS=(unit/type/incr unit/type/string unit/type/list
	unit/type/hash unit/type/set unit/keyspace unit/expire unit/protocol)

# runtest writes under tests/tmp: a copy of our own.
cp -r "$SUITE" "$T/suite"
# DEBUG on both sides: many tests use `r debug ...` (RELOAD, OBJECT,
# SLEEP); without it they fail alike on both and hide what the pair does.
PROG=(--exec-port 6379 --exec "$REDIS" --port 6379 --save '' --appendonly no
      --enable-debug-command yes)
gen_creds "$T/creds"

# run_unit UNIT PORT LOG: "passed failed" of runtest against PORT.
run_unit() {
	local unit=$1 port=$2 log=$3
	(cd "$T/suite" && timeout 600 ./runtest --host 127.0.0.1 --port "$port" \
		--single "$unit" --clients 1 --singledb --ignore-encoding \
		--ignore-digest --durable --timeout 120 --tags -resp3) >"$log" 2>&1 || true
	# runtest colours its lines when TERM is xterm*: counted without.
	sed -i 's/\x1b\[[0-9;]*m//g' "$log"
	echo "$(grep -c '^\[ok\]' "$log") $(grep -c '^\[err\]\|^\[exception\]' "$log")"
}

# passed LOG: the names of the tests that passed, sorted, times left out.
passed() {
	grep '^\[ok\]' "$1" | sed 's/ ([0-9]* ms)$//' | sort
}

start_alone() {
	APORT=$(free_port)
	# Its files (BGSAVE's dump.rdb, an AOF) in a scratch dir, as the
	# pair's program has its own /tmp.
	rm -rf "$T/alone.dir" && mkdir "$T/alone.dir"
	spawn alone "$REDIS" --port "$APORT" --bind 127.0.0.1 --save '' \
		--appendonly no --enable-debug-command yes --dir "$T/alone.dir"
	for _ in $(seq 100); do
		redis-cli -p "$APORT" PING >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	fail "redis-server alone did not start"
}

start_pair_exec() {
	SPORT=$(free_port); PPORT=$(free_port); RPORT=$(free_port)
	PSOCK=$T/primary.sock; SSOCK=$T/secondary.sock
	start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
		--service "127.0.0.1:$SPORT" --control "$SSOCK" \
		--tls-creds "$T/creds" "${PROG[@]}"
	start primary "$PRIMARY" --service "127.0.0.1:$PPORT" \
		--control "$PSOCK" --secondary "127.0.0.1:$RPORT" \
		--tls-creds "$T/creds" "${PROG[@]}"
	wait_state "$PSOCK" colo 60 primary secondary
}

printf '%-20s %8s %8s %8s %8s %6s %6s %5s %s\n' unit "alone ok" "alone err" \
	"pair ok" "pair err" ckpts mism secs verify
worse=0
for unit in "${UNITS[@]}"; do
	t0=$SECONDS
	start_alone
	read -r aok aerr < <(run_unit "$unit" "$APORT" "$T/${unit//\//_}.alone")
	stop alone

	start_pair_exec
	read -r pok perr < <(run_unit "$unit" "$PPORT" "$T/${unit//\//_}.pair")
	st=$(state_of "$PSOCK")
	ck=$(status_get "$PSOCK" checkpoints)
	mm=$(status_get "$PSOCK" mismatches)
	if [[ $st == colo ]]; then
		v=$(ctl "$PSOCK" verify 2>&1 | head -1) || v="failed: $v"
	else
		v="pair in state $st"
	fi
	stop primary
	stop secondary
	printf '%-20s %8s %8s %8s %8s %6s %6s %5s %s\n' "$unit" "$aok" "$aerr" \
		"$pok" "$perr" "$ck" "$mm" "$(( SECONDS - t0 ))" "$v"
	# The same tests, by name (a count could hide one lost, one won).
	lost=$(comm -23 <(passed "$T/${unit//\//_}.alone") \
		<(passed "$T/${unit//\//_}.pair"))
	if [[ -n $lost || $v != identical* ]]; then
		worse=1
		[[ -z $lost ]] || echo "passed alone, not through the pair:" >&2
		[[ -z $lost ]] || head -5 <<<"$lost" >&2
		grep '^\[err\]\|^\[exception\]' "$T/${unit//\//_}.pair" | head -5 >&2 || true
	fi
done
(( worse == 0 )) || fail "the pair passed fewer tests, left colo state or verify differed (logs in $T)"
pass "the pair passes every test redis-server alone passes"
