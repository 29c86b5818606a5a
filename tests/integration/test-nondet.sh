#!/bin/bash
# SPDX-License-Identifier: MIT
# A guest whose answers differ between PVM and SVM: every answer triggers a
# mismatch checkpoint, and clients still only ever see the PVM's answers
# (I5), one per request.
source "$(dirname "$0")/lib.sh"
require_dirtylog

INSECURE=1 start_pair "$NONDET" --ram 16M
wait_state "$PSOCK" colo 60

python3 - "$PPORT" >"$T/replies" <<'PY' || fail "client: $(cat "$T/replies")"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
f = s.makefile("rb")
for i in range(40):
    s.sendall(b"hello %d\n" % i)
    line = f.readline()
    print(line.decode().rstrip())
PY
n=$(wc -l <"$T/replies")
[[ $n == 40 ]] || fail "got $n replies for 40 requests"
grep -q svm "$T/replies" && fail "an SVM answer reached the client: $(grep svm "$T/replies" | head -1)"
grep -c ' pvm$' "$T/replies" | grep -qx 40 || fail "replies not from the PVM: $(head -3 "$T/replies")"
pass "40 requests, 40 PVM answers"

m=$(status_field "$PSOCK" 's["checkpoint_reasons"]["mismatch"]')
mm=$(status_field "$PSOCK" 's["mismatches"]')
(( m >= 20 && mm >= 20 )) || fail "mismatch checkpoints $m, mismatches $mm"
pass "mismatch checkpoints: $m"
