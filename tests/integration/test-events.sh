#!/bin/bash
# SPDX-License-Identifier: MIT
# Events with a real pair: subscribers on both daemons (colo-ctl events
# --json) see PROTECTED, CHECKPOINT (a manual one and mismatch ones),
# MISMATCH, and, as peers die, SECONDARY_LOST with COLO_EXIT {primary,
# error} and COLO_EXIT {secondary, error}, each with its data. A
# subscriber that never reads is dropped while the pair keeps
# checkpointing, and `protect --wait` (stdout not a terminal) prints plain
# progress lines and exits 0 once protected.
source "$(dirname "$0")/lib.sh"
require_dirtylog

# ev_count LOG PYTHON-CONDITION-ON-e: how many events in LOG match.
ev_count() {
	python3 - "$1" "$2" <<'PY'
import json, sys
n = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    e = json.loads(line)
    assert set(e) == {"event", "data", "timestamp"}, line
    assert set(e["timestamp"]) == {"seconds", "microseconds"}, line
    if eval(sys.argv[2]):
        n += 1
print(n)
PY
}

# wait_event LOG CONDITION WHAT: within 20 s.
wait_event() {
	for _ in $(seq 200); do
		(( $(ev_count "$1" "$2") > 0 )) && return 0
		sleep 0.1
	done
	fail "no event $3 in $(basename "$1"): $(tail -5 "$1")"
}

# wait_subscribed NAME N: daemon NAME has had N subscribers (its log says).
wait_subscribed() {
	for _ in $(seq 300); do
		(( $(grep -c 'subscribed to the events' "$T/$1.log") >= $2 )) && return 0
		sleep 0.05
	done
	fail "$1: $2 subscribers never came"
}

rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

# A primary alone, then `protect --wait` makes the pair.
RPORT=$(free_port); PPORT=$(free_port); SPORT=$(free_port)
PSOCK=$T/primary.sock; SSOCK=$T/secondary.sock
start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$SSOCK" --guest "$NONDET" \
	--insecure
start primary "$PRIMARY" --service "127.0.0.1:$PPORT" --control "$PSOCK" \
	--guest "$NONDET" --insecure --ram 16M
spawn pev "$CTL" -s "$PSOCK" events --json
spawn sev "$CTL" -s "$SSOCK" events --json
# Never reads a byte after subscribing.
spawn stuck python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"{\"execute\":\"subscribe\"}\n")
time.sleep(3600)' "$PSOCK"
wait_subscribed primary 2
wait_subscribed secondary 1

timeout 60 "$CTL" -s "$PSOCK" protect --wait "127.0.0.1:$RPORT" \
	>"$T/protect.out" 2>&1 || fail "protect --wait: $(cat "$T/protect.out")"
tail -1 "$T/protect.out" | grep -qx colo || fail "protect --wait did not end with colo: $(cat "$T/protect.out")"
bad=$(grep -vE '^(protect: dialling .*|state: (syncing|connecting)|connecting|syncing( [0-9]+ % [0-9]+/[0-9]+ MiB [0-9]+ MiB/s eta ([0-9]+ s|-))?|colo)$' "$T/protect.out" || true)
[[ -z $bad ]] || fail "protect --wait printed: $bad"
[[ $(state_of "$PSOCK") == colo ]] || fail "protect --wait returned before colo"
pass "protect --wait: $(grep -c . "$T/protect.out") lines, exit 0 in colo"

wait_event "$T/pev.log" 'e["event"] == "SYNC_STARTED" and e["data"]["secondary"] == "127.0.0.1:'"$RPORT"'"' SYNC_STARTED
wait_event "$T/pev.log" 'e["event"] == "PROTECTED" and e["data"]["peer"] == "127.0.0.1:'"$RPORT"'" and e["data"]["pages"] > 0' "PROTECTED (primary)"
wait_event "$T/sev.log" 'e["event"] == "PROTECTED" and e["data"]["pages"] > 0' "PROTECTED (secondary)"
pass "PROTECTED on both sides"

id=$(ctl "$PSOCK" checkpoint | sed -n 's/^checkpoint \([0-9]*\):.*/\1/p')
[[ -n $id ]] || fail "colo-ctl checkpoint gave no id"
wait_event "$T/pev.log" 'e["event"] == "CHECKPOINT" and e["data"]["reason"] == "manual" and e["data"]["id"] == '"$id"' and e["data"]["pause_ms"] > 0 and "pages" in e["data"]' "CHECKPOINT manual $id"
wait_event "$T/sev.log" 'e["event"] == "CHECKPOINT" and e["data"]["reason"] == "primary" and e["data"]["id"] == '"$id" "CHECKPOINT $id (secondary)"
pass "checkpoint $id: CHECKPOINT reason=manual on both sides"

# Every nondet answer differs: a MISMATCH and a mismatch checkpoint each,
# enough events to pass the stuck subscriber's bound.
ck0=$(status_get "$PSOCK" checkpoints)
rss0=$(rss_kib "$(pid_of primary)")
python3 - "$PPORT" >"$T/replies" <<'PY' || fail "client: $(cat "$T/replies")"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
f = s.makefile("rb")
for i in range(1500):
    s.sendall(b"hello %d\n" % i)
    if not f.readline():
        sys.exit("connection closed at request %d" % i)
PY
wait_event "$T/pev.log" 'e["event"] == "MISMATCH" and e["data"]["what"] == "output" and isinstance(e["data"]["connection"], int)' MISMATCH
wait_event "$T/pev.log" 'e["event"] == "CHECKPOINT" and e["data"]["reason"] == "mismatch"' "CHECKPOINT mismatch"
n=$(ev_count "$T/pev.log" 'e["event"] == "MISMATCH"')
(( n >= 1000 )) || fail "only $n MISMATCH events for 1500 differing answers"
pass "$n MISMATCH events, mismatch checkpoints"

for _ in $(seq 100); do
	grep -q 'event subscriber dropped' "$T/primary.log" && break
	sleep 0.1
done
grep -q 'event subscriber dropped' "$T/primary.log" || fail "the stuck subscriber was never dropped"
require_alive primary secondary
ck1=$(status_get "$PSOCK" checkpoints)
(( ck1 > ck0 + 100 )) || fail "checkpoints went from $ck0 to $ck1 only"
[[ $(state_of "$PSOCK") == colo ]] || fail "pair left colo"
rss1=$(rss_kib "$(pid_of primary)")
# (Not under ASan: its quarantine holds up to 256 MiB of freed memory, so
# RSS grows with any churn; the drop above is the check that matters.)
if [[ $SANITIZER != asan ]]; then
	(( rss1 - rss0 < 32768 )) || fail "primary RSS grew from $rss0 to $rss1 KiB"
fi
pass "stuck subscriber dropped; $(( ck1 - ck0 )) checkpoints meanwhile, RSS $rss0 -> $rss1 KiB"

# The secondary dies: SECONDARY_LOST and COLO_EXIT {primary, error}.
kill -KILL "$(pid_of secondary)"; stop secondary
wait_event "$T/pev.log" 'e["event"] == "SECONDARY_LOST" and e["data"]["why"] != ""' SECONDARY_LOST
wait_event "$T/pev.log" 'e["event"] == "COLO_EXIT" and e["data"] == {"mode": "primary", "reason": "error", "why": e["data"]["why"]}' "COLO_EXIT primary error"
pass "secondary killed: SECONDARY_LOST, COLO_EXIT mode=primary reason=error"

# A new secondary; the primary dials it again by itself. (Held still
# until the secondary has its subscriber: its re-dial comes every 500 ms
# and a sync takes 20, faster than colo-ctl starts on a loaded machine.)
kill -STOP "$(pid_of primary)"
start secondary2 "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$SSOCK" --guest "$NONDET" \
	--insecure
spawn sev2 "$CTL" -s "$SSOCK" events --json
wait_subscribed secondary2 1
kill -CONT "$(pid_of primary)"
wait_state "$PSOCK" colo 60 primary secondary2
wait_event "$T/sev2.log" 'e["event"] == "PROTECTED"' "PROTECTED (second secondary)"

# The primary dies: the secondary takes over, COLO_EXIT {secondary, error},
# and its event stream ends as it hands over to the primary role.
kill -KILL "$(pid_of primary)"; stop primary
wait_event "$T/sev2.log" 'e["event"] == "COLO_EXIT" and e["data"]["mode"] == "secondary" and e["data"]["reason"] == "error"' "COLO_EXIT secondary error"
for _ in $(seq 100); do
	alive "$(pid_of sev2)" || break
	sleep 0.1
done
alive "$(pid_of sev2)" && fail "colo-ctl events still running after the takeover"
wait "$(pid_of sev2)" || fail "colo-ctl events exited $? at EOF"
forget "$(pid_of sev2)"
pass "primary killed: COLO_EXIT mode=secondary reason=error, events ended with the handover"
stop secondary2

# Failover asked for: on the primary, FAILOVER_REQUESTED and COLO_EXIT
# {primary, request}; on the secondary, COLO_EXIT {secondary, request}.
INSECURE=1 start_pair "$NONDET" --ram 16M
wait_state "$PSOCK" colo 60 primary secondary
spawn pev3 "$CTL" -s "$PSOCK" events --json
wait_subscribed primary 1
ctl "$PSOCK" failover >/dev/null || fail "failover on the primary"
wait_event "$T/pev3.log" 'e["event"] == "FAILOVER_REQUESTED" and e["data"] == {"role": "primary"}' "FAILOVER_REQUESTED primary"
wait_event "$T/pev3.log" 'e["event"] == "COLO_EXIT" and e["data"]["mode"] == "primary" and e["data"]["reason"] == "request"' "COLO_EXIT primary request"
pass "failover on the primary: FAILOVER_REQUESTED, COLO_EXIT mode=primary reason=request"
stop primary; stop secondary; stop pev3

INSECURE=1 start_pair "$NONDET" --ram 16M
wait_state "$PSOCK" colo 60 primary secondary
wait_state "$SSOCK" colo 60 primary secondary
spawn sev3 "$CTL" -s "$SSOCK" events --json
wait_subscribed secondary 1
ctl "$SSOCK" failover >/dev/null || fail "failover on the secondary"
wait_event "$T/sev3.log" 'e["event"] == "FAILOVER_REQUESTED" and e["data"] == {"role": "secondary"}' "FAILOVER_REQUESTED secondary"
wait_event "$T/sev3.log" 'e["event"] == "COLO_EXIT" and e["data"]["mode"] == "secondary" and e["data"]["reason"] == "request"' "COLO_EXIT secondary request"
pass "failover on the secondary: FAILOVER_REQUESTED, COLO_EXIT mode=secondary reason=request"
stop primary; stop secondary; stop sev3

# Progress: protect --wait on a 200 MB live sync held up for a while (the
# secondary frozen, as test-stop does), so that its lines and status's
# sync_progress are seen mid-way; status --watch follows it alongside.
gen_creds "$T/creds4"
RPORT=$(free_port); PPORT=$(free_port); SPORT=$(free_port)
PSOCK=$T/p4.sock; SSOCK=$T/s4.sock
start primary4 "$PRIMARY" --service "127.0.0.1:$PPORT" --control "$PSOCK" \
	--guest "$KV" "${KV_DEBUG[@]}" --ram 256M --tls-creds "$T/creds4" \
	--failover-timeout-ms 10000
[[ $(redis-cli -p "$PPORT" DEBUG FILLRANDOM 200000000) == OK ]] ||
	fail "DEBUG FILLRANDOM"
# Nothing listens on the port yet: a dial that fails ends the wait, 1.
rc=0; timeout 60 "$CTL" -s "$PSOCK" protect --wait "127.0.0.1:$RPORT" \
	>"$T/protect-fail.out" 2>&1 || rc=$?
[[ $rc == 1 ]] || fail "protect --wait to nobody exited $rc: $(cat "$T/protect-fail.out")"
grep -q '^colo-ctl: not protected: .*127.0.0.1:'"$RPORT" "$T/protect-fail.out" ||
	fail "protect --wait to nobody: $(cat "$T/protect-fail.out")"
pass "protect --wait to nobody: exit 1, $(grep 'not protected' "$T/protect-fail.out")"
ctl "$PSOCK" failover >/dev/null     # no more dialling on its own

start secondary4 "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$SSOCK" --guest "$KV" \
	"${KV_DEBUG[@]}" --tls-creds "$T/creds4" --failover-timeout-ms 10000
"$CTL" -s "$PSOCK" protect --wait "127.0.0.1:$RPORT" >"$T/protect4.out" 2>&1 &
wpid=$!; PIDS+=("$wpid")
WAIT_STATE_POLL=0.01 wait_state "$PSOCK" syncing 30 primary4 secondary4
"$CTL" -s "$PSOCK" status --watch >"$T/watch.out" 2>&1 &
spid=$!; PIDS+=("$spid")
kill -STOP "$(pid_of secondary4)"
sleep 1.5
status_json "$PSOCK" >"$T/mid.json" || fail "status during the sync"
kill -CONT "$(pid_of secondary4)"
python3 - "$T/mid.json" <<'PY' || fail "sync_progress: $(cat "$T/mid.json")"
import json, sys
s = json.load(open(sys.argv[1]))
p = s["sync_progress"]
assert s["state"] == "syncing", s["state"]
assert p["pages_sent"] > 0 and p["pages_remaining"] > 0, p
assert p["bytes_sent"] > 0 and p["bytes_remaining"] == p["pages_remaining"] * 4096, p
assert 0 < p["percent"] < 100 and p["mib_per_s"] > 0, p
assert p["eta_s"] is not None and p["eta_s"] >= 0, p
PY
wait "$wpid" || fail "protect --wait exited $?: $(cat "$T/protect4.out")"
forget "$wpid"
wait "$spid" || fail "status --watch exited $?: $(cat "$T/watch.out")"
forget "$spid"
for f in protect4 watch; do
	tail -1 "$T/$f.out" | grep -qx colo || fail "$f did not end with colo: $(cat "$T/$f.out")"
	grep -Eq '^syncing [0-9]+ % [0-9]+/[0-9]+ MiB [0-9]+ MiB/s eta ([0-9]+ s|-)$' "$T/$f.out" ||
		fail "$f printed no progress line: $(cat "$T/$f.out")"
done
pass "progress: $(grep -c '^syncing' "$T/protect4.out") lines from protect --wait (last: $(grep '^syncing' "$T/protect4.out" | tail -1)), status --watch too; both exit 0 in colo"
