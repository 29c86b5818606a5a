#!/bin/sh
# SPDX-License-Identifier: MIT
# /init of the RDMA test VM's initramfs (busybox sh; vm-prepare.sh puts it
# there). Stage 1 of the boot: load the modules, make the host's root
# filesystem (9p, read-only) the VM's root with fresh tmpfs where programs
# write, and hand over to stage 2 (vm-stage2.sh, from the run's share) as
# PID 1 on that root. Everything here writes to the console (the run's
# console.log on the host); a failure powers the VM off, and vm-run.sh,
# finding no trace of stage 2, reports the console's tail.
/bin/busybox --install -s /bin
export PATH=/bin

fail() {
	echo "vm-init: $*"
	poweroff -f
	sleep 60
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

for m in $(cat /modules.load); do
	insmod "/lib/modules/$m.ko" || fail "insmod $m failed"
done

# 9p: the larger msize moves binaries and libraries in fewer round trips;
# the host's root is read-only here and its page cache may stay (loose).
p9='trans=virtio,version=9p2000.L,msize=524288'
mount -t 9p -o "$p9,cache=loose,ro" hostroot /host ||
	fail "cannot mount the host's root (9p tag hostroot)"
for d in tmp run var/tmp; do
	mount -t tmpfs -o mode=1777 tmpfs "/host/$d" || fail "tmpfs on /$d"
done
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs devtmpfs /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /host/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /host/dev/shm
[ -d /host/sys/fs/cgroup ] && mount -t cgroup2 cgroup2 /host/sys/fs/cgroup

# The run's own directory (written by vm-run.sh, read and written here):
# stage 2, the command, its environment; its status goes back there.
# cache=none: every write reaches the host before the VM powers off.
mkdir -p /host/run/colo-vm
mount -t 9p -o "$p9,cache=none" colorun /host/run/colo-vm ||
	fail "cannot mount the run's directory (9p tag colorun)"

# Further shares (vm-run.sh's "mounts" file: TAG MODE PATH per line), mounted
# at their host path over the tmpfs that would hide them.
while read -r tag mode path; do
	[ -n "$tag" ] || continue
	mkdir -p "/host$path"
	if [ "$mode" = rw ]; then opts="$p9,cache=none"; else opts="$p9,cache=loose,ro"; fi
	mount -t 9p -o "$opts" "$tag" "/host$path" || fail "cannot mount $path (9p tag $tag)"
done </host/run/colo-vm/mounts

umount /proc /sys /dev 2>/dev/null
exec switch_root /host /bin/bash /run/colo-vm/stage2.sh
