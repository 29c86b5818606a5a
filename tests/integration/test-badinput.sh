#!/bin/bash
# SPDX-License-Identifier: MIT
# Bad input ends that connection with a clear log line; the daemon lives
# and a real primary can still pair with it afterwards (I6).
source "$(dirname "$0")/lib.sh"
require_dirtylog

RPORT=$(free_port)
SSOCK=$T/s.sock
RAM=$((16 << 20))
start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$(free_port)" --control "$SSOCK" \
	--guest "$KV" --insecure

check() {  # MODE EXPECTED-OUTCOME LOG-PATTERN
	local out
	out=$("$INJECT" "127.0.0.1:$RPORT" "$1" "$KV" "$RAM") ||
		fail "$1: the secondary kept the connection: $out"
	[[ $out == $2* ]] || fail "$1: outcome '$out', expected '$2'"
	for _ in $(seq 50); do
		grep -q "$3" "$T/secondary.log" && break
		sleep 0.1
	done
	grep -q "$3" "$T/secondary.log" || fail "$1: no log line matching '$3'"
	kill -0 "$PID_secondary" || fail "$1: the secondary died"
	[[ $(status_field "$SSOCK" 's["state"]') == waiting ]] ||
		fail "$1: secondary not back to waiting"
	pass "$1: $out"
}

check garbage closed "malformed\|unknown"
check oversize closed "malformed\|oversize\|too large"
check truncated closed "connection closed"
# The hostile primary offers ours + 41 (proto.h's PROTO_VERSION).
pv=$(sed -n 's/^#define PROTO_VERSION \([0-9]*\)$/\1/p' "$SRC/common/proto/proto.h")
[[ -n $pv ]] || fail "no PROTO_VERSION in proto.h"
check version "refused: protocol version" "protocol version $((pv + 41))"
check digest "refused: guest binary differs" "guest binary differs"
check range closed "out of range: block 0 pages $((RAM / 4096 - 1))+2"
check block closed "out of range: block 3"
check state closed "INPUT, which does not belong in state syncing"

# Malformed JSON on the control socket: an error reply, then the connection
# ends; the daemon answers the next client.
reply=$(python3 - "$SSOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"execute": "status",,,}\n')
print(s.recv(4096).decode().strip())
PY
)
[[ $reply == *'"error"'* ]] || fail "malformed JSON got: $reply"
status_field "$SSOCK" 's["role"]' | grep -qx secondary || fail "control dead after bad JSON"
pass "malformed JSON: $reply"

# After all that, a real primary pairs and verifies.
start primary "$PRIMARY" --service "127.0.0.1:$(free_port)" \
	--control "$T/p.sock" --guest "$KV" --ram 16M \
	--secondary "127.0.0.1:$RPORT" --insecure
wait_state "$T/p.sock" colo 60
out=$(ctl "$T/p.sock" verify) || fail "verify: $out"
[[ $out == identical* ]] || fail "verify: $out"
pass "a real primary pairs after the bad ones; verify identical"
