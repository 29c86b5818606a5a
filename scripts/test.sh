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

SUMMARY=$(mktemp)
trap 'rm -f "$SUMMARY"' EXIT

# meson test, with its closing counts kept for the total at the end.
mtest() {  # BUILD-DIR ARGS...
	local dir=$1; shift
	meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" |
		tee "$dir/last-test-run.txt"
	grep -E '^(Ok|Fail|Skipped|Timeout|Expected Fail|Unexpected Pass):' \
		"$dir/last-test-run.txt" >>"$SUMMARY"
}

# Each test's timeout (tests/*/meson.build) is about 3x its normal run;
# sanitizers slow them down, ASan about 1.5-2.5x, TSan more.
ASAN_TIMEOUTS=(--timeout-multiplier 2.5)
TSAN_TIMEOUTS=(--timeout-multiplier 3)

run_suites() {  # BUILD-DIR [MESON-TEST-OPTIONS...] -- SUITE...
	local dir=$1; shift
	local args=()
	while [[ $1 != -- ]]; do args+=("$1"); shift; done
	shift
	local s
	for s in "$@"; do args+=(--suite "$s"); done
	echo "== $dir: ${*}"
	mtest "$dir" "${args[@]}"
}

bash scripts/build.sh build
run_suites build -- unit tls rdma locking fuzz-regress integration

bash scripts/build.sh build-asan -Db_sanitize=address,undefined -Db_lundef=false
# The stop test repeats each state 10 times in the normal build, 3 here.
STOP_REPEAT=3 \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	run_suites build-asan "${ASAN_TIMEOUTS[@]}" -- unit tls rdma fuzz-regress integration

bash scripts/build.sh build-tsan -Db_sanitize=thread -Db_lundef=false
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
run_suites build-tsan "${TSAN_TIMEOUTS[@]}" -- locking
echo "== build-tsan: threaded unit tests"
mtest build-tsan "${TSAN_TIMEOUTS[@]}" ram-save ramcache incoming xport-tcp xport-tls ctl-server evloop

count() { awk -v k="$1" -F: '$1 == k { n += $2 } END { print n + 0 }' "$SUMMARY"; }
passed=$(( $(count Ok) + $(count "Expected Fail") ))
failed=$(( $(count Fail) + $(count Timeout) + $(count "Unexpected Pass") ))
echo "all test suites passed (normal, ASan+UBSan, TSan builds)"
echo "tests: $passed passed, $failed failed, $(count Skipped) skipped"
