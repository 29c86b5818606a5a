# SPDX-License-Identifier: MIT
# The two-host lab (deploy/lab/colo-lab) for the integration tests: a
# name and an address range of its own, so a lab someone else has up is
# left alone; SKIP (77) when this machine cannot host it; taken down
# whatever happens. Source after tests/integration/lib.sh.

LAB_SCRIPT=$SRC/deploy/lab/colo-lab
# The failover drill (deploy/lab/drill), as built.
DRILL=$BUILD/deploy/lab/drill/colo-drill

lab_skip_unless_possible() {
	if [[ $(id -u) != 0 ]]; then
		echo "SKIP: needs root to create network namespaces (the two-host lab)"
		exit 77
	fi
	if ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then
		echo "SKIP: 'ip netns' is not available here (iproute2 with network namespaces)"
		exit 77
	fi
	local probe="colop$$"
	probe=${probe:0:15}
	if ! ip netns add "$probe" 2>/dev/null; then
		echo "SKIP: cannot create a network namespace here (ip netns add failed)"
		exit 77
	fi
	ip netns del "$probe"
}

# A free 10.201.2N.0/24 for the lab's bridge: N from 8 up, so the default
# lab (N=0) and a few by hand are never in the way.
lab_pick_net() {
	local n
	for n in $(seq 8 63); do
		if ! ip -4 addr show | grep "inet 10\.201\.$((2 * n))\." >/dev/null; then
			echo "$n"
			return 0
		fi
	done
	return 1
}

lab() { "$LAB_SCRIPT" "$@"; }

# lab_var KEY: one value from the lab's env file.
lab_var() { sed -n "s/^$1=//p" "$COLO_LAB_DIR/lab.env"; }

# Down whatever the outcome; on failure keep the daemons' logs in $T.
lab_cleanup() {
	if [[ -d $COLO_LAB_DIR/logs && ${TEST_FAILED:-0} == 1 ]]; then
		cp -r "$COLO_LAB_DIR/logs" "$T/lab-logs" 2>/dev/null || true
	fi
	lab down >/dev/null 2>&1 || true
}

# lab_init: skip if this machine cannot host the lab, else choose its name,
# addresses and directory, and take it down at exit.
lab_init() {
	lab_skip_unless_possible
	export COLO_LAB_DIR=$T/lab
	export COLO_LAB_NAME=t$(( $$ % 10000000 ))
	COLO_LAB_NET=$(lab_pick_net) ||
		{ echo "SKIP: no free 10.201.x.0/24 range for the lab"; exit 77; }
	export COLO_LAB_NET
	trap 'lab_cleanup; cleanup' EXIT
}

# lab_logs_tail: the last lines of every daemon log, for a failure.
lab_logs_tail() {
	local f
	for f in "$COLO_LAB_DIR"/logs/*.log; do
		[[ -f $f ]] || continue
		echo "---- $(basename "$f") (last 15 lines)"
		tail -n 15 "$f"
	done
}
