#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench-pair.sh [BUILD-DIR]: the three figures issue 2 asks for, from one
# run of a real pair on loopback with TLS, each beside the physical limit
# measured on the same machine in the same run:
#
#   1. live sync of a 1 GiB colo-kv guest holding 900 MiB of random data,
#      idle and while it writes (limits: AES-256-GCM with 16 KiB records,
#      loopback TCP); bench-sync-lib.sh, which bench-sync.sh runs alone;
#   2. checkpoint pause and page count at a steady redis-benchmark SET load
#      with a checkpoint every second (limit: the checkpoint's bytes at the
#      slower of the two ceilings above);
#   3. per request (issue 11, bench-perreq.sh): throughput, CPU and
#      syscalls per request, p50/p99 latency at -c 1 and -c 50, through the
#      pair, through colo-primary standalone, and against a redis-server,
#      all three up at once and measured in PERREQ_ROUNDS (3) interleaved
#      rounds; 3b gives issue 11's ratios round by round.
#
# BENCH_ONLY=2 runs tables 2 and 2b alone (the limits, one idle live sync,
# the SET loads; about a minute). BENCH_PRIMARY_ARGS adds flags to
# colo-primary, e.g. "--xbzrle-cache-size 0" to send every checkpoint page
# whole. After table 2's loads, verify compares PVM and SVM RAM.
#
# Needs: the meson build (scripts/build.sh build), redis-tools, openssl,
# python3, cc. It starts every process itself through the integration
# tests' fixture library (tests/integration/lib.sh), stops them by PID, and
# removes its temporary directory (KEEP_LOGS=1 keeps it, with the daemons'
# logs, as does a failed run).
# About 5 minutes and 4.5 GiB of RAM.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=$(cd "${1:-$SRC/build}" && pwd)
# PRIMARY, SECONDARY, CTL, KV, KV_DEBUG (DEBUG FILLRANDOM fills the guest),
# the scratch directory $T, and the helpers that start, watch and stop.
export COLO_BUILD=$B COLO_TMP_NAME=colo-bench-pair
source "$SRC/tests/integration/lib.sh"
source "$SRC/bench/bench-lib.sh"
source "$SRC/bench/bench-sync-lib.sh"
source "$SRC/bench/bench-perreq.sh"
# State polls at 10 Hz: cheap next to a live sync being measured.
WAIT_STATE_POLL=0.1

RAM=$SYNC_RAM
FILL=$SYNC_FILL
SET_N=200000            # table 2
TP_N=$PERREQ_N          # table 3 (bench-perreq.sh)
CLIENTS=50

for f in "$PRIMARY" "$SECONDARY" "$CTL" "$KV"; do
	[[ -x $f ]] || { echo "bench-pair: $f missing; run scripts/build.sh build" >&2; exit 1; }
done
for c in redis-cli redis-benchmark openssl python3 cc; do
	command -v "$c" >/dev/null || { echo "bench-pair: $c not installed" >&2; exit 1; }
done

trap 'exit 130' INT TERM

# bench_csv OUT ARGS...: redis-benchmark's CSV, progress dropped.
bench_csv() {
	local out=$1; shift
	cut -d' ' -f1 /proc/loadavg >"$out.load"
	redis-benchmark "$@" --csv >"$out" 2>"$out.err" ||
		fail "redis-benchmark $* failed: $(tail -n 3 "$out.err")"
}

echo "colo bench-pair: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores," \
	"$(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "build: $B; everything (daemons, guests, clients) on this one machine"
echo

# ---------------------------------------------------------------- limits
echo "measuring the physical limits..."
measure_limits

gen_creds "$T/tls"

# ---------------------------------------------------------------- table 1
# bench-sync-lib.sh: two live syncs (guest idle, guest writing); then a
# third secondary, synced idle, for tables 2 and 3.
ONLY=${BENCH_ONLY:-}
if [[ $ONLY == 2 ]]; then
	sync_idle
else
	sync_runs
	sync_fresh_secondary
fi
FILL_MS=$(cat "$T/fill-ms")
VERIFY="see table 1"

# ---------------------------------------------------------------- table 2
"$CTL" -s "$PSOCK" set checkpoint-delay 1000 >/dev/null ||
	fail "set checkpoint-delay 1000 failed"

echo "steady SET load, checkpoint every 1000 ms: one key..."
steady_set set1 "$SET_N" "$CLIENTS"
echo "steady SET load, checkpoint every 1000 ms: 100000 random keys (-r 100000)..."
steady_set setr "$SET_N" "$CLIENTS" -r 100000
echo "verify (PVM and SVM RAM by SHA-256) after the SET loads..."
"$CTL" -s "$PSOCK" verify >"$T/set-verify.txt" 2>&1 ||
	sed -i '1s/^/NOT IDENTICAL: /' "$T/set-verify.txt"

REDIS_NOTE=""
if [[ $ONLY == 2 ]]; then
	touch "$T/tables-2-only"
	stop primary
	stop secondary
else
# ---------------------------------------------------------------- table 3
# Per request (bench-perreq.sh): the pair, colo-primary standalone and
# redis-server, all up at once, measured alike in interleaved rounds.
"$CTL" -s "$PSOCK" set checkpoint-delay 20000 >/dev/null ||
	fail "set checkpoint-delay 20000 failed"
PP=$(pid_of primary); SP=$(pid_of secondary)
PV=$(pgrep -P "$PP"); SV=$(pgrep -P "$SP")
perreq_add pair "$PPORT" "$PP $PV" "$PP $PV $SP $SV" "$PP $SP"

echo "starting colo-primary standalone beside the pair..."
APORT=$(free_port)
start standalone "$PRIMARY" --service "127.0.0.1:$APORT" --control "$T/standalone.sock" \
	--guest "$KV" "${KV_DEBUG[@]}" --ram "$RAM" --tls-creds "$T/tls"
r=$(redis-cli -p "$APORT" DEBUG FILLRANDOM "$FILL") || fail "DEBUG FILLRANDOM: $r"
[[ $(status_field "$T/standalone.sock" 's["state"]') == standalone ]] ||
	fail "primary without --secondary is not standalone"
AP=$(pid_of standalone)
perreq_add standalone "$APORT" "$AP $(pgrep -P "$AP")" "$AP $(pgrep -P "$AP")" "$AP"

if ! command -v redis-server >/dev/null && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
	echo "redis-server not installed: apt-get install -y redis-server..."
	DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server >"$T/apt.log" 2>&1 || true
fi
if command -v redis-server >/dev/null; then
	perreq_redis_start
	REDIS_NOTE=$(redis-server --version | awk '{print $3}')
else
	REDIS_NOTE="unavailable: redis-server is not installed and could not be installed"
fi

echo "per request, $PERREQ_ROUNDS rounds (SET, GET at -c $CLIENTS, SET at -c 1; syscalls in round 1)..."
status_json "$PSOCK" >"$T/tp-pair.before.json"
perreq_rounds
status_json "$PSOCK" >"$T/tp-pair.after.json"
[[ $(status_field "$PSOCK" 's["state"]') == colo ]] || fail "pair left colo state during the benchmark"
stop primary
stop secondary
stop standalone
[[ -z $REDIS_NOTE || $REDIS_NOTE == unavailable* ]] || stop redis
fi

# ---------------------------------------------------------------- report
echo
if [[ $ONLY == 2 ]]; then
	echo "tables 2 and 2b only (BENCH_ONLY=2); colo-primary ${BENCH_PRIMARY_ARGS:-with its defaults};" \
		"limits: loopback TCP $TCP_MIBS MiB/s, AES-256-GCM $AES_MIBS MiB/s"
	echo
else
	sync_report "$TCP_MIBS" "$AES_MIBS"
fi
PYTHONPATH="$SRC/bench" python3 - "$T" "$TCP_MIBS" "$AES_MIBS" "$FILL" "$FILL_MS" "$VERIFY" \
	"$REDIS_NOTE" "$SET_N" "$TP_N" "$CLIENTS" <<'PY'
import csv, json, os, sys
from report import pct, table

T, tcp, aes, fill, fill_ms, verify, redis_note = sys.argv[1:8]
set_n, tp_n, clients = sys.argv[8:11]
tcp, aes, fill, fill_ms = float(tcp), float(aes), int(fill), int(fill_ms)
ceil = min(tcp, aes)
MiB = 1 << 20

def load(name):
    with open(os.path.join(T, name)) as f:
        return json.load(f)

def samples(name):
    out, dec, text = [], json.JSONDecoder(), open(os.path.join(T, name)).read()
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        obj, i = dec.raw_decode(text, i)
        out.append(obj)

def rps(name):
    path = os.path.join(T, name)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return {r["test"]: float(r["rps"]) for r in csv.DictReader(f)}

def load1(name):
    path = os.path.join(T, name + ".load")
    return open(path).read().strip() if os.path.exists(path) else "-"

# 2. checkpoints at a steady SET load
rows, phase_rows = [], []
PHASES = ("barrier", "scan", "send", "apply", "flush", "ack", "resume")
for name, label in (("set1", "-t set (one key)"), ("setr", "-t set -r 100000")):
    before, after = load(name + ".before.json"), load(name + ".after.json")
    seen = {}
    for x in samples(name + ".samples") + [after]:
        c = x["last_checkpoint"]
        if c["id"] > before["last_checkpoint"]["id"]:
            seen[c["id"]] = c
    n = after["checkpoints"] - before["checkpoints"]
    reasons = {k: after["checkpoint_reasons"][k] - before["checkpoint_reasons"][k]
               for k in after["checkpoint_reasons"]}
    cs = list(seen.values())
    pause = [c["pause_ms"] for c in cs]
    pages = [c["pages"] for c in cs]
    dpages = [c.get("delta_pages", 0) for c in cs]
    kib = [c["bytes"] / 1024 for c in cs]
    floor = [c["bytes"] / MiB / ceil * 1000 for c in cs]
    r = rps(name + ".csv").get("SET", float("nan"))
    ph = lambda k: pct([c["phases_ms"][k] for c in cs], 50)
    cpu = lambda side: pct([c["cpu_ms"][side] for c in cs], 50)
    phase_rows.append([label, "%.1f" % pct(pause, 50)] +
                      ["%.2f" % ph(k) for k in PHASES] +
                      ["%.2f" % ph("receive"), "%.1f / %.1f" % (cpu("primary"), cpu("secondary")),
                       "%.2f" % pct(floor, 50),
                       "%.2f" % (1 + 0.002 * pct(pages, 50))])
    rows.append([label, load1(name + ".csv"), "%.0f" % r, "%d/%d" % (len(cs), n),
                 " ".join("%s %d" % (k, v) for k, v in reasons.items() if v),
                 "%.0f / %.0f / %.0f" % (pct(pause, 50), pct(pause, 90), max(pause or [0])),
                 "%.0f / %.0f / %.0f" % (pct(pages, 50), pct(pages, 90), max(pages or [0])),
                 "%.0f / %.0f" % (pct(dpages, 50), pct(kib, 50)),
                 "%.2f / %.2f" % (pct(floor, 50), max(floor or [0]))])
table("2. Checkpoints at a steady SET load through the pair: redis-benchmark "
      "-n %s -c %s, checkpoint-delay 1000 ms, status sampled every 200 ms; "
      "pause_ms = primary's whole checkpoint (barrier -> ack), 1 ms resolution"
      % (set_n, clients),
      ["load", "load1", "SET/s", "seen/taken", "reasons", "pause ms p50/p90/max",
       "pages p50/p90/max", "delta pages / KiB p50", "floor ms p50/max"],
      rows)
print("  load1 = 1-minute load average when that run started (other work on this 2-core machine)")
print("  delta pages = pages sent as deltas against the checkpoint before's (--xbzrle-cache-size); KiB = all page bytes sent")
print("  verify after the SET loads: %s" % open(os.path.join(T, "set-verify.txt")).read().strip().splitlines()[0])
print("  floor = the checkpoint's bytes at %.0f MiB/s, the slower of the two "
      "ceilings in table 1" % ceil)
print()
table("2b. Where the pause went, per phase (p50 over the same checkpoints, ms; "
      "status's last_checkpoint.phases_ms): barrier = the PVM to a safe point; "
      "scan = the dirty log read and re-protected; send = pages, device state "
      "and CKPT_END written; apply = the secondary after CKPT_END but the "
      "flush (the SVM stopped, the state checked); flush = "
      "colo_flush_ram_cache; ack = the stream's tail and the ack's trip; "
      "resume = held output released. receive (the secondary storing pages, "
      "overlapping send) and each daemon's CPU time are not phases",
      ["load", "pause"] + list(PHASES) +
      ["receive", "CPU ms pri / sec", "floor", "goal 1 ms + 2 us/page"],
      phase_rows)

# 3. per request: perreq_report, after this script
if os.path.exists(os.path.join(T, "tables-2-only")):
    sys.exit(0)
b3, a3 = load("tp-pair.before.json"), load("tp-pair.after.json")
print("  (table 3 below) the pair's checkpoints while table 3 ran: %d (%s), output mismatches %d" % (
    a3["checkpoints"] - b3["checkpoints"],
    ", ".join("%s %d" % (k, a3["checkpoint_reasons"][k] - b3["checkpoint_reasons"][k])
              for k in a3["checkpoint_reasons"]),
    a3["mismatches"] - b3["mismatches"]))
print()
PY
[[ $ONLY == 2 ]] || perreq_report "Both guests 1 GiB with $((FILL >> 20)) MiB filled; pair over TLS with checkpoint-delay 20000 ms; redis-server $REDIS_NOTE."
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
