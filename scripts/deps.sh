#!/bin/bash
# SPDX-License-Identifier: MIT
# Installs what colo needs to build, test and run, from Debian 12's
# packages. Run as root. Does nothing when everything is already there.
set -euo pipefail

PACKAGES=(
	build-essential pkg-config meson ninja-build   # the build
	libssl-dev openssl                             # TLS 1.3 (OpenSSL 3)
	libjson-c-dev                                  # control protocol JSON
	librdmacm-dev libibverbs-dev                   # RDMA transport
	qemu-system-x86 busybox-static                 # the RDMA VM (tests/rdma/vm-run.sh)
	ibverbs-providers rdmacm-utils ibverbs-utils   # the RDMA VM: rxe's provider, rping, ibv_*
	perftest                                       # bench-rdma.sh: ib_write_bw, the RDMA limit
	redis-tools                                    # redis-cli, redis-benchmark
	redis-server tcl                               # --exec's program; Redis's own tests
	memcached                                      # --exec's second program (test-exec-memcached)
	python3 iproute2 procps                        # tests and the lab
	clang libclang-rt-14-dev                       # fuzz targets (libFuzzer)
	libinih-dev                                    # the config file (INI)
	libsystemd-dev                                 # sd_notify: READY, STATUS, WATCHDOG
	libmicrohttpd-dev curl prometheus              # /metrics, its scrape and promtool
	scdoc bash-completion                          # man pages, colo-ctl completion
	resource-agents pacemaker pacemaker-cli-utils corosync jq  # the OCF agent (jq reads status --json), ocf-tester
)

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing+=("$p")
done
if (( ${#missing[@]} )); then
	if [[ $(id -u) != 0 ]]; then
		echo "deps.sh: missing packages (${missing[*]}); run as root" >&2
		exit 1
	fi
	echo "deps.sh: installing ${missing[*]}"
	apt-get update -qq
	# Debian starts (and enables) redis-server, memcached, prometheus,
	# corosync and pacemaker services on install.
	# colo runs redis-server itself, in its own namespaces; that service
	# would only hold port 6379 on the host. A policy-rc.d that denies
	# every start keeps invoke-rc.d and deb-systemd-invoke from starting
	# it (ours only if there is none, as in containers).
	policy=/usr/sbin/policy-rc.d
	own_policy=
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 755 "$policy"
		own_policy=1
		trap 'rm -f "$policy"' EXIT
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
	if [[ $own_policy ]]; then
		rm -f "$policy"
		trap - EXIT
	fi
fi

# Never a redis-server, memcached, prometheus, corosync or pacemaker
# service, however they were installed: the tests start what they need
# themselves (memcached's would hold port 11211 on the host). Disabled,
# and stopped if one runs (under systemd; elsewhere its init script's link).
for svc in redis-server memcached prometheus corosync pacemaker; do
	dpkg-query -W -f='${Status}' "$svc" 2>/dev/null | grep -q "ok installed" ||
		continue
	if [[ -d /run/systemd/system ]]; then
		systemctl disable --now "$svc.service" >/dev/null 2>&1 || true
	elif [[ -x /etc/init.d/$svc ]]; then
		"/etc/init.d/$svc" stop >/dev/null 2>&1 || true
		update-rc.d "$svc" disable >/dev/null 2>&1 || true
	fi
done

# The RDMA test VM's kernel (Debian's 6.12, which has soft-RoCE) and
# initramfs, cached. Without them the rdma suite SKIPs and says why; that
# is no reason to fail here.
if ! bash "$(dirname "$0")/../tests/rdma/vm-prepare.sh"; then
	echo "deps.sh: the RDMA test VM is not ready (above); the rdma tests will SKIP"
fi
