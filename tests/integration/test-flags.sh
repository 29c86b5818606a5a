#!/bin/bash
# SPDX-License-Identifier: MIT
# Bad flags stop start-up with a one-line reason and exit 2.
source "$(dirname "$0")/lib.sh"

expect_refusal() {  # WHAT-IN-MESSAGE COMMAND...
	local want=$1; shift
	local out rc=0
	out=$("$@" 2>&1) || rc=$?
	[[ $rc == 2 ]] || fail "'$*' exited $rc, not 2: $out"
	[[ $out == *"$want"* ]] || fail "'$*' said '$out', not '$want'"
	[[ $(printf '%s\n' "$out" | wc -l) == 1 ]] || fail "'$*': not one line: $out"
}

expect_refusal "--service" "$PRIMARY" --control /tmp/x --guest "$KV"
expect_refusal "--ram" "$PRIMARY" --service 127.0.0.1:1 --control x --guest "$KV" --ram 12Q
expect_refusal "--checkpoint-delay" "$PRIMARY" --service 127.0.0.1:1 --control x --guest "$KV" --checkpoint-delay abc
expect_refusal "--clear-bitmap-shift" "$PRIMARY" --service 127.0.0.1:1 --control x --guest "$KV" --clear-bitmap-shift 40
expect_refusal "--tls-creds" "$PRIMARY" --service 127.0.0.1:1 --control x --guest "$KV" --secondary 127.0.0.1:2
expect_refusal "exclude" "$SECONDARY" --listen 127.0.0.1:1 --service 127.0.0.1:2 --control x --guest "$KV" --insecure --tls-creds /tmp
expect_refusal "--listen" "$SECONDARY" --service 127.0.0.1:2 --control x --guest "$KV" --insecure
pass "bad flags refused with one line"

# A credentials directory without its files stops start-up, naming the file.
mkdir -p "$T/empty-creds"
rc=0
out=$("$SECONDARY" --listen 127.0.0.1:$(free_port) --service 127.0.0.1:$(free_port) \
	--control "$T/s.sock" --guest "$KV" --tls-creds "$T/empty-creds" 2>&1) || rc=$?
[[ $rc == 1 ]] || fail "secondary with empty creds exited $rc"
[[ $out == *ca-cert.pem* || $out == *server-cert.pem* ]] || fail "no file named: $out"
pass "missing credentials named"

rc=0
out=$("$PRIMARY" --service 127.0.0.1:$(free_port) --control "$T/p.sock" \
	--guest /nonexistent/guest --ram 16M 2>&1) || rc=$?
[[ $rc == 1 && $out == *"/nonexistent/guest"* ]] || fail "missing guest: rc=$rc $out"
pass "missing guest binary named"
