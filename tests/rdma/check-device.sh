#!/bin/bash
# SPDX-License-Identifier: MIT
# check-device.sh: run by vm-run.sh inside the RDMA test VM (the meson test
# rdma-device). Checks that the VM is what colo's RDMA tests assume:
#   1. rxe0 is a verbs device with an active port and a GID for
#      COLO_RDMA_ADDR;
#   2. rping (librdmacm) moves data between a server and a client at
#      COLO_RDMA_ADDR: connection manager, SEND/RECV, RDMA READ and WRITE;
#   3. ibv_rc_pingpong (plain verbs, RC queue pairs) does the same;
#   4. what colo's dirty log and RDMA buffers need: /dev/userfaultfd, the
#      dirty-log probe (PAGEMAP_SCAN) when COLO_BUILD names a build, and
#      unlimited memlock.
# Each server and client is started here and stopped by its PID.
set -uo pipefail

addr=${COLO_RDMA_ADDR:-}
[[ $addr ]] || { echo "SKIP: not inside tests/rdma/vm-run.sh (no COLO_RDMA_ADDR)"; exit 77; }

scratch=$(mktemp -d)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$scratch"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

# Waits for PID (one of ours) for up to SEC seconds; its status, or 124.
wait_for() {  # PID SEC
	local i
	for (( i = 0; i < $2 * 10; i++ )); do
		kill -0 "$1" 2>/dev/null || { wait "$1"; return; }
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 124
}

# --- 1. the device ------------------------------------------------------
ibv_devices | grep -qw rxe0 || fail "ibv_devices does not list rxe0: $(ibv_devices 2>&1)"
info=$(ibv_devinfo -d rxe0 2>&1) || fail "ibv_devinfo -d rxe0: $info"
grep -q 'state:.*PORT_ACTIVE' <<<"$info" || fail "rxe0's port is not active: $info"
# RoCE v2 over IPv4: the GID is the address as an IPv4-mapped IPv6 one.
gid_index=
for g in /sys/class/infiniband/rxe0/ports/1/gids/*; do
	[[ $(cat "$g" 2>/dev/null) == 0000:0000:0000:0000:0000:ffff:* ]] || continue
	hex=$(cut -d: -f7,8 "$g" | tr -d :)
	mapped=$(printf '%d.%d.%d.%d' $((16#${hex:0:2})) $((16#${hex:2:2})) \
		$((16#${hex:4:2})) $((16#${hex:6:2})))
	[[ $mapped == "$addr" ]] && { gid_index=${g##*/}; break; }
done
[[ $gid_index ]] || fail "rxe0 has no GID for $addr"
ok "rxe0: port active, GID $gid_index is $addr"

# --- 2. rping: the connection manager, then SEND/RECV, READ and WRITE ----
# The server answers one client for COUNT rounds; the client checks each
# round's payload itself (-V) and prints it (-v).
count=20
rping -s -a "$addr" -p 7174 -C "$count" -S 4096 -V >"$scratch/rping-server" 2>&1 &
server=$!
pids+=("$server")
# rping's server says nothing when it listens: the client retries until
# its connect is accepted.
client_ok=
for (( try = 0; try < 50; try++ )); do
	rping -c -a "$addr" -p 7174 -C "$count" -S 4096 -V -v >"$scratch/rping-client" 2>&1 &
	client=$!
	pids+=("$client")
	if wait_for "$client" 30; then
		client_ok=1
		break
	fi
	kill -0 "$server" 2>/dev/null || break
	sleep 0.2
done
[[ $client_ok ]] || fail "rping client: $(tail -n 5 "$scratch/rping-client")"
wait_for "$server" 30 || fail "rping server exited $?: $(tail -n 5 "$scratch/rping-server")"
rounds=$(grep -c '^ping data: rdma-ping-' "$scratch/rping-client")
(( rounds == count )) || fail "rping: $rounds rounds of $count: $(tail -n 5 "$scratch/rping-client")"
ok "rping: $count rounds of 4096 bytes verified, client and server exited 0"

# --- 3. ibv_rc_pingpong: RC queue pairs without the connection manager --
iters=200
ibv_rc_pingpong -d rxe0 -g "$gid_index" -p 18515 -n "$iters" -s 4096 \
	>"$scratch/pp-server" 2>&1 &
server=$!
pids+=("$server")
client_ok=
for (( try = 0; try < 50; try++ )); do
	ibv_rc_pingpong -d rxe0 -g "$gid_index" -p 18515 -n "$iters" -s 4096 "$addr" \
		>"$scratch/pp-client" 2>&1 &
	client=$!
	pids+=("$client")
	if wait_for "$client" 60; then
		client_ok=1
		break
	fi
	kill -0 "$server" 2>/dev/null || break
	sleep 0.2
done
[[ $client_ok ]] || fail "ibv_rc_pingpong client: $(tail -n 5 "$scratch/pp-client")"
wait_for "$server" 30 || fail "ibv_rc_pingpong server exited $?: $(tail -n 5 "$scratch/pp-server")"
for side in server client; do
	grep -q "^$iters iters in" "$scratch/pp-$side" ||
		fail "ibv_rc_pingpong $side did not finish $iters iterations: $(cat "$scratch/pp-$side")"
done
ok "ibv_rc_pingpong: $iters round trips of 4096 bytes, $(grep -m1 'bytes in' "$scratch/pp-client")"

# --- 4. what colo's dirty log and registered memory need ----------------
[[ -c /dev/userfaultfd ]] || fail "no /dev/userfaultfd in the VM"
[[ $(ulimit -l) == unlimited ]] || fail "memlock is $(ulimit -l) KiB, not unlimited"
probe=${COLO_BUILD:-}/tests/integration/probe-dirtylog
if [[ ${COLO_BUILD:-} && -x $probe ]]; then
	why=$("$probe") || fail "the dirty log does not work in the VM: $why"
	ok "dirty log: probe-dirtylog passed (userfaultfd, PAGEMAP_SCAN)"
else
	ok "/dev/userfaultfd is there (no COLO_BUILD: probe-dirtylog not run)"
fi
ok "memlock unlimited"
