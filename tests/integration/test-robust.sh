#!/bin/bash
# SPDX-License-Identifier: MIT
# Failures that must not look like a lost primary, and a fenced SVM that
# must not be thrown away by a stray connection.
source "$(dirname "$0")/lib.sh"
require_dirtylog

# 1. A PVM slow to reach a safe point: the primary keeps heartbeating while
#    it waits at the barrier, so the secondary must not take over.
INSECURE=1 start_pair "$KV" --ram 32M
wait_state "$PSOCK" colo 60
redis-cli -p "$PPORT" SET before-stall yes >/dev/null
gpid=$(status_field "$PSOCK" 's["guest_pid"]')
kill -STOP "$gpid"
ctl "$PSOCK" checkpoint >"$T/ckpt.out" 2>&1 &
ckpt=$!
sleep 2.5                       # 2.5x the failover timeout
kill -CONT "$gpid"
wait "$ckpt" || fail "checkpoint after the stall: $(cat "$T/ckpt.out")"
[[ $(status_field "$SSOCK" 's["role"]') == secondary ]] ||
	fail "the secondary took over from a live primary: $(grep -i 'lost\|taking' "$T/secondary.log")"
wait_state "$PSOCK" colo 5
pass "a PVM stalled 2.5 s at the barrier: no takeover, checkpoint done"

# 2. The SVM dies: the secondary's own failure. It drops its state, the
#    primary (alive) goes unprotected, dials again and re-syncs it.
spid=$(status_field "$SSOCK" 's["svm_pid"]')
kill -KILL "$spid"
wait_state "$PSOCK" colo 30
[[ $(status_field "$SSOCK" 's["role"]') == secondary ]] ||
	fail "the secondary took over after its own SVM died"
out=$(ctl "$PSOCK" verify) || fail "verify: $out"
[[ $out == identical* ]] || fail "verify: $out"
pass "SVM killed: secondary re-synced by the live primary, verify identical"
kill -TERM "$PID_primary" "$PID_secondary"; wait "$PID_primary" "$PID_secondary" || true
PIDS=()

# 3. Fenced: the only copy of the acknowledged writes. A bare connection to
#    the replication port must not destroy it; `failover` still can serve.
RPORT=$(free_port); SPORT=$(free_port); PPORT=$(free_port)
start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$T/s3.sock" --guest "$KV" \
	--insecure --takeover-requires-fence false
start primary "$PRIMARY" --service "127.0.0.1:$PPORT" --control "$T/p3.sock" \
	--guest "$KV" --ram 32M --secondary "127.0.0.1:$RPORT" --insecure
wait_state "$T/p3.sock" colo 60
redis-cli -p "$PPORT" SET acked-before-loss kept >/dev/null
kill -KILL "$PID_primary"
wait_state "$T/s3.sock" fenced 10
python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1', $RPORT)); s.sendall(b'hello?'); s.close()"
sleep 0.5
[[ $(status_field "$T/s3.sock" 's["state"]') == fenced ]] ||
	fail "a stray connection ended the fenced state: $(status_field "$T/s3.sock" 's["state"]')"
(( $(status_field "$T/s3.sock" 's["svm_pid"]') > 0 )) || fail "the fenced SVM is gone"
ctl "$T/s3.sock" failover >/dev/null || fail "failover of the fenced secondary"
for _ in $(seq 50); do
	v=$(redis-cli -p "$SPORT" GET acked-before-loss 2>/dev/null || true)
	[[ $v == kept ]] && break
	sleep 0.1
done
[[ $v == kept ]] || fail "after failover: GET gave '$v'"
pass "fenced SVM survived a stray connection; failover served the acknowledged write"
