#!/bin/bash
# SPDX-License-Identifier: MIT
# vm-prepare.sh [--print]: the kernel and initramfs of the RDMA test VM
# (tests/rdma/vm-run.sh), cached under COLO_RDMA_VM_CACHE
# (/var/cache/colo-rdma-vm).
#
# This host's kernel has no RDMA subsystem; Debian 12's 6.12 kernel package
# has soft-RoCE (rdma_rxe). The package is downloaded and unpacked into the
# cache, never installed. The initramfs is busybox-static, the modules the
# VM needs (with their dependencies, from each module's own .modinfo) and
# vm-init.sh as /init; it is keyed by a hash of those, so an edited
# vm-init.sh gets its own image while older ones stay usable by runs that
# already started.
#
# Idempotent and safe to run concurrently (flock on the cache). Exit 0 when
# ready (--print then writes "KERNEL INITRD" on stdout); otherwise exit 1
# with one line on stderr saying why, which vm-run.sh turns into a SKIP.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${COLO_RDMA_VM_CACHE:-/var/cache/colo-rdma-vm}
print=
[[ ${1:-} == --print ]] && print=1

# What the VM loads, in no particular order: the resolver adds every
# dependency and orders them. rdma_ucm gives /dev/infiniband/rdma_cm,
# ib_uverbs the verbs devices, 9p the host's filesystem, veth a spare
# pair for tests that want two network namespaces. rxe computes its ICRC
# with the crypto API's "crc32", which the kernel would ask modprobe for
# (there is none in the VM).
MODULES=(virtio_net 9p 9pnet_virtio rdma_rxe crc32_generic ib_uverbs rdma_ucm veth)

die() { echo "vm-prepare: $*" >&2; exit 1; }

busybox=$(command -v busybox || true)
[[ $busybox ]] || die "no busybox (apt-get install busybox-static)"
# The initramfs has no libc: a dynamically linked busybox cannot run there.
ldd "$busybox" >/dev/null 2>&1 &&
	die "$busybox is dynamically linked (apt-get install busybox-static)"

mkdir -p "$cache" 2>/dev/null && [[ -w $cache ]] ||
	die "cannot write the cache $cache (run as root, or set COLO_RDMA_VM_CACHE)"
exec 9>>"$cache/lock"
flock -w 900 9 || die "the cache $cache stayed locked for 15 minutes"

# --- the kernel: one package, unpacked once -------------------------------

# The newest linux-image-6.12.N+deb12-amd64-unsigned apt knows about.
find_package() {
	apt-cache search --names-only \
		'^linux-image-6\.12\.[0-9.]+\+deb12-amd64-unsigned$' 2>/dev/null |
		awk '{ print $1 }' | sort -V | tail -n 1
}

# name_to_path: every module of the unpacked tree by its name ('-' and '_'
# are the same to the kernel).
declare -A name_to_path
declare -A placed

# Adds NAME after its dependencies to modules.load (depth first).
resolve() {  # UNPACKED-MODULES-DIR OUT-DIR NAME
	local tree=$1 out=$2 name=${3//-/_}
	[[ ${placed[$name]:-} ]] && return 0
	local src=${name_to_path[$name]:-}
	[[ $src ]] || die "module $name is not in the kernel package"
	placed[$name]=1
	case $src in
	*.xz) xz -dc "$src" >"$out/modules/$name.ko" ;;
	*.zst) zstd -qdc "$src" >"$out/modules/$name.ko" ;;
	*) cp "$src" "$out/modules/$name.ko" ;;
	esac
	local deps dep
	deps=$(tr '\0' '\n' <"$out/modules/$name.ko" | grep -a -m1 '^depends=' || true)
	deps=${deps#depends=}
	for dep in ${deps//,/ }; do
		resolve "$tree" "$out" "$dep"
	done
	echo "$name" >>"$out/modules.load"
}

# The package is kept in the cache: a changed MODULES list unpacks it
# again without a download.
download() {  # prints the .deb's path
	local pkg deb
	deb=$(ls "$cache"/linux-image-6.12.*.deb 2>/dev/null | sort -V | tail -n 1)
	if [[ $deb ]]; then echo "$deb"; return; fi
	pkg=$(find_package)
	if [[ -z $pkg ]]; then
		apt-get update -qq >/dev/null 2>&1 || true
		pkg=$(find_package)
	fi
	[[ $pkg ]] || die "apt knows no linux-image-6.12.*+deb12-amd64-unsigned package"
	echo "vm-prepare: downloading $pkg (about 110 MB) into $cache" >&2
	local dl
	dl=$(mktemp -d "$cache/download.XXXXXX")
	if ! (cd "$dl" && apt-get download -q "$pkg" >/dev/null 2>&1); then
		apt-get update -qq >/dev/null 2>&1 || true
		(cd "$dl" && apt-get download -q "$pkg" >/dev/null 2>&1) ||
			{ rm -rf "$dl"; die "apt-get download $pkg failed"; }
	fi
	deb=$(ls "$dl"/*.deb)
	mv "$deb" "$cache/"
	rm -rf "$dl"
	echo "$cache/${deb##*/}"
}

unpack_kernel() {  # DEB: writes $cache/kernel-VERSION/ and $cache/current
	local deb=$1 work
	work=$(mktemp -d "$cache/unpack.XXXXXX")
	# Removed on any exit: a failed unpack leaves nothing half-made.
	trap 'rm -rf "$work"' EXIT
	dpkg-deb -x "$deb" "$work/x" || die "dpkg-deb cannot unpack $deb"
	local kver
	kver=$(ls "$work/x/lib/modules")
	[[ $kver && -f $work/x/boot/vmlinuz-$kver ]] || die "$deb has no kernel image"

	local out=$work/kernel-$kver f n
	mkdir -p "$out/modules"
	while IFS= read -r f; do
		n=${f##*/}; n=${n%%.ko*}
		name_to_path[${n//-/_}]=$f
	done < <(find "$work/x/lib/modules/$kver" -name '*.ko*')
	for n in "${MODULES[@]}"; do
		resolve "$work/x" "$out" "$n"
	done
	cp "$work/x/boot/vmlinuz-$kver" "$out/vmlinuz"
	echo "${MODULES[*]}" >"$out/modules.wanted"
	rm -rf "$cache/kernel-$kver"
	mv "$out" "$cache/kernel-$kver"
	echo "$kver" >"$cache/current.new"
	mv "$cache/current.new" "$cache/current"
	rm -rf "$work"
	trap - EXIT
}

kdir=
if [[ -f $cache/current ]]; then
	kdir=$cache/kernel-$(cat "$cache/current")
fi
if [[ -z $kdir || ! -f $kdir/vmlinuz ||
	"$(cat "$kdir/modules.wanted" 2>/dev/null)" != "${MODULES[*]}" ]]; then
	deb=$(download)
	unpack_kernel "$deb"
	kdir=$cache/kernel-$(cat "$cache/current")
fi

# --- the initramfs: busybox, the modules, /init ---------------------------

hash=$(cat "$here/vm-init.sh" "$kdir/modules.load" "$busybox" |
	sha256sum | cut -c1-16)
initrd=$kdir/initrd-$hash.img
if [[ ! -f $initrd ]]; then
	root=$(mktemp -d "$cache/initrd.XXXXXX")
	trap 'rm -rf "$root"' EXIT
	mkdir -p "$root"/{bin,dev,proc,sys,host,lib/modules}
	cp "$busybox" "$root/bin/busybox"
	ln -s busybox "$root/bin/sh"
	cp "$here/vm-init.sh" "$root/init"
	chmod 755 "$root/init"
	cp "$kdir"/modules/*.ko "$root/lib/modules/"
	cp "$kdir/modules.load" "$root/modules.load"
	# The kernel needs /dev/console before devtmpfs is mounted.
	mknod -m 600 "$root/dev/console" c 5 1
	(cd "$root" && find . | LC_ALL=C sort | busybox cpio -o -H newc 2>/dev/null) |
		gzip -1 >"$root.img"
	mv "$root.img" "$initrd"
	rm -rf "$root"
	trap - EXIT
fi

if [[ $print ]]; then
	echo "$kdir/vmlinuz $initrd"
fi
