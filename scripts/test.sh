#!/bin/bash
# SPDX-License-Identifier: MIT
# Installs what is needed, builds, and runs every test:
#   build/        the normal build: every suite (unit, tls, rdma, locking,
#                 fuzz-regress, integration, install: `meson install`
#                 into a scratch --destdir, then used from there; systemd;
#                 redis-suite: Redis's own tests through the pair)
#   build-asan/   ASan+UBSan: unit, tls, fuzz-regress, integration, and
#                 the rdma suite's xport-rdma and rdma-pair
#   build-tsan/   ThreadSanitizer: the locking tests, the units that run
#                 threads, and integration tests whose daemons run their
#                 threads (its guest RAM sits at another base: meson.build)
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

# CI builds the RDMA transport: rdma-core's libraries are Debian's, and a
# build that silently left it out would turn the rdma suite into SKIPs.
bash scripts/build.sh build -Drdma=enabled
run_suites build -- unit tls rdma locking fuzz-regress integration install systemd
# Redis's own test suite through the pair, a few of its units (about 4
# minutes; tests/integration/meson.build): SKIP without ../shared/redis-tests.
run_suites build -- redis-suite

bash scripts/build.sh build-asan -Drdma=enabled -Db_sanitize=address,undefined -Db_lundef=false
# The stop test repeats each state 10 times in the normal build, 3 here.
STOP_REPEAT=3 \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	run_suites build-asan "${ASAN_TIMEOUTS[@]}" -- unit tls fuzz-regress integration
# The rdma suite's VM boots take time (TCG): under ASan only the tests of
# our RDMA code, the transport and the pair; the VM's own checks and the
# binding's refusals run in build/ above. About 3 minutes.
echo "== build-asan: the RDMA transport and pair (in the VM)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	mtest build-asan "${ASAN_TIMEOUTS[@]}" xport-rdma rdma-pair

bash scripts/build.sh build-tsan -Drdma=enabled -Db_sanitize=thread -Db_lundef=false
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
run_suites build-tsan "${TSAN_TIMEOUTS[@]}" -- locking
echo "== build-tsan: threaded unit tests"
mtest build-tsan "${TSAN_TIMEOUTS[@]}" ram-save ramcache chan-rx incoming xport-tcp xport-tls ctl-server evloop

# The daemons under TSan: the primary's migration and hint threads against
# its main loop (control, checkpoints), the live sync's channel threads on both sides (channels); the secondary
# and the guest run instrumented beside them. A daemon that races stops at the first report (halt_on_error), but
# a test need not notice a daemon dying at the end, so every report also
# goes to a file under tsan-reports/ and any such file fails the step.
# About 2 minutes. (test-redial is left out: its 3 s window between two
# dials does not fit the backoff once TSan slows the handshakes.)
reports=build-tsan/tsan-reports
rm -rf "$reports" && mkdir -p "$reports"
echo "== build-tsan: daemons' threads (integration)"
STOP_REPEAT=2 \
TSAN_OPTIONS=$TSAN_OPTIONS:log_path=$PWD/$reports/tsan \
	mtest build-tsan "${TSAN_TIMEOUTS[@]}" \
		pair control stop verify events metrics channels
if compgen -G "$reports/tsan*" >/dev/null; then
	cat "$reports"/tsan*
	echo "ThreadSanitizer reported the above (kept in $reports)"
	exit 1
fi

# libFuzzer (clang, ASan+UBSan): each target for a bounded time from its
# seed corpus, new finds in a scratch dir; a crash or a wrong answer fails
# the run and leaves its input as build-fuzz/crash-*. About 2 minutes.
FUZZ_SECONDS=${FUZZ_SECONDS:-15}
probe=$(mktemp -d)
echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { return !d && n; }' >"$probe/p.c"
if clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" 2>/dev/null; then
	# Only the targets and what they link: the step stays a few minutes.
	if [[ ! -f build-fuzz/build.ninja ]]; then
		CC=clang meson setup build-fuzz -Dfuzzing=enabled -Db_lundef=false >/dev/null
	fi
	names=()
	for dir in tests/fuzz/corpus/*/; do names+=("$(basename "$dir")"); done
	ninja -C build-fuzz "${names[@]/#/tests/fuzz/fuzz-}" >/dev/null
	for name in "${names[@]}"; do
		dir=tests/fuzz/corpus/$name
		mkdir -p "$probe/$name"
		echo "== build-fuzz: fuzz-$name for ${FUZZ_SECONDS}s"
		if ! build-fuzz/tests/fuzz/fuzz-"$name" "$probe/$name" "$dir" \
			-max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
			-max_len=4096 -artifact_prefix=build-fuzz/ -print_final_stats=1 \
			>build-fuzz/fuzz-"$name".log 2>&1; then
			tail -n 60 build-fuzz/fuzz-"$name".log
			echo "fuzz-$name failed; its input is in build-fuzz/ (crash-*, timeout-*, oom-*)"
			exit 1
		fi
		grep -aE '^#[0-9]+[[:space:]]+DONE' build-fuzz/fuzz-"$name".log || true
		echo "Ok: 1" >>"$SUMMARY"
	done
else
	echo "SKIP: fuzz targets: clang cannot build libFuzzer targets here (deps.sh installs clang and libclang-rt-14-dev)"
	echo "Skipped: 1" >>"$SUMMARY"
fi
rm -rf "$probe"

count() { awk -v k="$1" -F: '$1 == k { n += $2 } END { print n + 0 }' "$SUMMARY"; }
passed=$(( $(count Ok) + $(count "Expected Fail") ))
failed=$(( $(count Fail) + $(count Timeout) + $(count "Unexpected Pass") ))
echo "all test suites passed (normal, ASan+UBSan, TSan, fuzz builds)"
echo "tests: $passed passed, $failed failed, $(count Skipped) skipped"
