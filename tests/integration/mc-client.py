# SPDX-License-Identifier: MIT
# A tiny memcached text-protocol client for test-exec-memcached.sh.
# Usage: mc-client.py PORT COMMAND [ARGS...]; each command prints what it
# established, one line, and exits 1 with the reason when a reply is not
# the one memcached gives.
import socket
import subprocess
import sys


class Mc:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf.split(b"\r\n", 1)
        return out.decode()

    def cmd(self, text):
        self.s.sendall(text.encode())
        return self.line()

    def set(self, key, value):
        return self.cmd("set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value))

    def get(self, key):
        first = self.cmd("get %s\r\n" % key)
        if first == "END":
            return None
        parts = first.split()
        if parts[:2] != ["VALUE", key]:
            raise ValueError("get %s: %r" % (key, first))
        value = self.line()
        end = self.line()
        if end != "END" or len(value) != int(parts[3]):
            raise ValueError("get %s: %r %r %r" % (key, first, value, end))
        return value


def die(why):
    print(why)
    sys.exit(1)


def main():
    port, what, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    mc = Mc(port)
    if what == "set":               # PREFIX FROM TO: set PREFIX:i = v-i
        prefix, lo, hi = args[0], int(args[1]), int(args[2])
        stored = 0
        for i in range(lo, hi):
            r = mc.set("%s:%d" % (prefix, i), "v-%d" % (i * 7))
            if r != "STORED":
                die("set %s:%d answered %r after %d STORED" % (prefix, i, r, stored))
            stored += 1
        print("stored %d" % stored)
    elif what == "check":           # PREFIX FROM TO: every one is there
        prefix, lo, hi = args[0], int(args[1]), int(args[2])
        for i in range(lo, hi):
            v = mc.get("%s:%d" % (prefix, i))
            if v != "v-%d" % (i * 7):
                die("get %s:%d gave %r" % (prefix, i, v))
        print("found %d" % (hi - lo))
    elif what == "ops":             # a missing key, incr, delete
        r = [mc.get("never-set"), mc.set("n", "41"), mc.cmd("incr n 1\r\n"),
             mc.cmd("incr n 9\r\n"), mc.set("gone", "x"),
             mc.cmd("delete gone\r\n"), mc.get("gone"),
             mc.cmd("delete gone\r\n"), mc.cmd("incr never-set 1\r\n")]
        print("|".join(str(x) for x in r))
    elif what == "held":            # CTL SOCK: one connection across checkpoints
        ctl, sock = args
        r = [mc.set("held", "1")]
        for _ in range(3):
            subprocess.run([ctl, "-s", sock, "checkpoint"], check=True,
                           stdout=subprocess.DEVNULL)
            r.append(mc.cmd("incr held 1\r\n"))
        print("|".join(r))
    elif what == "get":             # KEY
        print(mc.get(args[0]))
    else:
        die("unknown command " + what)


main()
