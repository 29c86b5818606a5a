# SPDX-License-Identifier: MIT
# What the pair benchmarks (bench-pair.sh, bench-exec.sh) share, sourced
# after tests/integration/lib.sh: the physical limits measured in the same
# run, and a SET load through the primary sampled by `status`.

# measure_limits: TCP_MIBS (loopback TCP), AES_KBS and AES_MIBS
# (openssl speed, AES-256-GCM with 16 KiB records).
measure_limits() {
	cc -O2 -std=c11 -D_GNU_SOURCE -pthread -o "$T/loopback-tcp" \
		"$SRC/bench/loopback-tcp.c" || fail "cannot compile bench/loopback-tcp.c"
	TCP_MIBS=$("$T/loopback-tcp" 2 | cut -d' ' -f1)
	# openssl prints 1000s of bytes per second for the one block size asked.
	AES_KBS=$(openssl speed -evp aes-256-gcm -seconds 2 -bytes 16384 2>/dev/null |
		awk '$1 == "AES-256-GCM" { sub(/k$/, "", $2); print $2 }')
	[[ -n $AES_KBS ]] || fail "openssl speed printed no AES-256-GCM figure"
	AES_MIBS=$(python3 -c "print('%.1f' % ($AES_KBS * 1000 / 2**20))")
}

# steady_set NAME N CLIENTS [redis-benchmark ARGS...]: a SET load through
# the primary at $PPORT, its status every 200 ms into $T/NAME.samples, the
# CSV into $T/NAME.csv, status before and after into $T/NAME.{before,after}.json.
steady_set() {
	local name=$1 n=$2 clients=$3 bpid; shift 3
	status_json "$PSOCK" >"$T/$name.before.json"
	cut -d' ' -f1 /proc/loadavg >"$T/$name.csv.load"
	redis-benchmark -p "$PPORT" -t set -n "$n" -c "$clients" "$@" --csv \
		>"$T/$name.csv" 2>"$T/$name.err" &
	bpid=$!
	PIDS+=("$bpid")
	: >"$T/$name.samples"
	while kill -0 "$bpid" 2>/dev/null; do
		require_alive primary secondary
		status_json "$PSOCK" >>"$T/$name.samples" 2>/dev/null && echo >>"$T/$name.samples"
		sleep 0.2
	done
	if ! wait "$bpid"; then
		require_alive primary secondary
		fail "redis-benchmark ($name) failed: $(tail -n 3 "$T/$name.err")"
	fi
	forget "$bpid"
	status_json "$PSOCK" >"$T/$name.after.json"
}
