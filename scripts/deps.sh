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
	redis-tools                                    # redis-cli, redis-benchmark
	python3 iproute2 procps                        # tests and the lab
	clang libclang-rt-14-dev                       # fuzz targets (libFuzzer)
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
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
fi
