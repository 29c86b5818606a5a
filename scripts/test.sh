#!/bin/bash
# SPDX-License-Identifier: MIT
# Installs what is needed, builds, and runs every test:
#   build/        the normal build: every suite (unit, tls, rdma, locking,
#                 fuzz-regress, integration)
#   build-asan/   ASan+UBSan: unit, tls, rdma, fuzz-regress, integration
#   build-tsan/   ThreadSanitizer: the locking tests and the units that run
#                 threads (the guest-RAM tests map memory at the guest's
#                 fixed address, which TSan's own layout claims)
# A test that cannot run here (no RDMA device, no root) prints SKIP and why.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

run_suites() {  # BUILD-DIR SUITE...
	local dir=$1; shift
	local args=()
	local s
	for s in "$@"; do args+=(--suite "$s"); done
	echo "== $dir: ${*}"
	meson test -C "$dir" --print-errorlogs --num-processes 2 "${args[@]}"
}

bash scripts/build.sh build
run_suites build unit tls rdma locking fuzz-regress integration

bash scripts/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	run_suites build-asan unit tls rdma fuzz-regress integration

bash scripts/build.sh build-tsan -Db_sanitize=thread -Db_lundef=false
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
run_suites build-tsan locking
echo "== build-tsan: threaded unit tests"
meson test -C build-tsan --print-errorlogs --num-processes 2 \
	ram-save ramcache incoming xport-tcp xport-tls ctl-server evloop

echo "all test suites passed"
