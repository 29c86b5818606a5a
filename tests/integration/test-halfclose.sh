#!/bin/bash
# SPDX-License-Identifier: MIT
# How connections end. A client that sends a request and half-closes its
# write side gets its reply, then the primary's close; a guest's close
# (QUIT) comes after its reply. Standalone, and in colo state, where the
# PVM's close reaches the client only once the SVM closed the same
# connection after the same bytes.
source "$(dirname "$0")/lib.sh"
require_dirtylog

# client.py PORT SEND EXPECT [MARK]: send SEND (with \r\n escapes), shut
# the write side unless SEND ends in QUIT, create MARK, read until the
# primary closes; fail unless what came back is EXPECT. Prints the
# milliseconds from the request to the close. With REPEAT=N, N connections
# one after the other (a lost reply can be a race: give it chances).
cat >"$T/client.py" <<'PY'
import os, socket, sys, time
port = int(sys.argv[1])
send, want = (a.encode().decode("unicode_escape").encode("latin1")
              for a in sys.argv[2:4])
for _ in range(int(os.environ.get("REPEAT", "1"))):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    t0 = time.monotonic()
    s.sendall(send)
    if not send.endswith(b"QUIT\r\n"):
        s.shutdown(socket.SHUT_WR)
    if len(sys.argv) > 4:
        open(sys.argv[4], "w").close()
    got = b""
    try:
        while True:
            b = s.recv(4096)
            if not b:
                break
            got += b
    except socket.timeout:
        sys.exit("no close after %r" % got)
    if got != want:
        sys.exit("got %r, want %r" % (got, want))
    s.close()
print(int((time.monotonic() - t0) * 1000))
PY

# ends PORT WHERE: the cases every setup must pass.
ends() {
	local out
	out=$(REPEAT=20 python3 "$T/client.py" "$1" 'PING\r\n' '+PONG\r\n' \
		2>&1) || fail "$2: half-closed PING: $out"
	pass "$2: 20 half-closed PINGs got +PONG, then the close"
	out=$(REPEAT=5 python3 "$T/client.py" "$1" 'SET k v\r\nGET k\r\nGET nope\r\n' \
		'+OK\r\n$1\r\nv\r\n$-1\r\n' 2>&1) ||
		fail "$2: half-closed pipeline: $out"
	pass "$2: 5 half-closed pipelines got all three replies"
	out=$(python3 "$T/client.py" "$1" '' '' 2>&1) ||
		fail "$2: half-close without a request: $out"
	pass "$2: half-close without a request is closed"
	out=$(python3 "$T/client.py" "$1" 'PING\r\nQUIT\r\n' \
		'+PONG\r\n+OK\r\n' 2>&1) || fail "$2: QUIT: $out"
	pass "$2: QUIT answered, then closed by the guest"
}

# Standalone: no secondary, closes go straight through.
SAPORT=$(free_port)
start standalone "$PRIMARY" --service "127.0.0.1:$SAPORT" \
	--control "$T/standalone.sock" --guest "$KV" --ram 16M
ends "$SAPORT" standalone

# Colo state. No periodic checkpoint and a long compare timeout, so that a
# close that goes out without a checkpoint was released by the comparison.
INSECURE=1 start_pair "$KV" --ram 16M --checkpoint-delay 600000 \
	--compare-timeout 60000
wait_state "$PSOCK" colo 60
ck0=$(status_field "$PSOCK" 's["checkpoints"]')
ends "$PPORT" colo
ck1=$(status_field "$PSOCK" 's["checkpoints"]')
mm=$(status_field "$PSOCK" 's["mismatches"]')
[[ $ck1 == "$ck0" && $mm == 0 ]] ||
	fail "closes cost checkpoints ($ck0 -> $ck1) or mismatches ($mm)"
pass "colo: every close matched the SVM's, no checkpoint"

# The PVM's close waits for the SVM's: with the SVM stopped, a client that
# half-closes without a request (the guest's only output is its close) is
# closed only once the SVM has run again.
svm=""
for pid in $(pgrep -P "$PID_secondary"); do
	[[ $(readlink "/proc/$pid/exe") == "$(readlink -f "$KV")" ]] && svm=$pid
done
[[ -n $svm ]] || fail "no SVM process under the secondary ($PID_secondary)"
kill -STOP "$svm"
python3 "$T/client.py" "$PPORT" '' '' "$T/held.sent" >"$T/held.out" 2>&1 &
held=$!
PIDS+=("$held")
for _ in $(seq 100); do
	[[ -e $T/held.sent ]] && break
	sleep 0.1
done
[[ -e $T/held.sent ]] || { kill -CONT "$svm"; fail "client did not start"; }
sleep 1.5
if [[ -s $T/held.out ]]; then
	kill -CONT "$svm"
	fail "the close went out while the SVM was stopped: $(cat "$T/held.out")"
fi
kill -CONT "$svm"
wait "$held" || fail "held close: $(cat "$T/held.out")"
ms=$(cat "$T/held.out")
(( ms >= 1500 )) || fail "the close came after $ms ms, before the SVM ran"
ck2=$(status_field "$PSOCK" 's["checkpoints"]')
[[ $ck2 == "$ck0" ]] || fail "the held close cost a checkpoint ($ck0 -> $ck2)"
pass "colo: the close held until the SVM closed too ($ms ms)"
