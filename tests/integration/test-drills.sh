#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Failover drills on the two-host lab (network namespaces, TLS): 20 with
# kill -9 of the primary, 10 with kill -9 of the secondary, each under a
# client load that records every acknowledged write, each followed by
# re-protection (a new secondary, live sync, colo) and verify.
#
# The moment of the kill varies: "any" (a random moment between
# checkpoints), "checkpoint" (colo-ctl checkpoint started just before),
# "held" (a pipelined burst in flight, its output held by the primary),
# "sync" (just after the live sync of a freshly restarted secondary, with
# writes acknowledged during that sync). The drills follow each other on
# the same lab, so after the first failover the primary killed is a
# promoted secondary protected by re-protection.
#
# Fails on any lost write and on any verify that is not identical; prints
# the totals, and the median and worst time to serve again.
#
# COLO_DRILL_SEED=N replays a run; COLO_DRILLS_FAILOVER / _SECONDARY change
# the counts; COLO_DRILLS_EXEC=redis runs them on a pair protecting
# Debian's redis-server (--exec) instead of colo-kv.
source "$(dirname "$0")/lib.sh"
source "$SRC/deploy/lab/lab-test.sh"
require_dirtylog
lab_init

SEED=${COLO_DRILL_SEED:-$(( $(date +%s) % 100000 ))}
N_FAILOVER=${COLO_DRILLS_FAILOVER:-20}
N_SECONDARY=${COLO_DRILLS_SECONDARY:-10}
DURATION=1500
UP=(--ram 64M)
if [[ ${COLO_DRILLS_EXEC:-} == redis ]]; then
	[[ -x /usr/bin/redis-server ]] || { echo "SKIP: redis-server not installed"; exit 77; }
	UP=(--exec-port 6379 --exec /usr/bin/redis-server --port 6379 --save ''
	    --appendonly no)
fi
echo "drills: $N_FAILOVER failover, $N_SECONDARY secondary-loss; seed $SEED (COLO_DRILL_SEED=$SEED replays); guest ${UP[*]}"

lab up --build "$BUILD" "${UP[@]}" >"$T/lab-up.log" 2>&1 ||
	fail "colo-lab up: $(cat "$T/lab-up.log")"
pass "lab up: $(lab_var PRIMARY_SERVICE) (A) protected by $(lab_var SECONDARY_SERVICE) (B), colo state over TLS"

RESULTS=$T/results
: >"$RESULTS"
FAILED=()
WHY=()      # per failed drill, its report's reasons, for the last line

# drill N KIND MOMENT
drill() {
	local n=$1 kind=$2 at=$3 out rc line
	out=$T/drill-$n.txt
	set +e
	timeout 300 "$DRILL" "$kind" --at "$at" --seed $(( SEED + n )) \
		--duration-ms "$DURATION" >"$out" 2>&1
	rc=$?
	set -e
	line=$(grep '^drill-result ' "$out" || true)
	printf '%2d %-15s %-10s %s\n' "$n" "$kind" "$at" \
		"$(sed -n 's/.*\(detect_ms=[-0-9]*\) \(serve_ms=[-0-9]*\) \(reprotect_ms=[-0-9]*\) \(acked=[0-9]*\).*\(lost=[-0-9]*\).*\(verify=[a-z]*\).*\(result=[A-Z]*\).*/\1 \2 \3 \4 \5 \6 \7/p' <<<"$line")"
	if [[ -n $line ]]; then
		echo "$line" >>"$RESULTS"
	fi
	if (( rc != 0 )) || [[ $line != *result=PASS* ]]; then
		TEST_FAILED=1
		FAILED+=("$n")
		# The reasons go into the last line too: CI shows a log's end.
		WHY+=("drill $n ($kind at $at, exit $rc): $(sed -n 's/^  \(failed\|note\|writes lost\|verify\): */\1: /p' "$out" |
			paste -sd ';' -)")
		echo "---- drill $n ($kind at $at, seed $(( SEED + n ))) failed (exit $rc):"
		cat "$out"
		lab_logs_tail
		[[ -d $COLO_LAB_DIR/logs ]] && cp -r "$COLO_LAB_DIR/logs" "$T/lab-logs-$n"
		# A broken pair would fail every drill after it: start afresh.
		lab down >/dev/null 2>&1 || true
		lab up --build "$BUILD" "${UP[@]}" >"$T/lab-up.log" 2>&1 ||
			fail "colo-lab up after drill $n: $(cat "$T/lab-up.log")"
	fi
}

moments_failover=(any checkpoint held sync)
moments_secondary=(any checkpoint held sync any)
n=0
echo " # kind            moment     times in ms from the fault"
for (( i = 0; i < N_FAILOVER; i++ )); do
	n=$(( n + 1 ))
	drill "$n" failover "${moments_failover[i % 4]}"
done
for (( i = 0; i < N_SECONDARY; i++ )); do
	n=$(( n + 1 ))
	drill "$n" secondary-loss "${moments_secondary[i % 5]}"
done

# Totals, median and worst time to serve again, per kind.
python3 - "$RESULTS" <<'PY'
import sys
rows = []
for line in open(sys.argv[1]):
    kv = dict(f.split("=", 1) for f in line.split()[1:])
    rows.append(kv)
acked = sum(int(r["acked"]) for r in rows)
lost = sum(max(int(r["lost"]), 0) for r in rows)
unknown = sum(1 for r in rows if int(r["lost"]) < 0)
print(f"totals: {len(rows)} drills, {acked} writes acknowledged, {lost} lost"
      + (f", {unknown} drills could not read back" if unknown else ""))
for kind in ("failover", "secondary-loss"):
    s = sorted(int(r["serve_ms"]) for r in rows
               if r["kind"] == kind and int(r["serve_ms"]) >= 0)
    d = sorted(int(r["detect_ms"]) for r in rows
               if r["kind"] == kind and int(r["detect_ms"]) >= 0)
    p = sorted(int(r["reprotect_ms"]) for r in rows
               if r["kind"] == kind and int(r["reprotect_ms"]) >= 0)
    if not s:
        continue
    med = lambda v: v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2
    print(f"{kind}: time to serve again median {med(s)} ms, worst {s[-1]} ms"
          f" (n={len(s)}); time to detect median {med(d)} ms, worst {d[-1]} ms;"
          f" colo again after median {med(p)} ms, worst {p[-1]} ms")
ck = [r for r in rows if r["at"] == "checkpoint"]
if ck:
    cut = sum(1 for r in ck if r.get("ckpt") == "cut")
    print(f"checkpoint moment: {cut} of {len(ck)} faults landed while the"
          " checkpoint was in progress (no reply to it)")
held = [r for r in rows if r["at"] == "held"]
if held:
    un = sum(int(r.get("unanswered", 0)) for r in held)
    print(f"held moment: {len(held)} faults with a pipelined burst in flight;"
          f" {un} requests never answered (not acknowledged, not counted)")
verify = sum(1 for r in rows if r["verify"] == "identical")
print(f"verify identical after re-protection: {verify} of {len(rows)}")
PY

if (( ${#FAILED[@]} )); then
	printf '%s\n' "${WHY[@]}" >&2
	fail "drills failed: ${FAILED[*]} (seed $SEED; outputs above, logs in $T)"
fi
pass "$n drills: no acknowledged write lost, verify identical after every re-protection"
