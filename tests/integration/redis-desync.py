#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# redis-desync.py PORT ROUNDS: what Redis's "Protocol desync regression
# test" does (tests/unit/protocol.tcl), ROUNDS times for each of its three
# openings: a byte that starts a bad request, then small writes until one
# fails because Redis closed after its protocol error. Redis replies
# before it closes, so the reply must be there to read. Prints how many
# connections ended without it.
import socket
import sys

port, rounds = int(sys.argv[1]), int(sys.argv[2])
lost = 0
for _ in range(rounds):
    for opening in (b"\x00", b"*\x00", b"$\x00"):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(opening)
        try:
            while True:
                s.sendall(b"payload")
        except OSError:
            pass
        try:
            reply = s.recv(4096)
        except OSError:
            reply = b""
        s.close()
        if b"Protocol error" not in reply:
            lost += 1
print(lost)
