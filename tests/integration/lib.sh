# SPDX-License-Identifier: MIT
# A small fixture library for the integration tests: start the real daemons
# on loopback, wait for them, ask them things, and stop every process this
# test started, by PID, whatever happens.
set -euo pipefail

BUILD=${COLO_BUILD:?COLO_BUILD must point at the meson build directory}
SRC=${COLO_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PRIMARY=$BUILD/primary/colo-primary
SECONDARY=$BUILD/secondary/colo-secondary
CTL=$BUILD/ctl/colo-ctl
KV=$BUILD/guest/colo-kv
NONDET=$BUILD/guest/colo-nondet
INJECT=$BUILD/tests/integration/colo-inject
PROBE_DIRTYLOG=$BUILD/tests/integration/probe-dirtylog

T=$(mktemp -d /tmp/colo-test.XXXXXX)
PIDS=()

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [[ ${KEEP_LOGS:-} == 1 || ${TEST_FAILED:-0} == 1 ]]; then
		echo "logs kept in $T" >&2
	else
		rm -rf "$T"
	fi
}
trap cleanup EXIT

fail() {
	TEST_FAILED=1
	echo "FAIL: $*" >&2
	local f
	for f in "$T"/*.log; do
		[[ -f $f ]] || continue
		echo "---- $(basename "$f") (last 30 lines)" >&2
		tail -n 30 "$f" >&2
	done
	exit 1
}

pass() { echo "ok: $*"; }

# The daemons refuse to start without the dirty log (Linux 6.7+): a test
# that starts them calls this first, and is skipped (exit 77) saying why.
require_dirtylog() {
	local why rc=0
	why=$("$PROBE_DIRTYLOG") || rc=$?
	[[ $rc == 0 ]] && return 0
	[[ $rc == 77 ]] || fail "probe-dirtylog exited $rc: $why"
	echo "SKIP: $why"
	exit 77
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

gen_creds() {  # DIR
	bash "$SRC/deploy/gen-certs.sh" "$1" >/dev/null 2>&1 || fail "gen-certs.sh $1"
}

# start NAME COMMAND...: run in the background, log to $T/NAME.log, and
# wait for its "ready" line.
start() {
	local name=$1; shift
	"$@" >"$T/$name.log" 2>&1 &
	local pid=$!
	PIDS+=("$pid")
	eval "PID_${name//-/_}=$pid"
	for _ in $(seq 300); do
		grep -q '^ready$' "$T/$name.log" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || fail "$name exited before ready"
		sleep 0.1
	done
	fail "$name not ready in 30 s"
}

ctl() { "$CTL" -s "$@"; }

# alive PID: running, and not a zombie waiting to be reaped.
alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ $st != Z ]]
}

# stop_within PID SECONDS WHAT: SIGTERM, and it must be gone within
# SECONDS; prints how many ms it took.
stop_within() {
	local pid=$1 secs=$2 what=$3 t0 t1
	t0=$(date +%s%N)
	kill -TERM "$pid" 2>/dev/null || fail "$what: not running before the stop"
	for _ in $(seq $(( secs * 50 ))); do
		alive "$pid" || break
		sleep 0.02
	done
	alive "$pid" && fail "$what: still running $secs s after SIGTERM"
	t1=$(date +%s%N)
	wait "$pid" 2>/dev/null || true
	echo $(( (t1 - t0) / 1000000 ))
}

# status_field SOCK PYTHON-EXPR-ON-s
status_field() {
	"$CTL" -s "$1" status --json |
		python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"
}

wait_state() {  # SOCK STATE [SECONDS]
	local st=""
	for _ in $(seq $(( ${3:-60} * 10 ))); do
		st=$(status_field "$1" 's["state"]' 2>/dev/null || true)
		[[ $st == "$2" ]] && return 0
		sleep 0.1
	done
	fail "state of $1 is '$st', not '$2'"
}

# wait_syncing SOCK: until a live sync runs; polls without python, which
# is too slow to catch a sync of a few seconds reliably.
wait_syncing() {
	for _ in $(seq 1500); do
		"$CTL" -s "$1" status --json 2>/dev/null |
			grep -q '"state": *"syncing"' && return 0
		sleep 0.01
	done
	fail "$1 never reported syncing"
}

# A pair on loopback: start_pair GUEST [primary flags...]. Uses TLS with
# fresh credentials unless INSECURE=1.
start_pair() {
	local guest=$1; shift
	SPORT=$(free_port); PPORT=$(free_port); RPORT=$(free_port)
	PSOCK=$T/primary.sock; SSOCK=$T/secondary.sock
	local sec=(--insecure) pri=(--insecure)
	if [[ ${INSECURE:-0} != 1 ]]; then
		[[ -d $T/creds ]] || gen_creds "$T/creds"
		sec=(--tls-creds "$T/creds"); pri=(--tls-creds "$T/creds")
	fi
	start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
		--service "127.0.0.1:$SPORT" --control "$SSOCK" \
		--guest "$guest" "${sec[@]}"
	start primary "$PRIMARY" --service "127.0.0.1:$PPORT" \
		--control "$PSOCK" --guest "$guest" \
		--secondary "127.0.0.1:$RPORT" "${pri[@]}" "$@"
}
