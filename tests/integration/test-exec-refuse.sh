#!/bin/bash
# SPDX-License-Identifier: MIT
# A program that holds what a checkpoint cannot copy is refused, not
# protected to diverge: here a server that also keeps a UDP socket. The
# primary serves it unprotected, says why in last_error (naming the fd)
# and stops dialling until `colo-ctl protect`; the program never stopped
# serving.
source "$(dirname "$0")/lib.sh"
require_dirtylog
PY=/usr/bin/python3
[[ -x $PY ]] || { echo "SKIP: $PY not installed"; exit 77; }

# Listens on 7000, answers each line with "ok", and holds a UDP socket.
SERVER='
import socket
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 7001))
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 7000))
srv.listen(8)
while True:
    c, _ = srv.accept()
    with c, c.makefile("rb") as f:
        for line in f:
            c.sendall(b"ok\n")
'
PROG=(--exec-port 7000 --exec "$PY" -c "$SERVER")
SPORT=$(free_port); PPORT=$(free_port); RPORT=$(free_port)
PSOCK=$T/primary.sock; SSOCK=$T/secondary.sock
start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$SSOCK" --insecure "${PROG[@]}"
start primary "$PRIMARY" --service "127.0.0.1:$PPORT" --control "$PSOCK" \
	--insecure "${PROG[@]}"
# Settled first (the daemon's start-up probe of its port is the program's
# first connection), then protection is asked for.
sleep 1
ctl "$PSOCK" protect "127.0.0.1:$RPORT" >/dev/null || fail "protect"

deadline=$(( $(date +%s) + 30 ))
until [[ $(status_get "$PSOCK" last_error) == *"cannot be protected"* ]]; do
	(( $(date +%s) < deadline )) || fail "no refusal: last_error '$(status_get "$PSOCK" last_error)'"
	require_alive primary secondary
	sleep 0.1
done
err=$(status_get "$PSOCK" last_error)
[[ $err == *"fd 3: socket:"*"not a listening or connected TCP socket"*"not supported"* ]] ||
	fail "last_error does not name the UDP socket (fd 3): $err"
[[ $(state_of "$PSOCK") == standalone ]] || fail "state $(state_of "$PSOCK"), not standalone"
[[ $(status_get "$PSOCK" next_dial_in_ms) == -1 ]] || fail "still dialling"
pass "refused: $err"

# It does not dial again on its own, and the program serves on.
n=$(grep -c "cannot be protected" "$T/primary.log")
sleep 3
[[ $(grep -c "cannot be protected" "$T/primary.log") == "$n" ]] || fail "it tried again"
out=$(python3 - "$PPORT" <<'PYC'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"hello\n")
print(s.recv(100).decode().strip())
PYC
) || fail "client: $out"
[[ $out == ok ]] || fail "the program answered '$out'"
# The secondary, whose connection ended before any checkpoint, is fine.
require_alive secondary
[[ $(state_of "$SSOCK") == waiting ]] || fail "secondary in state $(state_of "$SSOCK")"
pass "no dialling until protect; the program serves on, unprotected; the secondary waits"

