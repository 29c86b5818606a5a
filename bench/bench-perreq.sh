#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench-perreq.sh [BUILD-DIR]: what protection costs per request (issue 11),
# redis-server, colo-primary standalone and the pair side by side, each
# figure from one run:
#
#   - throughput of SET and GET at -c 50 (redis-benchmark -r 100000);
#   - CPU per request: utime+stime from /proc of the daemon and its guest
#     over that run, divided by its requests; for the pair the primary
#     host's (colo-primary + PVM) and both hosts' (+ colo-secondary + SVM);
#   - syscalls per request of each daemon in a separate SET run at -c 50
#     (perf stat -e raw_syscalls:sys_enter -p, all threads; strace -c -f
#     when perf cannot count), so that counting does not touch the figures
#     above;
#   - p50/p99 latency of SET at -c 1 and -c 50 (redis-benchmark's own).
#
# Sourced by bench-pair.sh for its table 3 (perreq_measure on the running
# pair, then on a standalone primary and a redis-server; perreq_report);
# run alone it starts a small pair itself (PERREQ_RAM, 256M by default).
# About a minute alone. Needs what bench-pair.sh needs, and perf or strace.

PERREQ_N=${PERREQ_N:-100000}      # requests of each -c 50 run
PERREQ_N1=${PERREQ_N1:-20000}     # requests of the -c 1 run
PERREQ_C=${PERREQ_C:-50}

# perreq_ticks PID...: utime+stime (clock ticks) summed over the processes
# (all their threads).
perreq_ticks() {
	local pid sum=0
	for pid in "$@"; do
		# The fields after the command name's ")": utime is the 12th.
		sum=$(( sum + $(sed 's/.*) //' "/proc/$pid/stat" |
				awk '{print $12 + $13}') ))
	done
	echo "$sum"
}

# perreq_run OUT "HOST-PIDS" "ALL-PIDS" BENCH-ARGS...: one redis-benchmark
# run; its CSV in OUT, the ticks of the primary host's processes in
# OUT.ticks, those of both hosts' in OUT.all.ticks.
perreq_run() {
	local out=$1 host=($2) all=($3) h0 a0; shift 3
	h0=$(perreq_ticks "${host[@]}"); a0=$(perreq_ticks "${all[@]}")
	redis-benchmark "$@" --csv >"$out" 2>"$out.err" ||
		fail "redis-benchmark $* failed: $(tail -n 3 "$out.err")"
	echo $(( $(perreq_ticks "${host[@]}") - h0 )) >"$out.ticks"
	echo $(( $(perreq_ticks "${all[@]}") - a0 )) >"$out.all.ticks"
}

# perreq_syscalls OUT PORT DAEMON-PID...: syscalls each daemon made during
# a SET run at -c PERREQ_C, one "pid count" line each in OUT.
perreq_syscalls() {
	local out=$1 port=$2 pid tracers=() i=0; shift 2
	: >"$out"
	for pid in "$@"; do
		if perf stat -e raw_syscalls:sys_enter -o /dev/null true \
			>/dev/null 2>&1; then
			perf stat -e raw_syscalls:sys_enter -x, -o "$out.$i" -p "$pid" &
		else
			strace -c -f -q -o "$out.$i" -p "$pid" &
		fi
		tracers+=("$!")
		PIDS+=("$!")
		i=$((i + 1))
	done
	sleep 0.5       # attached
	redis-benchmark -p "$port" -t set -r 100000 -n "$PERREQ_N" \
		-c "$PERREQ_C" --csv >"$out.csv" 2>"$out.err" ||
		fail "redis-benchmark (syscalls) failed: $(tail -n 3 "$out.err")"
	for pid in "${tracers[@]}"; do
		kill -INT "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
		forget "$pid"
	done
	i=0
	for pid in "$@"; do
		# perf: "count,,raw_syscalls:sys_enter,..."; strace -c: the
		# "total" line's calls column.
		awk -F, -v p="$pid" '/raw_syscalls:sys_enter/ { print p, $1; n = 1 }
			/total$/ { split($0, a, " "); print p, a[3]; n = 1 }
			END { if (!n) print p, "nan" }' "$out.$i" >>"$out"
		i=$((i + 1))
	done
}

# perreq_measure NAME PORT "HOST-PIDS" "ALL-PIDS" "DAEMON-PIDS": every
# figure for one service into $T/perreq-NAME.*. HOST-PIDS: the processes
# whose CPU is the primary host's; ALL-PIDS: both hosts' (may be equal);
# DAEMON-PIDS: whose syscalls to count ("" for none).
perreq_measure() {
	local port=$2 daemons=($5) p=$T/perreq-$1
	local t
	for t in set get; do
		perreq_run "$p.$t" "$3" "$4" -p "$port" -t "$t" -r 100000 \
			-n "$PERREQ_N" -c "$PERREQ_C"
	done
	perreq_run "$p.set1" "$3" "$4" -p "$port" -t set -r 100000 \
		-n "$PERREQ_N1" -c 1
	if (( ${#daemons[@]} )); then
		perreq_syscalls "$p.sys" "$port" "${daemons[@]}"
	fi
	echo "$(getconf CLK_TCK)" >"$T/perreq.clk"
}

# perreq_report TITLE-NOTE: table 3 from $T/perreq-{redis,standalone,pair}.*
perreq_report() {
	PYTHONPATH="$SRC/bench" python3 - "$T" "$PERREQ_N" "$PERREQ_N1" "$PERREQ_C" "$1" <<'PY'
import csv, os, sys
from report import table

T, n, n1, c, note = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
clk = int(open(os.path.join(T, "perreq.clk")).read())

def path(*a):
    return os.path.join(T, "perreq-" + ".".join(a))

def row(name, test):
    p = path(name, test)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        r = next(csv.DictReader(f))
    return r

def us_per_req(name, test, reqs):
    p = path(name, test) + ".ticks"
    if not os.path.exists(p):
        return None
    return int(open(p).read()) / clk / reqs * 1e6

def syscalls(name):
    p = path(name, "sys")
    if not os.path.exists(p):
        return []
    out = []
    for line in open(p):
        pid, cnt = line.split()
        out.append(float(cnt) / n)
    return out

names = [("redis", "redis-server"), ("standalone", "colo-primary standalone"),
         ("pair", "pair (TLS)")]
base = {}
rows = []
for key, label in names:
    s, g, s1 = row(key, "set"), row(key, "get"), row(key, "set1")
    if not s:
        continue
    cs, cg = us_per_req(key, "set", n), us_per_req(key, "get", n)
    cpu = (cs + cg) / 2
    base.setdefault("cpu", cpu)
    if key == "standalone":
        base["alone_cpu"], base["alone_p50"] = cpu, float(s1["p50_latency_ms"])
    ratio = ""
    if key == "pair" and "alone_cpu" in base:
        ratio = " (%.2fx)" % (cpu / base["alone_cpu"])
    both = ""
    if key == "pair":
        ca = (us_per_req(key, "set.all", n) + us_per_req(key, "get.all", n)) / 2
        both = "%.1f (%.2fx)" % (ca, ca / base.get("alone_cpu", ca))
    sc = syscalls(key)
    added = ""
    if key == "pair" and "alone_p50" in base:
        added = " (+%.0f us)" % ((float(s1["p50_latency_ms"]) - base["alone_p50"]) * 1000)
    rows.append([label, "%.0f / %.0f" % (float(s["rps"]), float(g["rps"])),
                 "%.1f%s" % (cpu, ratio), both or "-",
                 " / ".join("%.2f" % x for x in sc) or "-",
                 "%.3f / %.3f%s" % (float(s1["p50_latency_ms"]),
                                    float(s1["p99_latency_ms"]), added),
                 "%.3f / %.3f" % (float(s["p50_latency_ms"]),
                                  float(s["p99_latency_ms"]))])
head = ["", "SET / GET rps", "CPU us/req", "both hosts", "syscalls/req",
        "-c 1 SET p50/p99 ms", "-c %s SET p50/p99 ms" % c]
table("3. Per request (issue 11): redis-benchmark -r 100000, -n %d "
      "-c %s for SET and GET, -n %d -c 1 for SET; CPU = utime+stime "
      "of daemon + guest (primary host; both hosts: + colo-secondary "
      "+ SVM) / requests, mean of SET and GET; syscalls of each daemon "
      "(primary / secondary) in a separate SET run at -c %s. %s"
      % (n, c, n1, c, note), head, rows)
PY
}

# perreq_redis_row: the redis-server row, a server of our own started,
# measured and stopped.
perreq_redis_row() {
	local port pid
	port=$(free_port)
	spawn redis redis-server --port "$port" --bind 127.0.0.1 --save '' \
		--appendonly no --daemonize no
	for _ in $(seq 100); do
		redis-cli -p "$port" PING >/dev/null 2>&1 && break
		sleep 0.1
	done
	pid=$(pid_of redis)
	perreq_measure redis "$port" "$pid" "$pid" "$pid"
	stop redis
}

# Run alone: a small pair, then standalone, then redis-server.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -euo pipefail
	SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
	B=$(cd "${1:-$SRC/build}" && pwd)
	export COLO_BUILD=$B COLO_TMP_NAME=colo-bench-perreq
	source "$SRC/tests/integration/lib.sh"
	RAM=${PERREQ_RAM:-256M}
	require_dirtylog
	echo "colo bench-perreq: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores," \
		"$(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
	start_pair "$KV" --ram "$RAM"
	wait_state "$PSOCK" colo 60 primary secondary
	ctl "$PSOCK" set checkpoint-delay 20000 >/dev/null
	pp=$(pid_of primary); sp=$(pid_of secondary)
	pv=$(pgrep -P "$pp"); sv=$(pgrep -P "$sp")
	perreq_measure pair "$PPORT" "$pp $pv" "$pp $pv $sp $sv" "$pp $sp"
	[[ $(state_of "$PSOCK") == colo ]] || fail "pair left colo state"
	stop primary; stop secondary
	APORT=$(free_port)
	start standalone "$PRIMARY" --service "127.0.0.1:$APORT" \
		--control "$T/standalone.sock" --guest "$KV" --ram "$RAM"
	ap=$(pid_of standalone)
	perreq_measure standalone "$APORT" "$ap $(pgrep -P "$ap")" \
		"$ap $(pgrep -P "$ap")" "$ap"
	stop standalone
	perreq_redis_row
	perreq_report "Guests of $RAM, empty; $(nproc) cores, everything on this one machine."
fi
