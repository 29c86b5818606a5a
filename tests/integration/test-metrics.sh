#!/bin/bash
# SPDX-License-Identifier: MIT
#
# --metrics on both daemons of a real pair (README "Metrics").
#
# 1. A bad --metrics value is refused at start, in one line naming it; a
#    port that is taken is refused at start (bind's errno), before "ready".
# 2. Both daemons serve /metrics in the text format 0.0.4: the content
#    type, `promtool check metrics` clean, role and state right; another
#    path is 404, another method 405.
# 3. Values move: `colo-ctl checkpoint` adds one to the primary's manual
#    checkpoints and its pause histogram, and to the secondary's applied
#    checkpoints.
# 4. Hostile scrapers cannot stall the daemon: with more idle connections
#    than the limit held open, the control socket still answers at once
#    and a checkpoint still goes through; MHD drops the idle ones at its
#    timeout, and a scrape then works.
# 5. State changes show: the secondary killed, the primary says
#    standalone and one secondary loss. A new secondary joins, the
#    primary is killed: the secondary takes over and serves /metrics on
#    its own address as the primary, with one failover.
source "$(dirname "$0")/lib.sh"
require_dirtylog
command -v curl >/dev/null || { echo "SKIP: curl is not installed"; exit 77; }
command -v promtool >/dev/null ||
	{ echo "SKIP: promtool (Debian's prometheus) is not installed"; exit 77; }

# scrape PORT [PATH]: the body; fails the test unless it is a 200.
scrape() {
	curl -sf --max-time 20 "http://127.0.0.1:$1${2:-/metrics}" ||
		fail "scrape of :$1${2:-/metrics} failed"
}

# metric PORT SERIES: the value of one series ('colo_clients',
# 'colo_state{state="colo"}'), "" when it is missing.
metric() {
	scrape "$1" | awk -v s="$2" '$1 == s { print $2 }'
}

# promtool_ok PORT WHAT: the scrape passes `promtool check metrics`.
promtool_ok() {
	local out
	out=$(scrape "$1" | promtool check metrics 2>&1) ||
		fail "promtool check metrics on the $2's scrape: $out"
}

# 1. Refusals at start.
SPORT=$(free_port); PPORT=$(free_port); RPORT=$(free_port)
for bad in nonsense 127.0.0.1 127.0.0.1:0 127.0.0.1:70000 :9100x; do
	rc=0
	"$PRIMARY" --service "127.0.0.1:$PPORT" --control "$T/bad.sock" \
		--guest "$KV" --metrics "$bad" >"$T/bad.out" 2>&1 || rc=$?
	[[ $rc == 2 && $(wc -l <"$T/bad.out") == 1 ]] &&
		grep -qF -- "colo-primary: --metrics: '$bad' is not ADDR:PORT" "$T/bad.out" ||
		fail "primary --metrics '$bad': exit $rc, $(cat "$T/bad.out")"
	rc=0
	"$SECONDARY" --listen "127.0.0.1:$RPORT" --service "127.0.0.1:$SPORT" \
		--control "$T/bad.sock" --guest "$KV" --insecure \
		--metrics "$bad" >"$T/bad.out" 2>&1 || rc=$?
	[[ $rc == 2 && $(wc -l <"$T/bad.out") == 1 ]] &&
		grep -qF -- "colo-secondary: --metrics: '$bad' is not ADDR:PORT" "$T/bad.out" ||
		fail "secondary --metrics '$bad': exit $rc, $(cat "$T/bad.out")"
done
pass "bad --metrics values refused in one line"

TAKEN=$(free_port)
spawn holder python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
print("listening", flush=True)
time.sleep(600)' "$TAKEN"
for _ in $(seq 100); do
	grep -q listening "$T/holder.log" && break
	sleep 0.05
done
rc=0
timeout 30 "$PRIMARY" --service "127.0.0.1:$PPORT" --control "$T/taken.sock" \
	--guest "$KV" --ram 16M --metrics "127.0.0.1:$TAKEN" >"$T/taken.log" 2>&1 || rc=$?
[[ $rc == 1 ]] && ! grep -q '^ready$' "$T/taken.log" &&
	grep -q -- "--metrics: bind 127.0.0.1:$TAKEN: Address already in use" "$T/taken.log" ||
	fail "primary on a taken metrics port: exit $rc"
rc=0
timeout 30 "$SECONDARY" --listen "127.0.0.1:$RPORT" --service "127.0.0.1:$SPORT" \
	--control "$T/taken.sock" --guest "$KV" --insecure \
	--metrics "127.0.0.1:$TAKEN" >"$T/taken.log" 2>&1 || rc=$?
[[ $rc == 1 ]] && ! grep -q '^ready$' "$T/taken.log" &&
	grep -q -- "--metrics: bind 127.0.0.1:$TAKEN: Address already in use" "$T/taken.log" ||
	fail "secondary on a taken metrics port: exit $rc"
stop holder
pass "a metrics port in use refused at start"

# 2. A pair, each side with its own endpoint.
PMET=$(free_port); SMET=$(free_port)
PSOCK=$T/primary.sock; SSOCK=$T/secondary.sock
start_secondary() {
	start "$1" "$SECONDARY" --listen "127.0.0.1:$RPORT" \
		--service "127.0.0.1:$SPORT" --control "$SSOCK" --guest "$KV" \
		--insecure --metrics "127.0.0.1:$SMET"
}
start_secondary secondary
start primary "$PRIMARY" --service "127.0.0.1:$PPORT" --control "$PSOCK" \
	--guest "$KV" --ram 64M --insecure --secondary "127.0.0.1:$RPORT" \
	--metrics "127.0.0.1:$PMET"
wait_state "$PSOCK" colo 60 primary secondary
redis-cli -p "$PPORT" SET k v >/dev/null

ctype=$(curl -s -o /dev/null -w '%{content_type}' "http://127.0.0.1:$PMET/metrics")
[[ $ctype == "text/plain; version=0.0.4"* ]] || fail "content type '$ctype'"
promtool_ok "$PMET" primary
promtool_ok "$SMET" secondary
[[ $(metric "$PMET" 'colo_role{role="primary"}') == 1 &&
   $(metric "$PMET" 'colo_state{state="colo"}') == 1 &&
   $(metric "$PMET" 'colo_state{state="standalone"}') == 0 &&
   $(metric "$PMET" colo_live_sync_progress_ratio) == 1 &&
   $(metric "$PMET" colo_guest_ram_bytes) == $((64 << 20)) &&
   $(metric "$PMET" colo_checkpoints_put_off_total) == 0 ]] ||
	fail "primary's role, state, progress or RAM wrong: $(scrape "$PMET")"
[[ $(metric "$SMET" 'colo_role{role="secondary"}') == 1 &&
   $(metric "$SMET" 'colo_state{state="colo"}') == 1 &&
   $(metric "$SMET" colo_failovers_total) == 0 &&
   $(metric "$SMET" colo_checkpoints_not_now_total) == 0 ]] ||
	fail "secondary's role or state wrong: $(scrape "$SMET")"
# The link's round trip, from the heartbeats both ways: there on both sides
# once each has echoed the other's (a heartbeat interval or two), in
# status and /metrics alike; on loopback well under a second.
rtt_ok() {  # SOCK PORT
	local us s
	us=$(status_get "$1" link_rtt_us)
	s=$(metric "$2" colo_link_rtt_seconds)
	[[ $us =~ ^[0-9]+$ ]] && (( us > 0 && us < 1000000 )) &&
		python3 -c 'import sys; v = float(sys.argv[1]); sys.exit(not 0 < v < 1)' "$s"
}
for _ in $(seq 50); do
	rtt_ok "$PSOCK" "$PMET" && rtt_ok "$SSOCK" "$SMET" && break
	sleep 0.1
done
rtt_ok "$PSOCK" "$PMET" || fail "primary's link round trip: status $(status_get "$PSOCK" link_rtt_us), metric $(metric "$PMET" colo_link_rtt_seconds)"
rtt_ok "$SSOCK" "$SMET" || fail "secondary's link round trip: status $(status_get "$SSOCK" link_rtt_us), metric $(metric "$SMET" colo_link_rtt_seconds)"
pass "link round trip on both sides: $(status_get "$PSOCK" link_rtt_us) us and $(status_get "$SSOCK" link_rtt_us) us"

sent=$(metric "$PMET" colo_live_sync_sent_bytes)
(( ${sent%.*} > 0 )) || fail "live sync sent $sent bytes"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PMET/other")
[[ $code == 404 ]] || fail "GET /other: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -d x "http://127.0.0.1:$SMET/metrics")
[[ $code == 405 ]] || fail "POST /metrics: $code"
pass "both daemons serve /metrics: promtool clean, 404, 405"

# 3. Values move with a checkpoint.
manual0=$(metric "$PMET" 'colo_checkpoints_total{reason="manual"}')
count0=$(metric "$PMET" colo_checkpoint_pause_seconds_count)
applied0=$(metric "$SMET" colo_checkpoints_applied_total)
ctl "$PSOCK" checkpoint >/dev/null || fail "checkpoint"
manual1=$(metric "$PMET" 'colo_checkpoints_total{reason="manual"}')
count1=$(metric "$PMET" colo_checkpoint_pause_seconds_count)
applied1=$(metric "$SMET" colo_checkpoints_applied_total)
(( manual1 == manual0 + 1 && count1 > count0 && applied1 > applied0 )) ||
	fail "after a checkpoint: manual $manual0 -> $manual1, pauses $count0 -> $count1, applied $applied0 -> $applied1"
[[ $(metric "$PMET" 'colo_checkpoint_pages_bucket{le="+Inf"}') == "$count1" ]] ||
	fail "the pages histogram did not count the checkpoint"
pass "a checkpoint counted on both sides"

# 4. Idle scrapers, more than the limit (8), never stall the daemon.
python3 - "$PMET" "$CTL" "$PSOCK" <<'PY' || fail "hostile scrapers"
import socket, subprocess, sys, time
port, ctl, sock = int(sys.argv[1]), sys.argv[2], sys.argv[3]
conns = []
for _ in range(12):
    c = socket.create_connection(("127.0.0.1", port))
    c.sendall(b"GET /metr")                 # a request never finished
    conns.append(c)
t0 = time.monotonic()
for cmd in (["status"], ["checkpoint"], ["status"]):
    subprocess.run([ctl, "-s", sock] + cmd, check=True,
                   stdout=subprocess.DEVNULL, timeout=10)
took = time.monotonic() - t0
if took > 3:
    sys.exit(f"control socket took {took:.1f} s with idle scrapers")
# MHD's timeout (10 s) ends the ones it accepted.
for c in conns[:8]:
    c.settimeout(25)
    try:
        if c.recv(1) != b"":
            sys.exit("an idle scraper got data")
    except ConnectionResetError:
        pass
for c in conns:
    c.close()
PY
promtool_ok "$PMET" primary
pass "idle scrapers: the daemon answers, MHD drops them at its timeout"

# 5. The secondary killed: standalone, one loss.
kill -KILL "$PID_secondary"; wait "$PID_secondary" 2>/dev/null || true
forget "$PID_secondary"
wait_state "$PSOCK" standalone 15 primary
[[ $(metric "$PMET" 'colo_state{state="standalone"}') == 1 &&
   $(metric "$PMET" 'colo_state{state="colo"}') == 0 &&
   $(metric "$PMET" colo_secondary_losses_total) == 1 ]] ||
	fail "after the secondary's death: $(scrape "$PMET")"
promtool_ok "$PMET" primary
pass "state and losses change when the secondary dies"

# A new secondary on the same addresses; the primary dials it again.
start_secondary secondary2
wait_state "$PSOCK" colo 60 primary secondary2
kill -KILL "$PID_primary"; wait "$PID_primary" 2>/dev/null || true
forget "$PID_primary"
wait_state "$SSOCK" standalone 30 secondary2
for _ in $(seq 100); do
	[[ $(metric "$SMET" colo_failovers_total 2>/dev/null) == 1 ]] && break
	sleep 0.1
done
[[ $(metric "$SMET" colo_failovers_total) == 1 &&
   $(metric "$SMET" 'colo_role{role="primary"}') == 1 &&
   $(metric "$SMET" 'colo_state{state="standalone"}') == 1 ]] ||
	fail "after the takeover: $(scrape "$SMET")"
promtool_ok "$SMET" "promoted secondary"
pass "the promoted secondary serves the primary's metrics, one failover"
