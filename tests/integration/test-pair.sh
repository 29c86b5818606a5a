#!/bin/bash
# SPDX-License-Identifier: MIT
# The pair on loopback with TLS: comes up, takes 100k keys through the
# primary, checkpoints on demand, and PVM and SVM RAM are identical.
source "$(dirname "$0")/lib.sh"
command -v redis-cli >/dev/null || { echo "SKIP: redis-cli missing"; exit 77; }
require_dirtylog

start_pair "$KV" --ram 512M
wait_state "$PSOCK" colo 120
wait_state "$SSOCK" colo 10
pass "pair in colo state over TLS"

# 100k keys, pipelined.
python3 - "$T/load.resp" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    for i in range(100000):
        k, v = b"key:%d" % i, b"value-%d" % (i * 7)
        f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
PY
out=$(redis-cli -h 127.0.0.1 -p "$PPORT" --pipe <"$T/load.resp" 2>&1) ||
	fail "redis-cli --pipe: $out"
[[ $out == *"errors: 0, replies: 100000"* ]] || fail "pipe: $out"
n=$(redis-cli -h 127.0.0.1 -p "$PPORT" DBSIZE)
[[ $n == 100000 ]] || fail "DBSIZE is $n"
pass "100k keys written through the primary"

# DEBUG without --guest-arg --enable-debug-command=yes: Redis's refusal,
# from PVM and SVM alike (no mismatch), and nothing written to guest RAM.
mm=$(status_get "$PSOCK" mismatches)
out=$(redis-cli -h 127.0.0.1 -p "$PPORT" DEBUG FILLRANDOM 100000000 2>&1)
[[ $out == "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server." ]] ||
	fail "DEBUG without the option: $out"
n=$(redis-cli -h 127.0.0.1 -p "$PPORT" DBSIZE)
[[ $n == 100000 ]] || fail "DBSIZE after a refused DEBUG is $n"
[[ $(status_get "$PSOCK" mismatches) == "$mm" ]] ||
	fail "a refused DEBUG made a mismatch"
pass "DEBUG refused without the option; guest untouched"

out=$(ctl "$PSOCK" checkpoint) || fail "checkpoint: $out"
echo "  $out"
out=$(ctl "$PSOCK" verify) || fail "verify: $out"
[[ $out == identical* ]] || fail "verify said: $out"
pass "checkpoint and verify: identical"

for i in 0 4242 99999; do
	v=$(redis-cli -h 127.0.0.1 -p "$PPORT" GET "key:$i")
	[[ $v == "value-$((i * 7))" ]] || fail "GET key:$i gave '$v'"
done
pass "values read back"

# colo-kv answers as Redis 7.0 does (issue 13): a quoted key typed inline
# is the key without its quotes, unbalanced quotes end the connection with
# Redis's error, INFO SECTION gives that section only, and a count that is
# no number gets Redis's text; PVM and SVM agree on every byte (no
# mismatch: INFO's fields all come from guest RAM).
mm=$(status_get "$PSOCK" mismatches)
out=$(python3 - "$PPORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"SET \"inline key\" 'it\\'s'\r\nSET \"k\"x y\r\nPING\r\n")
data = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    data += d
print(repr(data.decode()))
PY
) || fail "inline client: $out"
[[ $out == "'+OK\\r\\n-ERR Protocol error: unbalanced quotes in request\\r\\n'" ]] ||
	fail "inline with quotes: $out"
v=$(redis-cli -h 127.0.0.1 -p "$PPORT" GET "inline key")
[[ $v == "it's" ]] || fail "GET of the key set inline gave '$v'"
out=$(redis-cli -h 127.0.0.1 -p "$PPORT" INFO keyspace | tr -d '\r')
[[ $out == $'# Keyspace\ndb0:keys=100001,expires=0,avg_ttl=0' ]] ||
	fail "INFO keyspace: $out"
out=$(redis-cli -h 127.0.0.1 -p "$PPORT" INFO nosuchsection)
[[ -z $out ]] || fail "INFO of an unknown section: $out"
out=$(redis-cli -h 127.0.0.1 -p "$PPORT" INFO all | grep '^# ' | tr -d '\r' | tr '\n' ' ')
[[ $out == "# Server # Clients # Memory # Stats # Replication # Cluster # Keyspace " ]] ||
	fail "INFO all sections: $out"
out=$(redis-cli -h 127.0.0.1 -p "$PPORT" LPOP nolist abc 2>&1)
[[ $out == "ERR value is out of range, must be positive" ]] ||
	fail "LPOP with a count that is no number: $out"
[[ $(status_get "$PSOCK" mismatches) == "$mm" ]] ||
	fail "Redis-compatible answers made a mismatch"
pass "inline quotes, INFO sections and Redis's errors through the pair"

# A mixed workload from the real client, then the RAM is still identical.
out=$(redis-benchmark -h 127.0.0.1 -p "$PPORT" -q -n 2000 -c 10 \
	-t ping,set,get,incr,lpush,lpop,sadd,hset,mset 2>&1 | tr '\r' '\n') ||
	fail "redis-benchmark: $out"
for t in PING_INLINE PING_MBULK SET GET INCR LPUSH LPOP SADD HSET "MSET (10 keys)"; do
	grep -q "^ *$t: [0-9.]* requests per second" <<<"$out" ||
		fail "redis-benchmark has no $t result: $out"
done
out=$(ctl "$PSOCK" verify) || fail "verify after benchmark: $out"
[[ $out == identical* ]] || fail "verify after benchmark said: $out"
pass "redis-benchmark ran clean; still identical"

s=$("$CTL" -s "$PSOCK" status --json)
python3 - "$s" <<'PY' || fail "status --json lacks fields: $s"
import json, sys
s = json.loads(sys.argv[1])
for k in ("role", "state", "checkpoints", "last_checkpoint", "ram_bytes",
          "mismatches"):
    assert k in s, k
for k in ("pause_ms", "pages", "bytes", "phases_ms", "cpu_ms"):
    assert k in s["last_checkpoint"], k
# Where the pause went: phases that add up to it (the secondary's parts
# from its ack, timed on its clock, may overlap ours by a little), and the
# secondary's receive and each side's CPU time beside them.
c = s["last_checkpoint"]
ph = c["phases_ms"]
order = ["barrier", "scan", "send", "apply", "flush", "ack", "resume"]
assert list(ph) == order + ["receive"], list(ph)
assert all(v >= 0 for v in ph.values()), ph
total = sum(ph[k] for k in order)
assert abs(total - c["pause_ms"]) <= 0.5 + 0.05 * c["pause_ms"], (total, c)
assert ph["send"] > 0 and ph["flush"] > 0 and ph["receive"] > 0, ph
assert c["cpu_ms"]["primary"] > 0 and c["cpu_ms"]["secondary"] > 0, c
assert s["role"] == "primary" and s["state"] == "colo"
assert s["checkpoints"] >= 3
assert s["ram_bytes"] == 512 << 20
# TLS: no page can have gone by RDMA WRITE.
assert s["transport"] == "tls" and s["placed_pages"] == 0
PY
t=$(status_get "$SSOCK" transport)
[[ $t == tls ]] || fail "secondary's status: transport '$t', not tls"
pass "status --json"

ctl "$PSOCK" set checkpoint-delay 700 >/dev/null || fail "set"
before=$(status_field "$PSOCK" 's["checkpoints"]')
sleep 2.5
after=$(status_field "$PSOCK" 's["checkpoints"]')
(( after >= before + 2 )) || fail "periodic checkpoints: $before -> $after"
pass "set checkpoint-delay takes effect ($before -> $after)"
