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
# Sourced by bench-pair.sh for its table 3 (perreq_add for its running
# pair, a standalone primary and a redis-server; perreq_rounds;
# perreq_report); run alone it starts a small pair itself (PERREQ_RAM, 256M
# by default). PERREQ_ROUNDS (3) sets the rounds, PERREQ_PIN where the
# processes run (below). About two minutes alone. Needs what bench-pair.sh
# needs, taskset, and perf or strace.

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
	"${PERREQ_CLIENT[@]}" redis-benchmark "$@" --csv >"$out" 2>"$out.err" ||
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
	"${PERREQ_CLIENT[@]}" redis-benchmark -p "$port" -t set -r 100000 -n "$PERREQ_N" \
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

# The services table 3 compares, measured in rounds: perreq_add each, then
# perreq_rounds. Each round measures every service once, in an order turned
# by one each round, so that a quiet or a busy minute of this shared machine
# falls on each alike; the report takes each figure's median over the
# rounds and each ratio's per round.
PERREQ_ROUNDS=${PERREQ_ROUNDS:-3}
PERREQ_NAMES=()
declare -A PERREQ_PORT PERREQ_HOST PERREQ_ALL PERREQ_DAEMONS

# Where the processes run (PERREQ_PIN):
#   none  (the default) the kernel places them. On this VM a wake-up that
#         crosses to an idle virtual CPU costs tens of microseconds, so
#         the -c 1 figures follow where the processes happen to land.
#   hosts each "host" a core of its own, as two machines would have: the
#         primary host's processes (daemon and guest; standalone's, and
#         redis-server, alike) on CPU 0, the secondary host's and
#         redis-benchmark on CPU 1; every hop between hosts crosses cores.
#   one   every process on CPU 0: no wake-up crosses cores, which leaves
#         what the code's own way costs (syscalls, switches, TLS).
PERREQ_PIN=${PERREQ_PIN:-none}
PERREQ_CLIENT=() PERREQ_RTT_CPUS=() PERREQ_CPU_PRIMARY="" PERREQ_CPU_SECONDARY=""
case $PERREQ_PIN in
none) ;;
hosts)
	(( $(nproc) >= 2 )) || fail "PERREQ_PIN=hosts needs two CPUs"
	PERREQ_CPU_PRIMARY=0 PERREQ_CPU_SECONDARY=1
	PERREQ_CLIENT=(taskset -c 1)
	PERREQ_RTT_CPUS=(0 1) ;;     # the floor crosses from host to host
one)
	PERREQ_CPU_PRIMARY=0 PERREQ_CPU_SECONDARY=0
	PERREQ_CLIENT=(taskset -c 0)
	PERREQ_RTT_CPUS=(0 0) ;;
*)
	fail "PERREQ_PIN=$PERREQ_PIN: none, hosts or one" ;;
esac

# perreq_pin CPU PID...: every thread of each process onto CPU.
perreq_pin() {
	local cpu=$1 pid; shift
	for pid in "$@"; do
		taskset -a -p -c "$cpu" "$pid" >/dev/null ||
			fail "cannot pin process $pid to CPU $cpu"
	done
}

# perreq_add NAME PORT "HOST-PIDS" "ALL-PIDS" "DAEMON-PIDS": HOST-PIDS: the
# processes whose CPU is the primary host's; ALL-PIDS: both hosts' (may be
# equal); DAEMON-PIDS: whose syscalls to count ("" for none).
perreq_add() {
	local pid
	if [[ $PERREQ_PIN != none ]]; then
		perreq_pin "$PERREQ_CPU_PRIMARY" $3
		for pid in $4; do
			[[ " $3 " == *" $pid "* ]] ||
				perreq_pin "$PERREQ_CPU_SECONDARY" "$pid"
		done
	fi
	PERREQ_NAMES+=("$1")
	PERREQ_PORT[$1]=$2 PERREQ_HOST[$1]=$3 PERREQ_ALL[$1]=$4
	PERREQ_DAEMONS[$1]=$5
}

# perreq_measure NAME ROUND: every figure for one service into
# $T/perreq-NAME.rROUND.*; its syscalls (a separate run) in round 1 only,
# into $T/perreq-NAME.sys.
perreq_measure() {
	local name=$1 round=$2 port=${PERREQ_PORT[$1]}
	local host=${PERREQ_HOST[$1]} all=${PERREQ_ALL[$1]}
	local daemons=(${PERREQ_DAEMONS[$1]}) p=$T/perreq-$1.r$2 t
	for t in set get; do
		perreq_run "$p.$t" "$host" "$all" -p "$port" -t "$t" \
			-r 100000 -n "$PERREQ_N" -c "$PERREQ_C"
	done
	perreq_run "$p.set1" "$host" "$all" -p "$port" -t set -r 100000 \
		-n "$PERREQ_N1" -c 1
	if (( round == 1 && ${#daemons[@]} )); then
		perreq_syscalls "$T/perreq-$name.sys" "$port" "${daemons[@]}"
	fi
}

# perreq_rounds: PERREQ_ROUNDS rounds over the services added; before each,
# the round trip between two processes that sleep on each other
# (bench/wakeup-rtt.c), the floor under the pair's added -c 1 latency.
perreq_rounds() {
	local n=${#PERREQ_NAMES[@]} r i name
	echo "$(getconf CLK_TCK)" >"$T/perreq.clk"
	echo "$PERREQ_ROUNDS" >"$T/perreq.rounds"
	echo "$PERREQ_PIN" >"$T/perreq.pin"
	cc -O2 -std=c11 -D_GNU_SOURCE -o "$T/wakeup-rtt" \
		"$SRC/bench/wakeup-rtt.c" || fail "cannot compile bench/wakeup-rtt.c"
	for ((r = 1; r <= PERREQ_ROUNDS; r++)); do
		"$T/wakeup-rtt" 20000 "${PERREQ_RTT_CPUS[@]}" >"$T/perreq-rtt.r$r" ||
			fail "bench/wakeup-rtt failed"
		for ((i = 0; i < n; i++)); do
			name=${PERREQ_NAMES[(i + r - 1) % n]}
			echo "  round $r of $PERREQ_ROUNDS: $name..."
			perreq_measure "$name" "$r"
		done
	done
}

# perreq_report TITLE-NOTE: tables 3 and 3b from $T/perreq-*.
perreq_report() {
	PYTHONPATH="$SRC/bench" python3 - "$T" "$PERREQ_N" "$PERREQ_N1" "$PERREQ_C" "$1" <<'PY'
import csv, os, statistics, sys
from report import table

T, n, n1, c, note = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
clk = int(open(os.path.join(T, "perreq.clk")).read())
rounds = int(open(os.path.join(T, "perreq.rounds")).read())
placement = {
    "none": "Unpinned (PERREQ_PIN=none): the kernel places every process.",
    "hosts": "PERREQ_PIN=hosts: the primary host's processes, standalone's and "
             "redis-server on CPU 0, the secondary host's and redis-benchmark "
             "on CPU 1.",
    "one": "PERREQ_PIN=one: every process, redis-benchmark too, on CPU 0.",
}[open(os.path.join(T, "perreq.pin")).read().strip()]

def path(*a):
    return os.path.join(T, "perreq-" + ".".join(a))

def csv_row(name, r, test):
    with open(path(name, "r%d" % r, test)) as f:
        return next(csv.DictReader(f))

def us_per_req(name, r, test, reqs):
    return int(open(path(name, "r%d" % r, test) + ".ticks").read()) / clk / reqs * 1e6

def one_round(name, r):
    """Every figure of one service in round r, or None when not run."""
    if not os.path.exists(path(name, "r%d" % r, "set")):
        return None
    s, g, s1 = (csv_row(name, r, t) for t in ("set", "get", "set1"))
    return {
        "set": float(s["rps"]), "get": float(g["rps"]),
        "cpu": (us_per_req(name, r, "set", n) + us_per_req(name, r, "get", n)) / 2,
        "cpu_all": (us_per_req(name, r, "set.all", n) +
                    us_per_req(name, r, "get.all", n)) / 2,
        "p50_1": float(s1["p50_latency_ms"]), "p99_1": float(s1["p99_latency_ms"]),
        "p50": float(s["p50_latency_ms"]), "p99": float(s["p99_latency_ms"]),
    }

def syscalls(name):
    p = path(name, "sys")
    if not os.path.exists(p):
        return []
    return [float(line.split()[1]) / n for line in open(p)]

names = [("redis", "redis-server"), ("standalone", "colo-primary standalone"),
         ("pair", "pair (TLS)")]
runs = {k: [x for x in (one_round(k, r) for r in range(1, rounds + 1)) if x]
        for k, _ in names}

def med(key, field):
    return statistics.median(x[field] for x in runs[key])

def per_round(f, a, b):
    """f over the rounds in which both a and b ran."""
    return [f(x, y) for x, y in zip(runs[a], runs[b])]

rows = []
for key, label in names:
    if not runs[key]:
        continue
    cpu, ratio, both, added = med(key, "cpu"), "", "-", ""
    if key == "pair" and runs["standalone"]:
        ratio = " (%.2fx)" % statistics.median(
            per_round(lambda p, s: p["cpu"] / s["cpu"], "pair", "standalone"))
        both = "%.1f (%.2fx)" % (med(key, "cpu_all"), statistics.median(
            per_round(lambda p, s: p["cpu_all"] / s["cpu"], "pair", "standalone")))
        added = " (+%.0f us)" % statistics.median(
            per_round(lambda p, s: (p["p50_1"] - s["p50_1"]) * 1000, "pair", "standalone"))
    elif key == "pair":
        both = "%.1f" % med(key, "cpu_all")
    rows.append([label, "%.0f / %.0f" % (med(key, "set"), med(key, "get")),
                 "%.1f%s" % (cpu, ratio), both,
                 " / ".join("%.2f" % x for x in syscalls(key)) or "-",
                 "%.3f / %.3f%s" % (med(key, "p50_1"), med(key, "p99_1"), added),
                 "%.3f / %.3f" % (med(key, "p50"), med(key, "p99"))])
head = ["", "SET / GET rps", "CPU us/req", "both hosts", "syscalls/req",
        "-c 1 SET p50/p99 ms", "-c %s SET p50/p99 ms" % c]
table("3. Per request (issue 11): redis-benchmark -r 100000, -n %d "
      "-c %s for SET and GET, -n %d -c 1 for SET; CPU = utime+stime "
      "of daemon + guest (primary host; both hosts: + colo-secondary "
      "+ SVM) / requests, mean of SET and GET; syscalls of each daemon "
      "(primary / secondary) in a separate SET run at -c %s (round 1). "
      "Each figure is the median of %d rounds, each round measuring every "
      "service once in a turned order; a ratio is the median of its "
      "rounds' ratios (table 3b). %s %s"
      % (n, c, n1, c, rounds, placement, note), head, rows)

# 3b. issue 11's ratios, round by round, beside its goals
ratios = []
def ratio_row(label, goal, f, a, b, fmt):
    if not runs[a] or not runs[b]:
        return
    v = per_round(f, a, b)
    ratios.append([label, goal] + [fmt % x for x in v] +
                  [""] * (rounds - len(v)) + [fmt % statistics.median(v)])
ratio_row("primary-host CPU/request, pair / standalone", "<= 1.5x",
          lambda p, s: p["cpu"] / s["cpu"], "pair", "standalone", "%.2fx")
ratio_row("-c 1 SET p50, pair - standalone", "<= +40 us",
          lambda p, s: (p["p50_1"] - s["p50_1"]) * 1000, "pair", "standalone", "%+.0f us")
def rtt(r):
    """Round trips between two processes in round r: unix, tcp p50 (us)."""
    v = open(path("rtt", "r%d" % r)).read().split()
    return {"unix": float(v[0]), "tcp": float(v[2])}
rtts = [rtt(r) for r in range(1, rounds + 1)
        if os.path.exists(path("rtt", "r%d" % r))]
if rtts:
    ratios.append(["  its floor here: a loopback TCP round trip (p50)", "",
                   *("%.0f us" % x["tcp"] for x in rtts),
                   *([""] * (rounds - len(rtts))),
                   "%.0f us" % statistics.median(x["tcp"] for x in rtts)])
    ratios.append(["  a Unix socket round trip (p50), for scale", "",
                   *("%.0f us" % x["unix"] for x in rtts),
                   *([""] * (rounds - len(rtts))),
                   "%.0f us" % statistics.median(x["unix"] for x in rtts)])
ratio_row("SET rps, standalone / redis-server", ">= 0.9",
          lambda s, r: s["set"] / r["set"], "standalone", "redis", "%.2f")
ratio_row("GET rps, standalone / redis-server", ">= 0.9",
          lambda s, r: s["get"] / r["get"], "standalone", "redis", "%.2f")
if ratios:
    table("3b. Issue 11's per-request figures in each round of table 3. "
          "The floor: a request through the pair waits for the SVM's "
          "answer, one TCP round trip to the secondary more than "
          "standalone's way; two processes that sleep on each other "
          "(bench/wakeup-rtt.c, measured before each round) show what one "
          "costs on this machine",
          ["", "goal"] + ["round %d" % (i + 1) for i in range(rounds)] + ["median"],
          ratios)
PY
}

# perreq_redis_start: a redis-server of our own, added to the rounds
# (stopped with `stop redis`).
perreq_redis_start() {
	local port pid
	port=$(free_port)
	spawn redis redis-server --port "$port" --bind 127.0.0.1 --save '' \
		--appendonly no --daemonize no
	for _ in $(seq 100); do
		redis-cli -p "$port" PING >/dev/null 2>&1 && break
		sleep 0.1
	done
	pid=$(pid_of redis)
	perreq_add redis "$port" "$pid" "$pid" "$pid"
}

# Run alone: a small pair, colo-primary standalone and redis-server, all
# three up at once and measured in rounds.
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
	perreq_add pair "$PPORT" "$pp $pv" "$pp $pv $sp $sv" "$pp $sp"
	APORT=$(free_port)
	start standalone "$PRIMARY" --service "127.0.0.1:$APORT" \
		--control "$T/standalone.sock" --guest "$KV" --ram "$RAM"
	ap=$(pid_of standalone)
	perreq_add standalone "$APORT" "$ap $(pgrep -P "$ap")" \
		"$ap $(pgrep -P "$ap")" "$ap"
	perreq_redis_start
	perreq_rounds
	[[ $(state_of "$PSOCK") == colo ]] || fail "pair left colo state"
	stop primary; stop secondary; stop standalone; stop redis
	perreq_report "Guests of $RAM, empty; $(nproc) cores, everything on this one machine."
fi
