# SPDX-License-Identifier: MIT
# Table 1 of bench-pair.sh, which bench-sync.sh runs alone: the live sync
# of a 1 GiB colo-kv guest holding 900 MiB of random data over TLS on
# loopback, twice, each beside the limits measure_limits took:
#
#   a. the guest idle: colo-secondary joins a primary already full (the
#      primary dials in a loop until it answers, primary/link.c, so it
#      starts first, pointed at a port where nothing listens yet);
#   b. the guest busy: that secondary is stopped (the primary goes on
#      standalone), a new one starts, redis-benchmark SETs 16 KiB values
#      over 3,000 keys (four pages written a request) and `colo-ctl
#      protect` live-syncs it meanwhile; the load stops once the pair is
#      protected. Does the pre-copy converge (a pass left at most 2,048
#      pages dirty) or do 30 passes force the end, and at what pause?
#
# Sourced after tests/integration/lib.sh and bench-lib.sh. sync_runs
# leaves the pair of b running (spawned as primary and secondary; PPORT,
# PSOCK, SSOCK, as lib.sh names them), sync_fresh_secondary replaces its
# secondary by one synced with the guest idle for whatever comes next;
# sync_report prints the table from $T.

SYNC_RAM=1G
SYNC_FILL=943718400          # 900 MiB of random data in the 1 GiB guest
SYNC_LOAD_VALUE=${SYNC_LOAD_VALUE:-16384}  # bytes a SET writes: four pages
SYNC_LOAD_KEYS=${SYNC_LOAD_KEYS:-3000}      # 47 MiB of values: fits beside the 900 MiB
SYNC_LOAD_PIPELINE=${SYNC_LOAD_PIPELINE:-16} # requests in flight per client

# sync_capture NAME: both daemons' status and verify after a live sync.
sync_capture() {
	status_json "$PSOCK" >"$T/$1-primary.json"
	status_json "$SSOCK" >"$T/$1-secondary.json"
	echo "verify (PVM and SVM RAM by SHA-256)..."
	"$CTL" -s "$PSOCK" verify >"$T/$1-verify.txt" 2>&1 ||
		sed -i '1s/^/NOT IDENTICAL: /' "$T/$1-verify.txt"
}

# cpu_ms PID: user + system CPU time of the process so far.
cpu_ms() {
	awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$1/stat"
}

# sync_idle: a of the above. BENCH_PRIMARY_ARGS (words) go to colo-primary.
sync_idle() {
	local rport=$(free_port) sport=$(free_port) t0 c0p
	PPORT=$(free_port)
	PSOCK=$T/primary.sock; SSOCK=$T/secondary.sock

	echo "starting colo-primary (--ram $SYNC_RAM) towards 127.0.0.1:$rport, where nothing listens yet..."
	start primary "$PRIMARY" --service "127.0.0.1:$PPORT" --control "$PSOCK" \
		--guest "$KV" "${KV_DEBUG[@]}" --ram "$SYNC_RAM" \
		--secondary "127.0.0.1:$rport" --tls-creds "$T/tls" \
		${BENCH_PRIMARY_ARGS:-}
	# Dialling: connecting during a try, standalone between tries (backoff).
	st=$(status_field "$PSOCK" 's["state"] + "/" + str(s["next_dial_in_ms"])')
	[[ $st == connecting/* || $st == standalone/[0-9]* ]] ||
		fail "primary in state '$st' before its secondary exists"
	echo "filling guest RAM: DEBUG FILLRANDOM $SYNC_FILL..."
	t0=$(date +%s%N)
	r=$(redis-cli -p "$PPORT" DEBUG FILLRANDOM "$SYNC_FILL") ||
		{ require_alive primary; fail "DEBUG FILLRANDOM: $r"; }
	[[ $r == OK ]] || fail "DEBUG FILLRANDOM answered '$r'"
	echo $(( ($(date +%s%N) - t0) / 1000000 )) >"$T/fill-ms"
	st=$(status_field "$PSOCK" 's["state"] + "/" + str(s["next_dial_in_ms"])')
	[[ $st == connecting/* || $st == standalone/[0-9]* ]] ||
		fail "primary went to '$st' before its secondary started"

	echo "starting colo-secondary on 127.0.0.1:$rport: live sync begins (guest idle)..."
	c0p=$(cpu_ms "$(pid_of primary)")
	start secondary "$SECONDARY" --listen "127.0.0.1:$rport" \
		--service "127.0.0.1:$sport" --control "$SSOCK" --guest "$KV" \
		"${KV_DEBUG[@]}" --tls-creds "$T/tls"
	wait_state "$PSOCK" colo 180 primary secondary
	# CPU of the daemons (not their guests) for the sync, start-up of
	# the secondary included.
	echo "$(( $(cpu_ms "$(pid_of primary)") - c0p )) $(cpu_ms "$(pid_of secondary)")" >"$T/idle-cpu"
	sync_capture idle
}

# sync_load: b, after sync_idle.
sync_load() {
	local rport sport c0p c0s lpid

	echo "stopping the secondary: the primary goes on standalone..."
	stop secondary
	mv "$T/secondary.log" "$T/secondary-idle.log"
	wait_state "$PSOCK" standalone 30 primary
	rport=$(free_port); sport=$(free_port)
	SSOCK=$T/secondary2.sock
	start secondary "$SECONDARY" --listen "127.0.0.1:$rport" \
		--service "127.0.0.1:$sport" --control "$SSOCK" --guest "$KV" \
		"${KV_DEBUG[@]}" --tls-creds "$T/tls"
	echo "redis-benchmark SET -d $SYNC_LOAD_VALUE -r $SYNC_LOAD_KEYS -P $SYNC_LOAD_PIPELINE while colo-ctl protect live-syncs it..."
	redis-benchmark -p "$PPORT" -t set -d "$SYNC_LOAD_VALUE" -r "$SYNC_LOAD_KEYS" \
		-c 50 -P "$SYNC_LOAD_PIPELINE" -n 100000000 -l >/dev/null 2>"$T/load.err" &
	lpid=$!
	PIDS+=("$lpid")
	sleep 2                       # the load at its pace before the sync
	c0p=$(cpu_ms "$(pid_of primary)"); c0s=$(cpu_ms "$(pid_of secondary)")
	redis-cli -p "$PPORT" INFO stats 2>/dev/null | tr -d '\r' |
		awk -F: '$1 == "total_commands_processed" { print $2 }' >"$T/load-cmds0" || true
	date +%s%N >"$T/load-t0"
	"$CTL" -s "$PSOCK" protect "127.0.0.1:$rport" >/dev/null ||
		fail "colo-ctl protect 127.0.0.1:$rport failed"
	wait_state "$PSOCK" colo 300 primary secondary
	echo "$(( $(cpu_ms "$(pid_of primary)") - c0p )) $(( $(cpu_ms "$(pid_of secondary)") - c0s ))" >"$T/load-cpu"
	date +%s%N >"$T/load-t1"
	redis-cli -p "$PPORT" INFO stats 2>/dev/null | tr -d '\r' |
		awk -F: '$1 == "total_commands_processed" { print $2 }' >"$T/load-cmds1" || true
	kill -TERM "$lpid" 2>/dev/null || true
	wait "$lpid" 2>/dev/null || true
	forget "$lpid"
	sync_capture load
}

sync_runs() {
	sync_idle
	sync_load
}

# sync_fresh_secondary: a new secondary, live-synced with the guest idle,
# for what comes after table 1. The load of b runs on for a moment after
# the pair is protected, and the SVM, slower than the PVM at those SETs,
# is left with a backlog of input that the next checkpoint waits for (see
# the README's known limits): a bench of checkpoints would measure that.
sync_fresh_secondary() {
	local rport=$(free_port) sport=$(free_port)
	echo "a fresh secondary for what follows (guest idle)..."
	stop secondary
	mv "$T/secondary.log" "$T/secondary-load.log"
	SSOCK=$T/secondary3.sock
	start secondary "$SECONDARY" --listen "127.0.0.1:$rport" \
		--service "127.0.0.1:$sport" --control "$SSOCK" --guest "$KV" \
		"${KV_DEBUG[@]}" --tls-creds "$T/tls"
	"$CTL" -s "$PSOCK" protect "127.0.0.1:$rport" >/dev/null ||
		fail "colo-ctl protect 127.0.0.1:$rport failed"
	wait_state "$PSOCK" colo 300 primary secondary
}

# sync_channel_runs: with CHANNELS="1 2 4" (bench-sync.sh's knob), the idle
# live sync again for each N in turn, CHANNELS_ROUNDS (2) times over, the
# N alternating so that a change of the machine's load falls on all of
# them: a fresh primary with --channels N, filled as in a, joined by a
# fresh secondary; both stopped after. Each run's figures in $T/chN-R-*.
sync_channel_runs() {
	local round n rport sport c0p
	for round in $(seq "${CHANNELS_ROUNDS:-2}"); do
		for n in $CHANNELS; do
			stop secondary
			stop primary
			rport=$(free_port); sport=$(free_port); PPORT=$(free_port)
			PSOCK=$T/ch-primary.sock; SSOCK=$T/ch-secondary.sock
			echo "--channels $n (round $round): primary, FILLRANDOM, secondary..."
			start primary "$PRIMARY" --service "127.0.0.1:$PPORT" \
				--control "$PSOCK" --guest "$KV" "${KV_DEBUG[@]}" \
				--ram "$SYNC_RAM" --secondary "127.0.0.1:$rport" \
				--tls-creds "$T/tls" --channels "$n"
			r=$(redis-cli -p "$PPORT" DEBUG FILLRANDOM "$SYNC_FILL") ||
				fail "DEBUG FILLRANDOM: $r"
			c0p=$(cpu_ms "$(pid_of primary)")
			start secondary "$SECONDARY" --listen "127.0.0.1:$rport" \
				--service "127.0.0.1:$sport" --control "$SSOCK" \
				--guest "$KV" "${KV_DEBUG[@]}" --tls-creds "$T/tls"
			wait_state "$PSOCK" colo 180 primary secondary
			echo "$(( $(cpu_ms "$(pid_of primary)") - c0p )) $(cpu_ms "$(pid_of secondary)")" \
				>"$T/ch$n-$round-cpu"
			cut -d' ' -f1-3 /proc/loadavg >"$T/ch$n-$round-load"
			sync_capture "ch$n-$round"
		done
	done
	stop secondary
	stop primary
}

# sync_report TCP_MIBS AES_MIBS: table 1.
sync_report() {
	PYTHONPATH="$SRC/bench" python3 - "$T" "$1" "$2" "$SYNC_FILL" "$SYNC_LOAD_VALUE" "$SYNC_LOAD_KEYS" \
		"$SYNC_LOAD_PIPELINE" <<'PY'
import json, os, sys
from report import table

T, tcp, aes, fill, lval, lkeys, lpipe = sys.argv[1:8]
tcp, aes, fill, lval = float(tcp), float(aes), int(fill), int(lval)
ceil = min(tcp, aes)
MiB = 1 << 20

def load(name):
    with open(os.path.join(T, name)) as f:
        return json.load(f)

def read(name, default="-"):
    path = os.path.join(T, name)
    return open(path).read().strip() if os.path.exists(path) else default

mibs = lambda b, ms: "%.1f" % (b / MiB / (ms / 1000)) if ms > 0 else "-"
rows = []
have = lambda name: os.path.exists(os.path.join(T, name + "-primary.json"))
for name, label in (("idle", "guest idle"), ("load", "guest writing")):
    if not have(name):
        continue
    p = load(name + "-primary.json")
    ls, ck = p["live_sync"], p["last_checkpoint"]
    tot_ms, tot_b = ls["ms"], ls["bytes"]
    pre_ms, pre_b = tot_ms - ck["pause_ms"], tot_b - ck["bytes"]
    cpu = read(name + "-cpu", "- -").split()
    rows.append(["%s: live sync, total" % label, "%.0f" % tot_ms, ls["pages"],
                 "%.1f" % (tot_b / MiB), mibs(tot_b, tot_ms),
                 "%.0f" % (tot_b / MiB / ceil * 1000),
                 "%s / %s" % (ls.get("passes", "-"),
                              {True: "yes", False: "NO"}.get(ls.get("converged"), "-")),
                 "%s / %s" % tuple(cpu)])
    rows.append(["  pre-copy (ram_save_iterate)", "%.0f" % pre_ms,
                 ls["pages"] - ck["pages"], "%.1f" % (pre_b / MiB), mibs(pre_b, pre_ms),
                 "%.0f" % (pre_b / MiB / ceil * 1000), "", ""])
    rows.append(["  first checkpoint (pause)", "%.0f" % ck["pause_ms"], ck["pages"],
                 "%.2f" % (ck["bytes"] / MiB), mibs(ck["bytes"], ck["pause_ms"]),
                 "%.1f" % (ck["bytes"] / MiB / ceil * 1000), "", ""])
# --channels N (CHANNELS): the idle sync again per N, in the order run.
runs = sorted(f[:-len("-primary.json")] for f in os.listdir(T)
              if f.startswith("ch") and f.endswith("-primary.json"))
runs.sort(key=lambda r: (int(r.split("-")[1]), int(r[2:].split("-")[0])))
for run in runs:
    n, rnd = run[2:].split("-")
    p = load(run + "-primary.json")
    ls = p["live_sync"]
    cpu = read(run + "-cpu", "- -").split()
    ok = read(run + "-verify.txt").splitlines()[0]
    rows.append(["guest idle, --channels %s (round %s; load %s; %s)" % (
                     n, rnd, read(run + "-load"), ok),
                 "%.0f" % ls["ms"], ls["pages"], "%.1f" % (ls["bytes"] / MiB),
                 mibs(ls["bytes"], ls["ms"]),
                 "%.0f" % (ls["bytes"] / MiB / ceil * 1000),
                 "%s / %s" % (ls.get("passes", "-"),
                              {True: "yes", False: "NO"}.get(ls.get("converged"), "-")),
                 "%s / %s" % tuple(cpu)])
rows.append(["limit: AES-256-GCM encrypt, 16 KiB blocks (openssl speed)", "", "", "",
             "%.1f" % aes, "", "", ""])
rows.append(["limit: loopback TCP, 1 MiB writes (bench/loopback-tcp.c)", "", "", "",
             "%.1f" % tcp, "", "", ""])
table("1. Live sync of a 1 GiB colo-kv guest holding %d MiB of random data "
      "(DEBUG FILLRANDOM %d, %s ms) over TLS 1.3 on loopback: primary's "
      "live_sync (TLS connected -> first checkpoint acked), split into "
      "pre-copy and the first checkpoint (stop-and-copy; PVM paused). Idle: "
      "colo-secondary joins a running primary; writing: a new secondary "
      "joins by colo-ctl protect while redis-benchmark SETs %d-byte values "
      "over %s keys (-c 50 -P %s)" % (fill >> 20, fill, read("fill-ms"), lval,
                                      lkeys, lpipe),
      ["phase", "ms", "pages", "MiB sent", "MiB/s", "floor ms at %.0f MiB/s" % ceil,
       "passes / converged", "CPU ms pri / sec"],
      rows)
for name in ("idle", "load"):
    if not have(name):
        continue
    s = load(name + "-secondary.json")
    print("  %s: secondary's side of the first checkpoint: %.0f ms from "
          "CKPT_BEGIN to ack, %d pages; verify: %s" % (
              name, s["last_checkpoint"]["pause_ms"], s["last_checkpoint"]["pages"],
              read(name + "-verify.txt").splitlines()[0]))
try:
    if not have("load"):
        raise LookupError
    secs = (int(read("load-t1")) - int(read("load-t0"))) / 1e9
    sets = int(read("load-cmds1")) - int(read("load-cmds0"))
    pages = sets * -(-lval // 4096)
    print("  writing: %.0f SET/s during that live sync, %.0f pages/s written "
          "(%d pages a SET)" % (sets / secs, pages / secs, -(-lval // 4096)))
except ValueError:
    print("  writing: the guest's SET count was not readable (INFO stats)")
except LookupError:
    pass
print("  CPU ms = user + system time of the daemons (not their guests) "
      "during the sync, the secondary's start-up included when idle")
print()
PY
}
