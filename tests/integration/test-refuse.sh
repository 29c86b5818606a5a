#!/bin/bash
# SPDX-License-Identifier: MIT
# What must be refused is refused, with a message that says why: a guest
# binary that differs between the hosts, and a peer from another CA.
source "$(dirname "$0")/lib.sh"
require_dirtylog

# 1. Different guest binaries: the secondary names both digests.
gen_creds "$T/creds"
RPORT=$(free_port)
start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$(free_port)" --control "$T/s.sock" \
	--guest "$NONDET" --tls-creds "$T/creds"
start primary "$PRIMARY" --service "127.0.0.1:$(free_port)" \
	--control "$T/p.sock" --guest "$KV" --ram 16M \
	--secondary "127.0.0.1:$RPORT" --tls-creds "$T/creds"
kv_sum=$(sha256sum "$KV" | cut -d' ' -f1)
nd_sum=$(sha256sum "$NONDET" | cut -d' ' -f1)
for _ in $(seq 100); do
	grep -q "guest binary differs" "$T/secondary.log" && break
	sleep 0.1
done
line=$(grep "guest binary differs" "$T/secondary.log") || fail "no refusal logged"
[[ $line == *"$kv_sum"* && $line == *"$nd_sum"* ]] || fail "refusal lacks digests: $line"
wait_state "$T/p.sock" standalone 10
err=$(status_field "$T/p.sock" 's["last_error"]')
[[ $err == *"$kv_sum"* && $err == *"$nd_sum"* ]] || fail "primary's last_error: $err"
rc=0; ctl "$T/p.sock" checkpoint 2>"$T/ckpt.err" || rc=$?
[[ $rc == 1 ]] && grep -q standalone "$T/ckpt.err" || fail "checkpoint without secondary: rc=$rc $(cat "$T/ckpt.err")"
pass "guest digest mismatch refused, both digests named"
kill -TERM "$PID_primary" "$PID_secondary"; wait "$PID_primary" "$PID_secondary" || true
PIDS=()

# 2. A primary whose certificate comes from another CA.
gen_creds "$T/other"
RPORT=$(free_port)
start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$(free_port)" --control "$T/s2.sock" \
	--guest "$KV" --tls-creds "$T/creds"
start primary "$PRIMARY" --service "127.0.0.1:$(free_port)" \
	--control "$T/p2.sock" --guest "$KV" --ram 16M \
	--secondary "127.0.0.1:$RPORT" --tls-creds "$T/other"
wait_state "$T/p2.sock" standalone 20
for _ in $(seq 50); do
	grep -qi "rejecting" "$T/secondary.log" && break
	sleep 0.1
done
grep -i "rejecting" "$T/secondary.log" | grep -i "certificate\|verify\|alert" >/dev/null ||
	fail "secondary did not say why it rejected: $(grep -i tls "$T/secondary.log")"
err=$(status_field "$T/p2.sock" 's["last_error"]')
[[ -n $err ]] || fail "primary has no last_error"
s=$(status_field "$T/s2.sock" 's["state"]')
[[ $s == waiting ]] || fail "secondary state $s after a rejected peer"
pass "peer from another CA refused ($err)"
