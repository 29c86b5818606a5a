# SPDX-License-Identifier: MIT
# A small fixture library for the integration tests, and the one the demo
# (scripts/demo.sh) and the pair bench (bench/bench-pair.sh) source too:
# start the real daemons on loopback, wait for them, ask them things, and
# stop every process the script started, by PID, whatever happens.
#
# Set COLO_BUILD (the meson build directory) before sourcing; COLO_TMP_NAME
# names the scratch directory (/tmp/NAME.XXXXXX, colo-test by default).
# Logs are kept when the script fails or KEEP_LOGS=1.
set -euo pipefail

BUILD=${COLO_BUILD:?COLO_BUILD must point at the meson build directory}
SRC=${COLO_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PRIMARY=$BUILD/primary/colo-primary
SECONDARY=$BUILD/secondary/colo-secondary
CTL=$BUILD/ctl/colo-ctl
KV=$BUILD/guest/colo-kv
# For tests that fill guest RAM with DEBUG FILLRANDOM: colo-kv refuses
# DEBUG unless started so, and PVM and SVM must be started alike.
KV_DEBUG=(--guest-arg --enable-debug-command=yes)
NONDET=$BUILD/guest/colo-nondet
INJECT=$BUILD/tests/integration/colo-inject
PROBE_DIRTYLOG=$BUILD/tests/integration/probe-dirtylog
# The sanitizer the daemons were built with (asan, tsan or none): memory
# and latency bounds allow for its shadow memory and slowdown. (Not
# `ldd | grep -q`: under pipefail grep leaving early SIGPIPEs ldd, and
# the pipeline fails; a long output is read with `grep -q ... < <(cmd)`.)
case $(ldd "$PRIMARY" 2>/dev/null) in
*libasan*) SANITIZER=asan ;;
*libtsan*) SANITIZER=tsan ;;
*) SANITIZER=none ;;
esac

T=$(mktemp -d "/tmp/${COLO_TMP_NAME:-colo-test}.XXXXXX")
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

# free_port: a TCP port nothing on this machine uses, below the kernel's
# ephemeral range (so no outgoing connection takes it meanwhile), and not
# one this test handed out already (kept in a file: callers run it in a
# subshell). Cheap: tests start many daemons.
free_port() {
	local lo hi p
	read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range
	touch "$T/ports"
	for _ in $(seq 200); do
		p=$(( 10000 + (RANDOM * 32768 + RANDOM) % (lo - 10000) ))
		grep -qx "$p" "$T/ports" && continue
		[[ -z $(ss -Htan "sport = :$p") ]] || continue
		echo "$p" >>"$T/ports"
		echo "$p"
		return 0
	done
	fail "no free TCP port found"
}

gen_creds() {  # DIR
	bash "$SRC/deploy/gen-certs.sh" "$1" >/dev/null 2>&1 || fail "gen-certs.sh $1"
}

# spawn NAME COMMAND...: run in the background, log to $T/NAME.log; its
# PID is in PID_NAME (dashes become underscores) and in PIDS for cleanup.
spawn() {
	local name=$1; shift
	"$@" >"$T/$name.log" 2>&1 &
	PIDS+=("$!")
	eval "PID_${name//-/_}=$!"
}

pid_of() {  # NAME
	local v=PID_${1//-/_}
	echo "${!v:-}"
}

# wait_ready NAME: the daemon spawned as NAME printed its "ready" line.
wait_ready() {
	local name=$1 pid
	pid=$(pid_of "$name")
	for _ in $(seq 1500); do
		grep -q '^ready$' "$T/$name.log" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || fail "$name exited before ready"
		sleep 0.02
	done
	fail "$name not ready in 30 s"
}

# start NAME COMMAND...: spawn, and wait for its "ready" line.
start() {
	spawn "$@"
	wait_ready "$1"
}

# forget PID: cleanup no longer stops it (it was stopped or reaped).
forget() {
	local kept=() p
	for p in "${PIDS[@]}"; do
		[[ $p == "$1" ]] || kept+=("$p")
	done
	PIDS=("${kept[@]}")
}

ctl() { "$CTL" -s "$@"; }

# ping_ok PORT: the guest behind PORT answers a PING (within 10 s).
ping_ok() {
	[[ $(timeout 10 redis-cli -p "$1" PING 2>/dev/null) == PONG ]]
}

# alive PID: running, and not a zombie waiting to be reaped.
alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ $st != Z ]]
}

# stop NAME: SIGTERM, up to 5 s to go, then SIGKILL; reaped and forgotten.
stop() {
	local pid
	pid=$(pid_of "$1")
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		alive "$pid" || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	forget "$pid"
	unset "PID_${1//-/_}"
}

# require_alive NAME...: each is still running, or the script fails saying
# how it ended.
require_alive() {
	local name pid rc
	for name in "$@"; do
		pid=$(pid_of "$name")
		alive "$pid" && continue
		rc=0; wait "$pid" 2>/dev/null || rc=$?
		forget "$pid"
		(( rc > 128 )) && fail "$name died of signal $(kill -l $(( rc - 128 )))"
		fail "$name exited with status $rc"
	done
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

status_json() { "$CTL" -s "$1" status --json; }

# status_field SOCK PYTHON-EXPR-ON-s
status_field() {
	status_json "$1" |
		python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"
}

# status_get SOCK KEY: the first top-level-looking "KEY": value (a string
# or a number) of the daemon's status, "" when it does not answer. No
# python: polls must be cheap enough to catch a sync of a few seconds.
status_get() {
	local js re="\"$2\": *(\"[^\"]*\"|-?[0-9.]+)"
	js=$("$CTL" -s "$1" status --json 2>/dev/null) || return 0
	[[ $js =~ $re ]] && echo "${BASH_REMATCH[1]//\"/}"
	return 0
}

state_of() { status_get "$1" state; }

# wait_state SOCK STATE [SECONDS [NAME...]]: within SECONDS (60), while
# the processes spawned as NAMEs keep running.
wait_state() {
	local sock=$1 want=$2 st="" deadline=$(( $(date +%s) + ${3:-60} ))
	shift $(( $# < 3 ? $# : 3 ))
	while (( $(date +%s) <= deadline )); do
		(( $# == 0 )) || require_alive "$@"
		st=$(state_of "$sock")
		[[ $st == "$want" ]] && return 0
		sleep "${WAIT_STATE_POLL:-0.02}"
	done
	fail "state of $sock is '$st', not '$want'"
}

# A pair on loopback: start_pair GUEST [primary flags...]. Uses TLS with
# fresh credentials unless INSECURE=1; TRANSPORT=rdma gives both
# --transport rdma, and LINK_ADDR the replication link's address (an RDMA
# device's: RDMA does not run over loopback; 127.0.0.1 by default). The
# secondary's extra flags, if any, in SEC_FLAGS (an array).
start_pair() {
	local guest=$1; shift
	local addr=${LINK_ADDR:-127.0.0.1}
	SPORT=$(free_port); PPORT=$(free_port); RPORT=$(free_port)
	PSOCK=$T/primary.sock; SSOCK=$T/secondary.sock
	local sec=(--insecure) pri=(--insecure)
	if [[ ${INSECURE:-0} != 1 ]]; then
		[[ -d $T/creds ]] || gen_creds "$T/creds"
		sec=(--tls-creds "$T/creds"); pri=(--tls-creds "$T/creds")
	fi
	if [[ -n ${TRANSPORT:-} ]]; then
		sec+=(--transport "$TRANSPORT"); pri+=(--transport "$TRANSPORT")
	fi
	start secondary "$SECONDARY" --listen "$addr:$RPORT" \
		--service "127.0.0.1:$SPORT" --control "$SSOCK" \
		--guest "$guest" "${sec[@]}" ${SEC_FLAGS[@]+"${SEC_FLAGS[@]}"}
	start primary "$PRIMARY" --service "127.0.0.1:$PPORT" \
		--control "$PSOCK" --guest "$guest" \
		--secondary "$addr:$RPORT" "${pri[@]}" "$@"
}
