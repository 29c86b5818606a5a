#!/bin/bash
# SPDX-License-Identifier: MIT
# Stage 2 of the RDMA test VM's boot, run by the host's bash as PID 1 on
# the host's root filesystem (vm-init.sh mounted it; vm-run.sh copied this
# file into the run's directory, /run/colo-vm here). It brings up eth0 and
# the soft-RoCE device rxe0 on it, then runs the caller's command with the
# caller's environment and directory, its stdout and stderr on two
# virtio-serial ports that vm-run.sh copies to its own, and leaves the
# command's exit status in /run/colo-vm/status. Anything that stops the
# command from starting goes to /run/colo-vm/error (one line: vm-run.sh
# makes it a SKIP reason); console chatter goes to the console log.
run=/run/colo-vm
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

off() {
	sync
	echo o >/proc/sysrq-trigger
	# PID 1 must not exit before the power is off (that would panic).
	while :; do sleep 60; done
}
fail() { echo "$*" >"$run/error"; echo "vm-stage2: $*"; off; }

addr=$(cat "$run/addr")
ip link set lo up || fail "ip link set lo up failed"
ip link set eth0 up || fail "no eth0 in the VM"
ip addr add "$addr/24" dev eth0 || fail "ip addr add $addr failed"
rdma link add rxe0 type rxe netdev eth0 ||
	fail "rdma link add rxe0 type rxe netdev eth0 failed"
for dev in /dev/infiniband/uverbs0 /dev/infiniband/rdma_cm; do
	[[ -c $dev ]] || fail "no $dev after creating rxe0"
done

# The command's two streams: virtio-serial ports found by their names.
for p in /sys/class/virtio-ports/*; do
	case $(cat "$p/name" 2>/dev/null) in
	colo.out) out_port=/dev/${p##*/} ;;
	colo.err) err_port=/dev/${p##*/} ;;
	esac
done
[[ ${out_port:-} && ${err_port:-} ]] || fail "no virtio-serial ports colo.out, colo.err"

# Registered memory is pinned: root's memlock limit, unlimited as on a
# host set up for RDMA.
ulimit -l unlimited
ulimit -n 65536
mapfile -d '' argv <"$run/argv"
cwd=$(cat "$run/cwd")

cut -d' ' -f1 /proc/uptime >"$run/started"
# A clean environment, then exactly the caller's (env is `export -p`).
env -i /bin/bash -c '. "$1" && cd "$2" && shift 2 && exec "$@"' \
	vm-command "$run/env" "$cwd" "${argv[@]}" \
	</dev/null >"$out_port" 2>"$err_port"
status=$?
cut -d' ' -f1 /proc/uptime >"$run/finished"
echo "$status" >"$run/status"
off
