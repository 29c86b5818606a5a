#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench-exec.sh [BUILD-DIR]: what protecting an unmodified redis-server
# (--exec) costs, from one run on loopback with TLS, beside the limits
# measured in the same run:
#
#   1. redis-benchmark -t set,get,incr: redis-server alone, behind
#      colo-primary --exec standalone, and behind the protected pair:
#      requests per second, p50 and p99 latency, and CPU per 1000 requests
#      on the primary host (the daemon and the program; redis-server alone:
#      itself);
#   2. checkpoints at a steady SET load with a checkpoint every second:
#      pages and bytes per checkpoint and the pause, beside the time the
#      same bytes take at the slower of loopback TCP and AES-256-GCM;
#   3. protecting a redis-server that already holds about 1 GiB (DEBUG
#      POPULATE): live sync time, pages and bytes, the first checkpoint's
#      pause and pages, beside the same bytes at that limit.
#
# Needs the meson build, redis-server and redis-tools, openssl, python3,
# cc, about 8 GiB of free memory. Two to three minutes.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=$(cd "${1:-$SRC/build}" && pwd)
export COLO_BUILD=$B COLO_TMP_NAME=colo-bench-exec
source "$SRC/tests/integration/lib.sh"
source "$SRC/bench/bench-lib.sh"
WAIT_STATE_POLL=0.1

REDIS=/usr/bin/redis-server
N=${BENCH_N:-100000}
CLIENTS=50
SET_N=200000
BIG_KEYS=900000
BIG_SIZE=1000
for c in redis-cli redis-benchmark openssl python3 cc; do
	command -v "$c" >/dev/null || { echo "bench-exec: $c not installed" >&2; exit 1; }
done
[[ -x $REDIS ]] || { echo "bench-exec: $REDIS not installed" >&2; exit 1; }
trap 'exit 130' INT TERM

OPTS=(--save '' --appendonly no)
PROG=(--exec-port 6379 --exec "$REDIS" --port 6379 "${OPTS[@]}")

# cpu_ticks PID...: utime + stime of each, summed (clock ticks).
cpu_ticks() {
	local sum=0 pid f
	for pid in "$@"; do
		# Fields 14 and 15, counted after the ")" that ends comm.
		f=($(sed 's/.*) //' "/proc/$pid/stat"))
		sum=$(( sum + f[11] + f[12] ))
	done
	echo "$sum"
}

# bench NAME PORT PID...: redis-benchmark's CSV into $T/NAME.csv and the
# CPU the PIDs spent during it into $T/NAME.cpu.
bench() {
	local name=$1 port=$2 c0 c1; shift 2
	c0=$(cpu_ticks "$@")
	redis-benchmark -p "$port" -t set,get,incr -n "$N" -c "$CLIENTS" --csv \
		>"$T/$name.csv" 2>"$T/$name.err" ||
		fail "redis-benchmark ($name): $(tail -n 3 "$T/$name.err")"
	c1=$(cpu_ticks "$@")
	echo $(( c1 - c0 )) >"$T/$name.cpu"
}

echo "colo bench-exec: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores," \
	"$(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "measuring the limits..."
measure_limits
gen_creds "$T/tls"

echo "redis-server alone..."
XPORT=$(free_port)
spawn alone "$REDIS" --port "$XPORT" --bind 127.0.0.1 "${OPTS[@]}"
for _ in $(seq 100); do
	redis-cli -p "$XPORT" PING >/dev/null 2>&1 && break
	sleep 0.05
done
bench alone "$XPORT" "$(pid_of alone)"
stop alone

echo "colo-primary --exec, standalone..."
APORT=$(free_port)
start standalone "$PRIMARY" --service "127.0.0.1:$APORT" \
	--control "$T/standalone.sock" "${PROG[@]}"
bench standalone "$APORT" "$(pid_of standalone)" \
	"$(status_get "$T/standalone.sock" guest_pid)"
stop standalone

echo "the protected pair (TLS)..."
PPORT=$(free_port); SPORT=$(free_port); RPORT=$(free_port)
PSOCK=$T/primary.sock; SSOCK=$T/secondary.sock
start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$SSOCK" --tls-creds "$T/tls" \
	"${PROG[@]}"
start primary "$PRIMARY" --service "127.0.0.1:$PPORT" --control "$PSOCK" \
	--secondary "127.0.0.1:$RPORT" --tls-creds "$T/tls" "${PROG[@]}"
wait_state "$PSOCK" colo 60 primary secondary
GPID=$(status_get "$PSOCK" guest_pid)
status_json "$PSOCK" >"$T/pair.before.json"
bench pair "$PPORT" "$(pid_of primary)" "$GPID"
status_json "$PSOCK" >"$T/pair.after.json"
[[ $(state_of "$PSOCK") == colo ]] || fail "the pair left colo state"

echo "steady SET load, checkpoint every 1000 ms..."
"$CTL" -s "$PSOCK" set checkpoint-delay 1000 >/dev/null
steady_set steady "$SET_N" "$CLIENTS" -r 100000
VERIFY=$("$CTL" -s "$PSOCK" verify 2>&1 | head -1) || true
stop primary
stop secondary

echo "protecting a redis-server that holds ${BIG_KEYS} keys of ${BIG_SIZE} bytes..."
PPORT=$(free_port); SPORT=$(free_port); RPORT=$(free_port)
BIG=(--exec-port 6379 --exec "$REDIS" --port 6379 "${OPTS[@]}"
     --enable-debug-command yes)
# verify sends a whole image (1 GiB here) and digests it on both sides,
# each step seconds long: longer timeouts than the default 1 s.
LONG=(--heartbeat-ms 500 --failover-timeout-ms 15000)
start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$SSOCK" --tls-creds "$T/tls" \
	"${LONG[@]}" "${BIG[@]}"
start primary "$PRIMARY" --service "127.0.0.1:$PPORT" --control "$PSOCK" \
	--tls-creds "$T/tls" "${LONG[@]}" "${BIG[@]}"
wait_state "$PSOCK" standalone 30 primary
timeout 300 redis-cli -p "$PPORT" DEBUG POPULATE "$BIG_KEYS" key "$BIG_SIZE" \
	>/dev/null || fail "DEBUG POPULATE"
"$CTL" -s "$PSOCK" protect "127.0.0.1:$RPORT" >/dev/null || fail "protect"
wait_state "$PSOCK" colo 600 primary secondary
status_json "$PSOCK" >"$T/big.json"
t0=$(date +%s%N)
BIG_VERIFY="$("$CTL" -s "$PSOCK" verify 2>&1 | head -1) ($(( ($(date +%s%N) - t0) / 1000000 )) ms)" || true
BIG_RSS=$(awk '/^VmRSS/ {print $2}' "/proc/$(status_get "$PSOCK" guest_pid)/status")
stop primary
stop secondary

echo
python3 - "$T" "$TCP_MIBS" "$AES_KBS" "$N" "$CLIENTS" "$VERIFY" \
	"$(getconf CLK_TCK)" "$BIG_VERIFY" "$BIG_RSS" <<'PY'
import csv, json, os, sys

T, tcp, aes_kbs, n, clients, verify, hz, big_verify, big_rss = sys.argv[1:10]
tcp, n, hz = float(tcp), int(n), int(hz)
aes = float(aes_kbs) * 1000 / 2**20
ceil = min(tcp, aes)

def rows(name):
    with open(os.path.join(T, name + ".csv")) as f:
        return {r["test"]: r for r in csv.DictReader(f)}

print(f"1. redis-benchmark -n {n} -c {clients}, one run each; CPU on the "
      "primary host per 1000 requests")
print(f"{'':28} {'test':5} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
      f"{'CPU ms/1k':>9}")
for name, label in (("alone", "redis-server alone"),
                    ("standalone", "colo-primary --exec alone"),
                    ("pair", "protected pair (TLS)")):
    r = rows(name)
    ticks = int(open(os.path.join(T, name + ".cpu")).read())
    cpu = ticks * 1000 / hz / (3 * n) * 1000
    for t in ("SET", "GET", "INCR"):
        x = r[t]
        print(f"{label if t == 'SET' else '':28} {t:5} {float(x['rps']):9.0f} "
              f"{float(x['p50_latency_ms']):7.3f} "
              f"{float(x['p99_latency_ms']):7.3f} "
              + (f"{cpu:9.3f}" if t == "SET" else ""))
b, a = (json.load(open(os.path.join(T, f"pair.{w}.json")))
        for w in ("before", "after"))
print(f"   during the pair's run: {a['checkpoints'] - b['checkpoints']} "
      f"checkpoints; {a['mismatches'] - b['mismatches']} replies differed "
      "between the copies (the comparator's count)")
print()

seen, samples = set(), []
dec = json.JSONDecoder()
text = open(os.path.join(T, "steady.samples")).read()
i = 0
while i < len(text):
    if text[i].isspace():
        i += 1
        continue
    s, i = dec.raw_decode(text, i)
    lc = s.get("last_checkpoint") or {}
    cid = lc.get("id")
    if cid and cid not in seen:
        seen.add(cid)
        samples.append(lc)
print(f"2. checkpoints at a steady SET load (-r 100000), every 1000 ms: "
      f"{len(samples)} seen")
if samples:
    pages = sorted(x["pages"] for x in samples)
    bytes_ = sorted(x["bytes"] for x in samples)
    pause = sorted(x["pause_ms"] for x in samples)
    med = lambda v: v[len(v) // 2]
    limit = med(bytes_) / 2**20 / ceil * 1000
    print(f"   pages per checkpoint: median {med(pages)}, max {pages[-1]}")
    print(f"   bytes per checkpoint: median {med(bytes_) / 2**20:.1f} MiB")
    print(f"   pause: median {med(pause):.1f} ms, max {pause[-1]:.1f} ms; "
          f"the median's bytes at {ceil:.0f} MiB/s (min of loopback TCP "
          f"{tcp:.0f}, AES-256-GCM {aes:.0f}): {limit:.1f} ms")
s = rows("steady")["SET"]
print(f"   SET throughput meanwhile: {float(s['rps']):.0f} req/s, "
      f"p99 {float(s['p99_latency_ms']):.3f} ms")
print(f"   verify at the end: {verify}")
print()

b = json.load(open(os.path.join(T, "big.json")))
ls, lc = b["live_sync"], b["last_checkpoint"]
mib = ls["bytes"] / 2**20
print(f"3. protecting redis-server holding {int(big_rss) / 2**20:.2f} GiB "
      "(RSS): live sync, then the first checkpoint")
print(f"   live sync: {ls['ms'] / 1000:.1f} s, {ls['pages']} pages, "
      f"{mib:.0f} MiB ({mib / (ls['ms'] / 1000):.0f} MiB/s); the same bytes "
      f"at {ceil:.0f} MiB/s: {mib / ceil:.1f} s")
print(f"   first checkpoint: {lc['pages']} pages, pause {lc['pause_ms']:.1f} ms")
print(f"   verify (failover timeout 15 s): {big_verify}")
PY
