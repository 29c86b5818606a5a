#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""systemd's side of sd_notify(3), for the tests: bind an AF_UNIX datagram
socket at PATH (what NOTIFY_SOCKET names) and append every assignment each
message carries to OUT, one line each: seconds on the monotonic clock, a
tab, then e.g. READY=1 or STATUS=colo, protected by ... Runs until killed."""
import socket
import sys
import time

path, out = sys.argv[1], sys.argv[2]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
with open(out, "a", buffering=1) as f:
    while True:
        msg = sock.recv(65536).decode(errors="replace")
        now = time.monotonic()
        for line in msg.split("\n"):
            if line:
                f.write("%.3f\t%s\n" % (now, line))
