#!/bin/bash
# SPDX-License-Identifier: MIT
# An unmodified program behind the primary, standalone: colo-primary
# --exec /usr/bin/redis-server ... serves redis-cli and redis-benchmark
# through its --service port, a half-closed client still gets its reply,
# clients run side by side, and the daemon's SIGTERM ends the program too.
# A program that never listens, or exits, stops start-up with one line.
source "$(dirname "$0")/lib.sh"

REDIS=/usr/bin/redis-server
if [[ ! -x $REDIS ]] || ! command -v redis-cli >/dev/null ||
	! command -v redis-benchmark >/dev/null; then
	echo "SKIP: redis-server, redis-cli or redis-benchmark not installed"
	exit 77
fi
require_dirtylog

# The program's port is inside its own network namespace: any port works,
# even one the host uses. The smallest input limit, so that the pipeline
# below pauses its client until the program has read its backlog.
PORT=$(free_port)
start primary "$PRIMARY" --service "127.0.0.1:$PORT" --control "$T/p.sock" \
	--client-input-limit 65536 --exec-port 6379 \
	--exec "$REDIS" --port 6379 --save '' --appendonly no
SOCK=$T/p.sock

[[ $(status_get "$SOCK" guest_kind) == exec ]] || fail "status: guest_kind not exec"
[[ $(status_field "$SOCK" 's["guest"]') == "$REDIS" ]] || fail "status: guest is not $REDIS"
[[ $(status_field "$SOCK" '" ".join(s["guest_args"])') == "--port 6379 --save  --appendonly no" ]] ||
	fail "status: guest_args $(status_field "$SOCK" 's["guest_args"]')"
rpid=$(status_get "$SOCK" guest_pid)
(( rpid > 0 )) && [[ $(cat "/proc/$rpid/comm") == redis-server ]] ||
	fail "status: guest_pid $rpid is not $REDIS"
pass "status shows the exec guest $REDIS (pid $rpid) and its arguments"

rc() { timeout 10 redis-cli -p "$PORT" "$@"; }
[[ $(rc PING) == PONG ]] || fail "PING"
[[ $(rc SET greeting hello) == OK ]] || fail "SET"
[[ $(rc GET greeting) == hello ]] || fail "GET"
[[ $(rc INCRBY n 41) == 41 && $(rc INCR n) == 42 ]] || fail "INCR"
pass "PING, SET/GET, INCR through the proxy"

# Pipelined load: redis-benchmark fails a run on any error reply.
out=$(timeout 120 redis-benchmark -p "$PORT" -n 10000 -c 4 -P 16 -q \
	-t set,get,incr,lpush 2>&1) || fail "redis-benchmark: $out"
for t in SET GET INCR LPUSH; do
	[[ $out == *"$t: "*"requests per second"* ]] ||
		fail "redis-benchmark: no $t result: $out"
done
[[ $out != *rror* ]] || fail "redis-benchmark reported an error: $out"
[[ $(rc STRLEN key:__rand_int__) == 3 ]] || fail "benchmark's SET not stored"
[[ $(rc GET counter:__rand_int__) == 10000 ]] ||
	fail "counter $(rc GET counter:__rand_int__) after 10000 INCRs"
[[ $(rc LLEN mylist) == 10000 ]] || fail "LLEN mylist $(rc LLEN mylist), not 10000"
pass "redis-benchmark -n 10000 -P 16: no error, its writes all stored"

# client.py PORT MODE: the cases plain redis-cli does not cover.
#   halfclose: PING, then SHUT_WR; +PONG must come back, then the close.
#   big: 50000 pipelined SETs (several MB) written in one go while the
#        replies are read: the program's input queue passes the input
#        limit, the client is paused and read again as the queue drains.
#   two: two connections open at once, each sees the other's writes and
#        its own replies in order.
cat >"$T/client.py" <<'PY'
import socket, sys, threading
port, mode = int(sys.argv[1]), sys.argv[2]
key = (sys.argv[3] if len(sys.argv) > 3 else "two").encode()
def conn():
    return socket.create_connection(("127.0.0.1", port), timeout=30)
def read_until_close(s):
    got = b""
    while True:
        b = s.recv(65536)
        if not b:
            return got
        got += b
def read_exact(s, n):
    got = b""
    while len(got) < n:
        b = s.recv(65536)
        if not b:
            sys.exit("closed after %d of %d bytes" % (len(got), n))
        got += b
    return got
if mode == "halfclose":
    s = conn()
    s.sendall(b"PING\r\n")
    s.shutdown(socket.SHUT_WR)
    got = read_until_close(s)
    if got != b"+PONG\r\n":
        sys.exit("half-closed PING got %r" % got)
elif mode == "big":
    n = 50000
    s = conn()
    req = b"".join(b"SET big:%d %s\r\n" % (i, b"v" * 64) for i in range(n))
    t = threading.Thread(target=s.sendall, args=(req,))
    t.start()
    got = read_exact(s, 5 * n)
    t.join()
    if got != b"+OK\r\n" * n:
        sys.exit("pipelined SETs: wrong replies")
    s.sendall(b"DBSIZE\r\n")
    print(s.recv(100).decode().strip())
elif mode == "two":
    a, b = conn(), conn()
    for i in range(200):
        a.sendall(b"SET %s %d\r\n" % (key, i))
        if read_exact(a, 5) != b"+OK\r\n":
            sys.exit("a: SET failed")
        want = b"$%d\r\n%d\r\n" % (len(str(i)), i)
        b.sendall(b"GET %s\r\n" % key)
        got = read_exact(b, len(want))
        if got != want:
            sys.exit("b: GET %r got %r, want %r" % (key, got, want))
    a.close()
    b.sendall(b"PING\r\n")
    if read_exact(b, 7) != b"+PONG\r\n":
        sys.exit("b: no PONG after a closed")
PY
client() { timeout 60 python3 "$T/client.py" "$PORT" "$@" 2>&1; }

# (`printf 'PING\r\n' | nc -N` is the same test; nc is not installed
# everywhere, python is.)
for _ in $(seq 20); do
	out=$(client halfclose) || fail "half-closed client: $out"
done
pass "20 half-closed PINGs got +PONG, then the close"

out=$(client big) || fail "pipelined SETs: $out"
[[ $out =~ ^:[0-9]+$ ]] || fail "pipelined SETs: DBSIZE said '$out'"
pass "50000 pipelined SETs in one write all answered (DBSIZE $out)"

out=$(client two) || fail "two clients: $out"
client two x >"$T/two-x.out" & w1=$!
client two y >"$T/two-y.out" & w2=$!
wait "$w1" || fail "two pairs at once, x: $(cat "$T/two-x.out")"
wait "$w2" || fail "two pairs at once, y: $(cat "$T/two-y.out")"
pass "clients side by side see each other's writes, in order"

# (Protection itself: test-exec-pair.sh.) A primary started without
# credentials cannot dial: protect says so at once, no dial is tried.
out=$(ctl "$SOCK" protect secondary=127.0.0.1:1 2>&1) && fail "protect without credentials: $out"
[[ $out == *"without --tls-creds (or --insecure)"* ]] || fail "protect said: $out"
[[ $(status_get "$SOCK" state) == standalone ]] || fail "not standalone after protect"
grep -q "(null)" "$T/primary.log" && fail "a log line names a null path"
pass "protect without TLS credentials refused in one line, still standalone"

require_alive primary
ppid=$(pid_of primary)
kill -TERM "$ppid"
for _ in $(seq 100); do
	alive "$ppid" || break
	sleep 0.05
done
alive "$ppid" && fail "primary still running 5 s after SIGTERM"
prc=0
wait "$ppid" || prc=$?
forget "$ppid"
[[ $prc == 0 ]] || fail "primary exited $prc after SIGTERM"
if alive "$rpid" && [[ $(cat "/proc/$rpid/comm" 2>/dev/null) == redis-server ]]; then
	fail "redis-server (pid $rpid) still runs after the daemon stopped"
fi
pass "SIGTERM stopped the daemon (status 0) and redis-server (pid $rpid)"

# The program dying is the PVM dying: the daemon stops, saying so, with
# exit status 1 (a failure, for systemd's Restart=on-failure).
start primary2 "$PRIMARY" --service "127.0.0.1:$PORT" --control "$T/p2.sock" \
	--exec-port 7000 --exec "$REDIS" --port 7000 --save '' --appendonly no
rpid=$(status_get "$T/p2.sock" guest_pid)
kill -KILL "$rpid"
ppid=$(pid_of primary2)
for _ in $(seq 100); do
	alive "$ppid" || break
	sleep 0.05
done
alive "$ppid" && fail "primary still running 5 s after its program died"
rc=0; wait "$ppid" || rc=$?
forget "$ppid"
(( rc == 1 )) || fail "the primary exited $rc after its program died, not 1"

grep -q "the program (pid $rpid) was killed by signal 9" "$T/primary2.log" ||
	fail "no word of the program's death"
pass "the program's death stops the daemon (exit 1), saying how it died"

# Start-up: a program that exits, or never listens, is one line and exit 1.
expect_start_error() {  # WANT SECONDS COMMAND-ARGS...
	local want=$1 secs=$2 out rc=0 t0
	shift 2
	t0=$SECONDS
	out=$(timeout 60 "$PRIMARY" --service "127.0.0.1:$PORT" \
		--control "$T/e.sock" "$@" 2>&1) || rc=$?
	[[ $rc == 1 ]] || fail "'$*' exited $rc, not 1: $out"
	out=$(grep -v '^[^ ]* info: ' <<<"$out")
	[[ $(wc -l <<<"$out") == 1 && $out == *"$want"* ]] ||
		fail "'$*' said '$out', not one line with '$want'"
	(( SECONDS - t0 <= secs )) || fail "'$*' took $((SECONDS - t0)) s"
}
expect_start_error "exited" 5 --exec-port 6379 --exec /bin/false
expect_start_error "not listening on port 6379 after 10000 ms" 20 \
	--exec-port 6379 --exec /bin/sleep 60
pass "a program that exits or never listens stops start-up with one line"
