#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Ordinary faults on the replication link never cost protection for good:
# a primary whose secondary is silent, resets the handshake or is away
# dials again with a capped backoff (and says when in `status`); only a
# refusal in the protocol, or `colo-ctl failover`, ends that. Liveness in
# every state: a peer that goes silent during the hello or the live sync,
# without closing, is dropped after the failover timeout (1 s here).
source "$(dirname "$0")/lib.sh"
require_dirtylog

gen_creds "$T/creds"

# A TCP listener that accepts and then does nothing (MODE silent) or closes
# at once (MODE reset). Its PID is in $SILENT.
listener() {  # PORT MODE
	python3 - "$1" "$2" <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
held = []
while True:
    c, _ = s.accept()
    if sys.argv[2] == "reset":
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        c.close()
    else:
        held.append(c)
PY
	SILENT=$!
	PIDS+=("$SILENT")
	sleep 0.3
}

field() { status_field "$1" "$2"; }

# 1. A silent secondary, then one that resets the handshake: the primary
#    keeps dialling, with a backoff, and joins the real one when it comes.
RPORT=$(free_port); PPORT=$(free_port); PSOCK=$T/primary.sock
listener "$RPORT" silent
start primary "$PRIMARY" --service "127.0.0.1:$PPORT" --control "$PSOCK" \
	--guest "$KV" "${KV_DEBUG[@]}" --ram 256M --tls-creds "$T/creds" \
	--secondary "127.0.0.1:$RPORT"
sleep 4
fails=$(field "$PSOCK" 's["dial_failures"]')
(( fails >= 2 )) || fail "after 4 s of a silent secondary: $fails failed dials"
grep -q "TLS handshake with 127.0.0.1:$RPORT: no answer" "$T/primary.log" ||
	fail "no log line about the silent handshake"
[[ $(field "$PSOCK" 's["last_error"]') == *"TLS handshake"* ]] ||
	fail "status last_error: $(field "$PSOCK" 's["last_error"]')"
kill -KILL "$SILENT"; wait "$SILENT" 2>/dev/null || true
listener "$RPORT" reset
before=$(field "$PSOCK" 's["dial_failures"]')
# By now the backoff may be at its 5 s cap (a slow listener start costs a
# refused try more): wait for one more try, up to twice the cap.
for _ in $(seq 100); do
	after=$(field "$PSOCK" 's["dial_failures"]')
	(( after > before )) && break
	sleep 0.1
done
(( after > before )) || fail "a handshake reset stopped the dialling ($before -> $after in 10 s)"
next=$(field "$PSOCK" 's["next_dial_in_ms"]')
(( next >= 0 && next <= 5000 )) || [[ $(field "$PSOCK" 's["state"]') == connecting ]] ||
	fail "next_dial_in_ms $next with state $(field "$PSOCK" 's["state"]')"
# The backoff is capped at 5 s: no two tries further apart than that.
kill -KILL "$SILENT"; wait "$SILENT" 2>/dev/null || true
SPORT=$(free_port); SSOCK=$T/secondary.sock
start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$SSOCK" --guest "$KV" "${KV_DEBUG[@]}" \
	--tls-creds "$T/creds"
wait_state "$PSOCK" colo 15
(( $(field "$PSOCK" 's["dial_failures"]') == 0 )) || fail "failures not reset"
pass "silent and resetting secondaries cost retries, not protection ($after failed dials)"

# 2. The secondary goes silent (stopped, no FIN) during live sync: the
#    primary gives up within the failover timeout, goes on serving, and
#    is protected again once it answers.
kill -TERM "$PID_secondary"; wait "$PID_secondary" || true
wait_state "$PSOCK" standalone 10
# 200 MB: a live sync of a few seconds, to be caught in the middle.
[[ $(redis-cli -p "$PPORT" DEBUG FILLRANDOM 200000000) == OK ]] ||
	fail "DEBUG FILLRANDOM with --enable-debug-command=yes"
start secondary2 "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$T/s2.sock" --guest "$KV" "${KV_DEBUG[@]}" \
	--tls-creds "$T/creds"
wait_state "$PSOCK" syncing 30
kill -STOP "$PID_secondary2"
t0=$(date +%s%N)
wait_state "$PSOCK" standalone 5
grep -q "live sync complete" "$T/secondary2.log" &&
	fail "the sync ended before the secondary was stopped; no test"
t1=$(date +%s%N)
redis-cli -p "$PPORT" SET during-silence ok >/dev/null || fail "not serving"
pass "a secondary silent during live sync was dropped in $(( (t1 - t0) / 1000000 )) ms"
kill -CONT "$PID_secondary2"
wait_state "$PSOCK" colo 30
pass "protected again once the secondary answered"

# 3. The primary goes silent during live sync: the secondary drops the
#    link (it is no longer held by a dead peer) and takes the next one.
kill -TERM "$PID_secondary2"; wait "$PID_secondary2" || true
wait_state "$PSOCK" standalone 10
start secondary3 "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$T/s3.sock" --guest "$KV" "${KV_DEBUG[@]}" \
	--tls-creds "$T/creds"
wait_state "$PSOCK" syncing 30
kill -STOP "$PID_primary"
wait_state "$T/s3.sock" waiting 5
grep -q "no message for\|timed out" "$T/secondary3.log" || fail "no log line about the silent primary"
kill -CONT "$PID_primary"
wait_state "$PSOCK" colo 30
pass "a primary silent during live sync was dropped by the secondary; the pair re-formed"

# 4. Silent peers on a waiting secondary's port: bare TCP connections that
#    never start the TLS handshake cost a file descriptor until their
#    deadline, not the loop: the control socket answers at once.
kill -TERM "$PID_secondary3"; wait "$PID_secondary3" || true
kill -TERM "$PID_primary"; wait "$PID_primary" || true
start secondary4 "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$T/s4.sock" --guest "$NONDET" \
	--tls-creds "$T/creds"
exec {silent1}<>"/dev/tcp/127.0.0.1/$RPORT"
exec {silent2}<>"/dev/tcp/127.0.0.1/$RPORT"
sleep 0.2
t0=$(date +%s%N)
ctl "$T/s4.sock" status >/dev/null || fail "status"
t1=$(date +%s%N)
(( (t1 - t0) / 1000000 < 1000 )) || fail "status took $(( (t1 - t0) / 1000000 )) ms with silent peers"
sleep 1.5
(( $(grep -c "rejecting .*no answer in time" "$T/secondary4.log") == 2 )) ||
	fail "silent handshakes not dropped at their deadline"
exec {silent1}>&- {silent2}>&-
pass "status answered in $(( (t1 - t0) / 1000000 )) ms while two peers held handshakes; both dropped"

# 5. A refusal is final until the operator acts; failover stops dialling.
# secondary4 runs another guest binary: it refuses any primary of colo-kv.
start primary2 "$PRIMARY" --service "127.0.0.1:$(free_port)" \
	--control "$T/p2.sock" --guest "$KV" --ram 32M --tls-creds "$T/creds" \
	--secondary "127.0.0.1:$RPORT"
for _ in $(seq 100); do
	grep -q "refused us" "$T/primary2.log" && break
	sleep 0.05
done
sleep 1.5
[[ $(field "$T/p2.sock" 's["next_dial_in_ms"]') == -1 ]] || fail "dialling after a refusal"
(( $(grep -c "refusing primary" "$T/secondary4.log") == 1 )) || fail "dialled again after a refusal"
kill -TERM "$PID_secondary4"; wait "$PID_secondary4" || true
listener "$RPORT" silent
ctl "$T/p2.sock" protect "127.0.0.1:$RPORT" >/dev/null || fail "protect"
sleep 0.5
t0=$(date +%s%N)
ctl "$T/p2.sock" failover >/dev/null || fail "failover while dialling"
t1=$(date +%s%N)
(( (t1 - t0) / 1000000 < 3000 )) || fail "failover while dialling took $(( (t1 - t0) / 1000000 )) ms"
sleep 0.5
[[ $(field "$T/p2.sock" 's["state"]') == standalone &&
   $(field "$T/p2.sock" 's["next_dial_in_ms"]') == -1 ]] || fail "still dialling after failover"
pass "a refusal and colo-ctl failover stop the dialling; nothing else does"
