#!/bin/bash
# SPDX-License-Identifier: MIT
# Peer identity, not just the CA (QEMU's tls-hostname and tls-authz): every
# certificate below comes from the pair's own CA, and still a secondary
# that is not the host the primary dialled, or a peer outside either
# side's --tls-authz list, is refused with one line naming what was
# expected and what the certificate presented. A refusal by the primary is
# not a protocol refusal: it dials again with its backoff.
source "$(dirname "$0")/lib.sh"
require_dirtylog

gen_creds "$T/creds"    # the server certificate names localhost, 127.0.0.1, ::1

# A secondary on 127.0.0.2 (loopback too, but not a name its certificate
# carries) that accepts the pair's client certificate.
R1=$(free_port)
start s1 "$SECONDARY" --listen "127.0.0.2:$R1" \
	--service "127.0.0.1:$(free_port)" --control "$T/s1.sock" \
	--guest "$KV" --tls-creds "$T/creds" --tls-authz "CN=colo client"

# primary NAME FLAGS...: a primary of its own, with control socket $T/NAME.sock.
primary() {
	local name=$1; shift
	start "$name" "$PRIMARY" --service "127.0.0.1:$(free_port)" \
		--control "$T/$name.sock" --guest "$KV" --ram 16M \
		--tls-creds "$T/creds" "$@"
}

# wait_log FILE TEXT: TEXT appears in FILE within 10 s; prints its first
# line (grep -m1, not `| head`: under pipefail head leaving early fails
# the pipeline).
wait_log() {
	for _ in $(seq 100); do
		grep -m1 -F -- "$2" "$1" && return 0
		sleep 0.1
	done
	fail "no '$2' in $(basename "$1")"
}

# refused_by_primary NAME EXPECTED: logged and in last_error with what the
# secondary presented; dialled again; the secondary still waits.
refused_by_primary() {
	local name=$1 want=$2 line err next st
	line=$(wait_log "$T/$name.log" "expected $want")
	[[ $line == *"presented subject CN=colo server"* ]] ||
		fail "$name: refusal does not say what was presented: $line"
	err=$(status_field "$T/$name.sock" 's["last_error"]')
	[[ $err == *"expected $want"* && $err == *"presented subject CN=colo server"* ]] ||
		fail "$name: last_error: $err"
	for _ in $(seq 100); do
		(( $(status_get "$T/$name.sock" dial_failures) >= 2 )) && break
		sleep 0.1
	done
	(( $(status_get "$T/$name.sock" dial_failures) >= 2 )) ||
		fail "$name: did not dial again after a refused identity"
	next=$(status_get "$T/$name.sock" next_dial_in_ms)
	(( next >= 0 )) || fail "$name: gave up dialling (next_dial_in_ms $next)"
	# Serving unprotected; the next dial may be under way as we look.
	st=$(state_of "$T/$name.sock")
	[[ $st == standalone || $st == connecting ]] ||
		fail "$name: $st, not standalone or connecting"
	[[ $(state_of "$T/s1.sock") == waiting ]] || fail "s1 left waiting"
	echo "$line"
}

# 1. The default check: the primary dials 127.0.0.2, which the (right-CA)
#    certificate does not name.
primary p1 --secondary "127.0.0.2:$R1"
line=$(refused_by_primary p1 "'127.0.0.2'")
pass "dialled name checked by default: ${line#*failed: }"
kill -TERM "$PID_p1"; wait "$PID_p1" || true

# 2. --tls-hostname names the host the certificate must carry instead.
primary p2 --secondary "127.0.0.2:$R1" --tls-hostname hostb.example
line=$(refused_by_primary p2 "'hostb.example'")
pass "--tls-hostname checked: ${line#*failed: }"
kill -TERM "$PID_p2"; wait "$PID_p2" || true

# 3. The primary's authz list does not hold the secondary's identity.
primary p3 --secondary "127.0.0.2:$R1" --tls-hostname localhost \
	--tls-authz "CN=colo server elsewhere"
line=$(refused_by_primary p3 "'CN=colo server elsewhere'")
pass "primary's --tls-authz checked: ${line#*failed: }"
kill -TERM "$PID_p3"; wait "$PID_p3" || true

# 4. The secondary's authz list does not hold the primary's identity.
R2=$(free_port)
start s2 "$SECONDARY" --listen "127.0.0.1:$R2" \
	--service "127.0.0.1:$(free_port)" --control "$T/s2.sock" \
	--guest "$KV" --tls-creds "$T/creds" \
	--tls-authz "CN=colo client elsewhere" --tls-authz other.example
primary p4 --secondary "127.0.0.1:$R2"
line=$(wait_log "$T/s2.log" "rejecting")
[[ $line == *"expected 'CN=colo client elsewhere' or 'other.example'"* &&
   $line == *"presented subject CN=colo client"* ]] ||
	fail "secondary's refusal does not name both: $line"
err=$(status_field "$T/s2.sock" 's["last_error"]')
[[ $err == *"presented subject CN=colo client"* ]] || fail "s2 last_error: $err"
[[ $(state_of "$T/s2.sock") == waiting ]] || fail "s2 left waiting"
pass "secondary's --tls-authz checked: ${line#*failed: }"
kill -TERM "$PID_p4"; wait "$PID_p4" || true

# 5. Both lists and the configured name right: the pair forms.
primary p5 --secondary "127.0.0.2:$R1" --tls-hostname localhost \
	--tls-authz "CN=colo server elsewhere" --tls-authz "CN=colo server"
wait_state "$T/p5.sock" colo 60
pass "right name and identities on both sides: colo"
