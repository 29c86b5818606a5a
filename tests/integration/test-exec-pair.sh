#!/bin/bash
# SPDX-License-Identifier: MIT
# The pair protecting an unmodified program (issue 13): Debian's own
# redis-server under colo-primary --exec and colo-secondary --exec, over
# TLS. The first checkpoint transplants the whole running program to the
# secondary; afterwards every reply a client gets was also the SVM's.
# Checkpoints on demand and on the timer keep both copies equal while
# clients stay connected across them; then the primary host dies
# (kill -9) and the secondary serves every acknowledged write. BGSAVE's
# child (a fork) is each side's own; a checkpoint waits until it is gone.
source "$(dirname "$0")/lib.sh"

REDIS=/usr/bin/redis-server
if [[ ! -x $REDIS ]] || ! command -v redis-cli >/dev/null ||
	! command -v redis-benchmark >/dev/null; then
	echo "SKIP: redis-server, redis-cli or redis-benchmark not installed"
	exit 77
fi
require_dirtylog

PROG=(--exec-port 6379 --exec "$REDIS" --port 6379 --save '' --appendonly no
      --enable-debug-command yes)
# The secondary names the program as a shell would, found in PATH: it must
# come to the same path as the primary's, or their identities differ.
SPROG=(--exec-port 6379 --exec "${REDIS##*/}" --port 6379 --save '' --appendonly no
       --enable-debug-command yes)
SPORT=$(free_port); PPORT=$(free_port); RPORT=$(free_port)
PSOCK=$T/primary.sock; SSOCK=$T/secondary.sock
gen_creds "$T/creds"
start secondary env PATH="${REDIS%/*}:$PATH" "$SECONDARY" \
	--listen "127.0.0.1:$RPORT" --service "127.0.0.1:$SPORT" \
	--control "$SSOCK" --tls-creds "$T/creds" "${SPROG[@]}"
start primary "$PRIMARY" --service "127.0.0.1:$PPORT" --control "$PSOCK" \
	--secondary "127.0.0.1:$RPORT" --tls-creds "$T/creds" \
	--checkpoint-delay 2000 "${PROG[@]}"
rc() { timeout 10 redis-cli -p "$PPORT" "$@"; }

# Data before protection: it reaches the secondary with the first image.
wait_state "$PSOCK" colo 60 primary secondary
wait_state "$SSOCK" colo 10
pass "pair in colo state around redis-server"

[[ $(rc PING) == PONG ]] || fail "PING"
[[ $(rc SET greeting hello) == OK ]] || fail "SET"
[[ $(rc GET greeting) == hello ]] || fail "GET"
[[ $(rc INCRBY n 41) == 41 && $(rc INCR n) == 42 ]] || fail "INCR"
pass "PING, SET/GET, INCR through the protected pair"

n0=$(status_get "$PSOCK" checkpoints)
out=$(ctl "$PSOCK" checkpoint) || fail "checkpoint: $out"
echo "  $out"
(( $(status_get "$PSOCK" checkpoints) > n0 )) || fail "checkpoint not counted"
[[ $(state_of "$SSOCK") == colo ]] || fail "secondary left colo state"
pass "checkpoint of the running program acknowledged"

# 5000 keys pipelined, a checkpoint between, and a client that keeps its
# connection across checkpoints (the program's fd for it must follow).
python3 - "$T/load.resp" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    for i in range(5000):
        k, v = b"key:%d" % i, b"value-%d" % (i * 7)
        f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
PY
out=$(redis-cli -p "$PPORT" --pipe <"$T/load.resp" 2>&1) || fail "--pipe: $out"
[[ $out == *"errors: 0, replies: 5000"* ]] || fail "pipe: $out"
ctl "$PSOCK" checkpoint >/dev/null || fail "checkpoint after the load"
[[ $(rc DBSIZE) == 5002 ]] || fail "DBSIZE $(rc DBSIZE), not 5002"

out=$(python3 - "$PPORT" "$PSOCK" "$CTL" <<'PY'
import socket, subprocess, sys
port, sock, ctl = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=20)
def cmd(*args):
    s.sendall(b"*%d\r\n" % len(args) + b"".join(
        b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
    return s.recv(65536)
r = [cmd(b"SET", b"held", b"1")]
for i in range(3):
    subprocess.run([ctl, "-s", sock, "checkpoint"], check=True,
                   stdout=subprocess.DEVNULL)
    r.append(cmd(b"INCR", b"held"))
print(b"|".join(x.strip() for x in r).decode())
PY
) || fail "client across checkpoints: $out"
[[ $out == "+OK|:2|:3|:4" ]] || fail "client across checkpoints got '$out'"
pass "5000 keys, and one connection kept across 3 checkpoints"

# Incremental: live sync sent the program's own pages before the first
# checkpoint; a checkpoint after one write sends only what changed since
# (a delta), a fraction of them (own_pages: the program's size). verify
# is a delta too, with the digests of every own page: it checks the path
# every checkpoint takes.
sync_pages=$(status_field "$PSOCK" 's["live_sync"]["pages"]')
(( sync_pages > 0 )) || fail "live sync carried no pages"
out=$(ctl "$PSOCK" verify) || fail "verify: $out"
[[ $out == identical* ]] || fail "verify: $out"
whole=$(status_field "$PSOCK" 's["last_checkpoint"]["own_pages"]')
[[ $(rc SET one-more-key x) == OK ]] || fail "SET one-more-key"
ctl "$PSOCK" checkpoint >/dev/null || fail "checkpoint after one SET"
delta=$(status_field "$PSOCK" 's["last_checkpoint"]["pages"]')
echo "  live sync $sync_pages pages; the program's own $whole pages; after one SET $delta pages"
(( whole > 500 && delta * 4 < whole )) ||
	fail "a checkpoint after one SET carried $delta pages of $whole"
out=$(ctl "$PSOCK" verify) || fail "verify after the delta: $out"
[[ $out == identical* ]] || fail "verify after the delta: $out"
[[ $(rc DEL one-more-key) == 1 ]] || fail "DEL one-more-key"
pass "live sync, then deltas: a checkpoint after one SET is a fraction of the program"

out=$(timeout 120 redis-benchmark -p "$PPORT" -n 4000 -c 2 -P 4 -q \
	-t set,incr 2>&1) || fail "redis-benchmark: $out"
[[ $out != *rror* ]] || fail "redis-benchmark reported an error: $out"
[[ $(rc GET counter:__rand_int__) == 4000 ]] ||
	fail "counter $(rc GET counter:__rand_int__) after 4000 INCRs"
echo "  checkpoints $(status_get "$PSOCK" checkpoints)," \
	"mismatches $(status_get "$PSOCK" mismatches)"
pass "redis-benchmark through the pair: no error, every INCR counted"
[[ $(state_of "$PSOCK") == colo && $(state_of "$SSOCK") == colo ]] ||
	fail "the pair left colo state"
mism0=$(status_get "$PSOCK" mismatches)

# A protocol error: Redis replies, then closes with the client's input
# unread while the daemon still sends it more. The send fails on the
# reset, but the reply is in the daemon's receive queue: it is read and
# compared, on both sides, before the close (lost 7 of 30 before).
lost=$(timeout 120 python3 "$SRC/tests/integration/redis-desync.py" "$PPORT" 10) ||
	fail "redis-desync.py did not finish"
[[ $lost == 0 ]] || fail "$lost of 30 protocol errors reached the client without Redis's reply"
[[ $(status_get "$PSOCK" mismatches) == "$mism0" ]] ||
	fail "the desync connections caused mismatches ($mism0 -> $(status_get "$PSOCK" mismatches))"
pass "a protocol error's reply reaches the client before the close (30 connections)"

# A file in the program's own scratch /tmp, its working directory: DEBUG
# RELOAD writes dump.rdb there and loads it back, on both sides alike.
[[ $(rc DEBUG RELOAD) == OK ]] || fail "DEBUG RELOAD: $(rc DEBUG RELOAD)"
[[ $(rc DBSIZE) == $(( 5002 + 1 + 2 )) ]] || fail "DBSIZE after DEBUG RELOAD $(rc DBSIZE)"
ctl "$PSOCK" checkpoint >/dev/null || fail "checkpoint after DEBUG RELOAD"
pass "DEBUG RELOAD through the pair: dump.rdb written and read in the program's /tmp"

# A child: BGSAVE forks on both sides, each child saving its own copy into
# its own /tmp. Slowed down (rdb-key-save-delay, µs a key: about 1 s
# for the 5005 keys), so that a checkpoint asked meanwhile has to wait
# for the PVM's child to end and be reaped; the SVM's is waited for too.
[[ $(rc CONFIG SET rdb-key-save-delay 150) == OK ]] || fail "CONFIG SET rdb-key-save-delay"
# Nothing that differs between the sides (INFO would) until the ask: a
# mismatch would checkpoint first. Whichever checkpoint comes first (this
# one or the timer's) waits for the child: the answer comes after it.
t0=$(date +%s%N)
[[ $(rc BGSAVE) == "Background saving started" ]] || fail "BGSAVE: $(rc BGSAVE)"
out=$(ctl "$PSOCK" checkpoint) || fail "checkpoint during BGSAVE: $out"
waited=$(( ($(date +%s%N) - t0) / 1000000 ))
info=$(rc INFO persistence)
[[ $info == *rdb_bgsave_in_progress:0* && $info == *rdb_last_bgsave_status:ok* ]] ||
	fail "BGSAVE not done and ok after the checkpoint: $info"
(( waited >= 500 )) || fail "BGSAVE to checkpoint in $waited ms: it did not wait for the child"
[[ $(state_of "$PSOCK") == colo && $(state_of "$SSOCK") == colo ]] ||
	fail "the pair left colo state after BGSAVE"
echo "  BGSAVE, then a checkpoint: $waited ms"
pass "BGSAVE through the pair: the child saves, a checkpoint waits for it"

# A child that outlives the wait (5 s; this one 10-15 s): the checkpoint
# is put off, not failed, and the pair stays protected; once the child is
# gone the next one is taken. Meanwhile the timer's checkpoints (every
# 2 s here) are put off too, but only glance at the child: clients are
# served (each used to stop the loop for the whole 5 s wait).
[[ $(rc CONFIG SET rdb-key-save-delay 2000) == OK ]] || fail "CONFIG SET rdb-key-save-delay"
[[ $(rc BGSAVE) == "Background saving started" ]] || fail "BGSAVE (long)"
out=$(ctl "$PSOCK" checkpoint 2>&1) && fail "a checkpoint during a 10 s child was taken: $out"
[[ $out == *"put off"* ]] || fail "checkpoint during a long child: $out"
[[ $(state_of "$PSOCK") == colo && $(state_of "$SSOCK") == colo ]] ||
	fail "the pair left colo state while a checkpoint was put off"
t0=$(date +%s%N)
for _ in $(seq 30); do
	[[ $(rc PING) == PONG ]] || fail "PING while a checkpoint is put off"
	sleep 0.05
done
served=$(( ($(date +%s%N) - t0) / 1000000 ))
(( served < 4000 )) || fail "30 PINGs took $served ms while checkpoints were put off"
[[ $(rc INFO persistence) == *rdb_bgsave_in_progress:1* ]] ||
	fail "the long BGSAVE ended before the PINGs did: the test proves nothing"
put_offs=$(status_get "$PSOCK" checkpoints_put_off)
(( put_offs >= 2 )) || fail "status checkpoints_put_off $put_offs during a 10 s child"
echo "  30 PINGs while the timer's checkpoints were put off ($put_offs tries): $served ms"
deadline=$(( $(date +%s) + 30 ))
until [[ $(rc INFO persistence) == *rdb_bgsave_in_progress:0* ]]; do
	(( $(date +%s) < deadline )) || fail "the long BGSAVE does not end"
	sleep 0.5
done
out=$(ctl "$PSOCK" checkpoint) || fail "checkpoint after the long child: $out"
[[ $(state_of "$PSOCK") == colo ]] || fail "the pair left colo state"
[[ $(rc CONFIG SET rdb-key-save-delay 0) == OK ]] || fail "CONFIG SET rdb-key-save-delay 0"
pass "a child longer than the wait: the checkpoint put off, the pair protected"

# An AOF: CONFIG SET appendonly yes forks the rewrite and keeps the new
# incr file of /tmp/appendonlydir open for writing, on each side its own:
# checkpoints go on (the SVM's copy given the PVM's offset), DEBUG LOADAOF
# reads each side's back. It stays on through the takeover below.
[[ $(rc CONFIG SET appendonly yes) == OK ]] || fail "CONFIG SET appendonly yes"
[[ $(rc SET aof-key written) == OK ]] || fail "SET aof-key"
# The AOF's fsync thread soon makes jemalloc start a second background
# thread, on each side at its own moment; a checkpoint between the two
# finds thread sets that differ (refused: a limit of the backend, not of
# files). Wait until both programs have it.
threads() { ls "/proc/$(pgrep -P "$1" -x redis-server)/task" 2>/dev/null | wc -l; }
deadline=$(( $(date +%s) + 10 ))
until (( $(threads "$PID_primary") == 6 && $(threads "$PID_secondary") == 6 )); do
	(( $(date +%s) < deadline )) || fail "threads: $(threads "$PID_primary") $(threads "$PID_secondary")"
	sleep 0.1
done
ctl "$PSOCK" checkpoint >/dev/null || fail "checkpoint with the AOF open"
[[ $(rc DEBUG LOADAOF) == OK ]] || fail "DEBUG LOADAOF: $(rc DEBUG LOADAOF)"
[[ $(rc GET aof-key) == written ]] || fail "aof-key after DEBUG LOADAOF"
ctl "$PSOCK" checkpoint >/dev/null || fail "checkpoint after DEBUG LOADAOF"
[[ $(state_of "$PSOCK") == colo && $(state_of "$SSOCK") == colo ]] ||
	fail "the pair left colo state with the AOF on: $(status_get "$PSOCK" last_error)"
pass "appendonly yes through the pair: its file in /tmp open, checkpoints go on"

# verify: the SVM's memory, captured again right after the apply, is the
# image's page for page (addresses included).
out=$(ctl "$PSOCK" verify) || fail "verify: $out"
echo "  $out"
[[ $out == identical* ]] || fail "verify said: $out"
pass "verify: the SVM's memory is the PVM's"

# Acknowledged writes after the last checkpoint, then the primary dies.
[[ $(rc SET last-word acknowledged) == OK ]] || fail "SET last-word"
kill -KILL "$PID_primary"
forget primary
deadline=$(( $(date +%s) + 30 ))
until [[ $(timeout 5 redis-cli -p "$SPORT" GET last-word 2>/dev/null) == acknowledged ]]; do
	(( $(date +%s) < deadline )) || fail "the secondary does not serve last-word"
	require_alive secondary
	sleep 0.2
done
sc() { timeout 10 redis-cli -p "$SPORT" "$@"; }
[[ $(sc DBSIZE) == $(( 5002 + 1 + 2 + 1 + 1 )) ]] || fail "DBSIZE after takeover $(sc DBSIZE)"
[[ $(sc GET greeting) == hello && $(sc GET n) == 42 && $(sc GET held) == 4 ]] ||
	fail "values lost in the takeover"
for i in 0 2500 4999; do
	[[ $(sc GET "key:$i") == "value-$((i * 7))" ]] || fail "GET key:$i after takeover"
done
[[ $(sc GET counter:__rand_int__) == 4000 ]] || fail "counter after takeover"
[[ $(sc SET after takeover) == OK && $(sc GET after) == takeover ]] ||
	fail "the promoted program does not take writes"
pass "after kill -9 of the primary the secondary serves every acknowledged write"
stop secondary
