#!/bin/bash
# SPDX-License-Identifier: MIT
# vm-run.sh [--mem MIB] [--cpus N] [--timeout SEC] -- COMMAND [ARGS...]
#
# Runs COMMAND as root in a throwaway QEMU VM (TCG) whose kernel has
# soft-RoCE, so that colo's RDMA code runs for real on a host without an
# RDMA subsystem. Inside the VM:
#   - the host's / is the root filesystem, read-only (9p); /tmp, /run,
#     /var/tmp and /dev/shm are the VM's own tmpfs and vanish with it;
#   - COMMAND runs in the caller's directory with exactly the caller's
#     exported environment (PWD, OLDPWD and SHLVL are the VM's own), stdin
#     from /dev/null, memlock unlimited;
#   - eth0 has COLO_RDMA_ADDR (exported to COMMAND) and the rxe device
#     rxe0 runs over it; a client and a server in the VM reach each other
#     at that address (rxe loops packets to its own address back);
#   - COLO_VM_OUT, when the caller exports it, names a host directory that
#     the VM mounts read-write at the same path: results the host keeps;
#   - a caller directory, COMMAND's paths, COLO_SRC or COLO_BUILD under
#     /tmp, /run, /var/tmp or /dev/shm are mounted (read-only) over the
#     VM's tmpfs at the same path, so a build tree in /tmp still works.
# COMMAND's stdout and stderr are this script's; the kernel's console goes
# to a log under the cache (logs/), named in any failure message. The exit
# status is COMMAND's (77 passes through: meson's SKIP). When the VM cannot
# run here (no QEMU, no kernel, a failed boot) it prints "SKIP: <reason>"
# and exits 77; past --timeout (boot included) the VM is killed and the
# exit is 1. COLO_VM_VERBOSE=1 prints the boot and command times.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${COLO_RDMA_VM_CACHE:-/var/cache/colo-rdma-vm}
mem=2048
cpus=2
timeout=600
addr=10.0.2.15

usage() {
	echo "usage: vm-run.sh [--mem MIB] [--cpus N] [--timeout SEC] -- COMMAND [ARGS...]" >&2
	exit 2
}
number() {  # OPTION VALUE
	[[ $2 =~ ^[1-9][0-9]*$ ]] || { echo "vm-run: $1 needs a positive integer, not '$2'" >&2; exit 2; }
}
while (( $# )); do
	case $1 in
	--mem) number "$1" "${2-}"; mem=$2; shift 2 ;;
	--cpus) number "$1" "${2-}"; cpus=$2; shift 2 ;;
	--timeout) number "$1" "${2-}"; timeout=$2; shift 2 ;;
	--) shift; break ;;
	*) usage ;;
	esac
done
(( $# )) || usage

skip() { echo "SKIP: $*"; exit 77; }

qemu=$(command -v qemu-system-x86_64) || skip "no qemu-system-x86_64 (apt-get install qemu-system-x86)"
prep_err=$(mktemp)
paths=$(bash "$here/vm-prepare.sh" --print 2>"$prep_err")
prep_status=$?
reason=$(grep -v '^vm-prepare: downloading' "$prep_err" | tail -n 1)
rm -f "$prep_err"
(( prep_status == 0 )) || skip "${reason:-vm-prepare.sh failed}"
read -r kernel initrd <<<"$paths"

# Everything of this run in one private directory: share/ is what the VM
# sees (/run/colo-vm there), the rest stays on the host.
tmp=$(mktemp -d /tmp/colo-vm.XXXXXX) || exit 1
share=$tmp/share
mkdir "$share"
mkdir -p "$cache/logs" 2>/dev/null
# A day of console logs is kept (the names reuse PIDs).
find "$cache/logs" -name 'console.*.log' -mmin +1440 -delete 2>/dev/null
log=$cache/logs/console.$$.log
[[ -w $cache/logs ]] || log=$tmp/console.log
: >"$log"

qpid= spid= opid= epid=
cleanup() {
	[[ $qpid ]] && kill -KILL "$qpid" 2>/dev/null
	[[ $spid ]] && kill "$spid" 2>/dev/null
	[[ $opid ]] && kill "$opid" 2>/dev/null
	[[ $epid ]] && kill "$epid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
# Stopped from outside (meson's timeout sends SIGTERM): the VM goes too.
stopped() {
	echo "vm-run: stopped by SIG$1 while '$cmdline' ran; the VM was killed (console: $log)" >&2
	exit "$2"
}
cmdline=$*
trap 'stopped TERM 143' TERM
trap 'stopped INT 130' INT
trap 'stopped HUP 129' HUP

# --- what the VM runs ---------------------------------------------------

cp "$here/vm-stage2.sh" "$share/stage2.sh"
echo "$addr" >"$share/addr"
printf '%s\0' "$@" >"$share/argv"
pwd >"$share/cwd"
export COLO_RDMA_ADDR=$addr
(unset -v PWD OLDPWD SHLVL; export -p) >"$share/env"

# Shares beyond the root: a path the VM's tmpfs would hide, by its top
# directory under the hidden one; then COLO_VM_OUT read-write.
virtfs=()
: >"$share/mounts"
declare -A shared
add_share() {  # MODE PATH
	local tag=s${#virtfs[@]}
	virtfs+=(-virtfs "local,path=$2,mount_tag=$tag,security_model=none$([[ $1 == ro ]] && echo ,readonly=on)")
	echo "$tag $1 $2" >>"$share/mounts"
}
hidden_top() {  # PATH: prints /tmp/X for /tmp/X/..., nothing if not hidden
	local p h rest
	p=$(realpath -m -- "$1")
	for h in /tmp /var/tmp /dev/shm /run; do
		[[ $p == "$h"/* ]] || continue
		rest=${p#"$h"/}
		echo "$h/${rest%%/*}"
		return
	done
}
for p in "$PWD" "${COLO_SRC:-}" "${COLO_BUILD:-}" "$@"; do
	[[ $p == /* && -e $p ]] || continue
	top=$(hidden_top "$p")
	[[ $top && -d $top && ! ${shared[$top]:-} && $top != /run/colo-vm ]] || continue
	shared[$top]=1
	add_share ro "$top"
done
if [[ ${COLO_VM_OUT:-} ]]; then
	out=$(realpath -e -- "$COLO_VM_OUT" 2>/dev/null) && [[ -d $out ]] ||
		{ echo "vm-run: COLO_VM_OUT=$COLO_VM_OUT is not a directory" >&2; exit 2; }
	add_share rw "$out"
fi

# --- the VM -------------------------------------------------------------

# COMMAND's stdout and stderr come out of two virtio-serial ports into
# FIFOs that cat copies to ours as they arrive.
mkfifo "$tmp/out" "$tmp/err"
cat "$tmp/out" &
opid=$!
cat "$tmp/err" >&2 &
epid=$!

bios=()
# qboot starts a -kernel guest in a fraction of SeaBIOS's time.
[[ -f /usr/share/qemu/qboot.rom ]] && bios=(-bios /usr/share/qemu/qboot.rom)
append="console=ttyS0 loglevel=4 panic=-1 mitigations=off"
t0=$EPOCHREALTIME
# pdeathsig: should this script be SIGKILLed, the kernel kills QEMU too.
setpriv --pdeathsig KILL -- "$qemu" \
	-nodefaults -no-user-config -display none -no-reboot \
	-machine pc -accel tcg -cpu max -smp "$cpus" -m "$mem" "${bios[@]}" \
	-kernel "$kernel" -initrd "$initrd" -append "$append" \
	-serial "file:$log" \
	-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
	-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
	-virtfs "local,path=$share,mount_tag=colorun,security_model=none" \
	"${virtfs[@]}" \
	-netdev user,id=net0,restrict=on -device virtio-net-pci,netdev=net0 \
	-device virtio-serial-pci,id=vser \
	-chardev "file,id=out,path=$tmp/out" -device virtserialport,bus=vser.0,chardev=out,name=colo.out \
	-chardev "file,id=err,path=$tmp/err" -device virtserialport,bus=vser.0,chardev=err,name=colo.err \
	</dev/null >"$tmp/qemu.log" 2>&1 &
qpid=$!
sleep "$timeout" &
spid=$!
wait -n "$qpid" "$spid"
timed_out=
if kill -0 "$qpid" 2>/dev/null; then
	timed_out=1
	kill -KILL "$qpid"
fi
wait "$qpid" 2>/dev/null
qemu_status=$?
qpid=
kill "$spid" 2>/dev/null
spid=
t1=$EPOCHREALTIME

# A cat still waiting for QEMU to open its FIFO (QEMU failed first) gets a
# writer that closes at once, so both reach end of file and finish.
for f in "$tmp/out" "$tmp/err"; do
	exec 8<>"$f"
	exec 8>&-
done
wait "$opid" "$epid" 2>/dev/null
opid= epid=

console_tail() {
	echo "vm-run: the VM's console (last lines of $log):" >&2
	tail -n 15 "$log" | sed 's/^/  /' >&2
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

if [[ -f $share/error ]]; then
	skip "the VM: $(cat "$share/error") (console: $log)"
fi
if [[ ! -f $share/started ]]; then
	console_tail
	if [[ $timed_out ]]; then
		skip "the VM did not reach the command within --timeout $timeout s (console: $log)"
	fi
	skip "the VM did not boot (QEMU exited with $qemu_status: $(tail -n 1 "$tmp/qemu.log")) (console: $log)"
fi
if [[ $timed_out ]]; then
	console_tail
	echo "vm-run: '$*' ran past --timeout $timeout s; the VM was killed" >&2
	exit 1
fi
if [[ ! -f $share/status ]]; then
	console_tail
	echo "vm-run: the VM stopped while '$*' ran (QEMU exited with $qemu_status)" >&2
	exit 1
fi

started=$(cat "$share/started")
finished=$(cat "$share/finished")
total=$(elapsed "$t0" "$t1")
command_s=$(elapsed "$started" "$finished")
summary="boot $(elapsed "$command_s" "$total") s (kernel to command $started s), command $command_s s, total $total s"
echo "vm-run: $summary" >>"$log"
[[ ${COLO_VM_VERBOSE:-} == 1 ]] && echo "vm-run: $summary" >&2
exit "$(cat "$share/status")"
