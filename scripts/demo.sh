#!/bin/bash
# SPDX-License-Identifier: MIT
# The main job: installs what is needed, builds, then runs a colo pair on
# loopback with TLS and the colo-kv guest, drives a write load through it
# with redis-benchmark, takes a checkpoint, verifies PVM and SVM RAM are
# identical, then rehearses a failover: kills the primary with SIGKILL
# while a client is counting, lets the secondary take over, checks that
# every acknowledged write is there, and re-protects the survivor with a
# fresh secondary. It prints a summary and stops every process it started.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh
echo "building..."
bash scripts/build.sh build

# The fixture library the integration tests use: daemons started, waited
# for, asked, and stopped by PID whatever happens.
export COLO_BUILD=$PWD/build COLO_TMP_NAME=colo-demo
source tests/integration/lib.sh

PPORT=$(free_port); SPORT=$(free_port); RPORT=$(free_port)
gen_creds "$T/tls"

echo "starting colo-secondary (TLS on 127.0.0.1:$RPORT)"
start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$T/secondary.sock" \
	--guest "$KV" --tls-creds "$T/tls"
echo "starting colo-primary (clients on 127.0.0.1:$PPORT, 1 GiB guest RAM)"
start primary "$PRIMARY" --service "127.0.0.1:$PPORT" \
	--control "$T/primary.sock" --guest "$KV" --ram 1G \
	--secondary "127.0.0.1:$RPORT" --tls-creds "$T/tls"
disown "$PID_primary"  # the drill kills it on purpose: no job-control notice for that

wait_state "$T/primary.sock" colo 60 primary secondary
sync_ms=$(status_field "$T/primary.sock" 's["live_sync"]["ms"]')
sync_mb=$(status_field "$T/primary.sock" 's["live_sync"]["bytes"] >> 20')
echo "pair protected: live sync ${sync_ms} ms, ${sync_mb} MiB of data"

echo "write load: redis-benchmark through the primary..."
redis-benchmark -h 127.0.0.1 -p "$PPORT" -q -n 20000 -c 20 \
	-t set,get,incr,lpush,sadd,hset 2>&1 | tr '\r' '\n' | grep 'per second' | sed 's/^/  /'
redis-cli -h 127.0.0.1 -p "$PPORT" SET demo:greeting "hello from colo" >/dev/null

echo "checkpoint:"
CKPT=$(ctl "$T/primary.sock" checkpoint)
echo "  $CKPT"
echo "verify:"
verify=$(ctl "$T/primary.sock" verify) || { echo "$verify"; exit 1; }
echo "  $verify"

PRIMARY_STATUS=$(ctl "$T/primary.sock" status --json)
SECONDARY_STATUS=$(ctl "$T/secondary.sock" status --json)
KEYS=$(redis-cli -h 127.0.0.1 -p "$PPORT" DBSIZE)

echo "failover drill: a client counts with INCR; the primary is killed (SIGKILL)"
python3 - "$PPORT" "$SPORT" "$PID_primary" >"$T/drill.txt" <<'PY'
import os, signal, socket, sys, time
pport, sport, ppid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def incr(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"*2\r\n$4\r\nINCR\r\n$11\r\ndemo:drills\r\n")
    r = s.makefile("rb").readline()
    s.close()
    assert r.startswith(b":"), r
    return int(r[1:])

acked = 0
for _ in range(200):
    acked = incr(pport)
os.kill(ppid, signal.SIGKILL)
t0 = time.monotonic()
while True:                      # reconnect to the secondary's service
    try:
        acked_after = incr(sport)
        break
    except OSError:
        time.sleep(0.01)
serve_ms = (time.monotonic() - t0) * 1000
print("acked_before %d" % acked)
print("first_after %d" % acked_after)
print("serve_ms %.1f" % serve_ms)
print("lost %d" % max(0, acked + 1 - acked_after))
PY
ACKED=$(awk '/acked_before/ {print $2}' "$T/drill.txt")
AFTER=$(awk '/first_after/ {print $2}' "$T/drill.txt")
SERVE_MS=$(awk '/serve_ms/ {print $2}' "$T/drill.txt")
LOST=$(awk '/^lost/ {print $2}' "$T/drill.txt")
echo "  secondary serving ${SERVE_MS} ms after the kill; INCR went on at $AFTER after $ACKED acknowledged"
[[ $LOST == 0 ]] || { echo "demo: $LOST acknowledged writes lost" >&2; exit 1; }
[[ $(redis-cli -h 127.0.0.1 -p "$SPORT" GET demo:greeting) == "hello from colo" ]] ||
	{ echo "demo: demo:greeting lost in the failover" >&2; exit 1; }

echo "re-protection: a new colo-secondary joins the survivor"
RPORT2=$(free_port)
start secondary2 "$SECONDARY" --listen "127.0.0.1:$RPORT2" \
	--service "127.0.0.1:$(free_port)" --control "$T/secondary2.sock" \
	--guest "$KV" --tls-creds "$T/tls"
ctl "$T/secondary.sock" protect "127.0.0.1:$RPORT2" >/dev/null
wait_state "$T/secondary.sock" colo 60 secondary secondary2
verify2=$(ctl "$T/secondary.sock" verify) || { echo "$verify2"; exit 1; }
echo "  protected again; verify: $verify2"

echo
echo "summary"
python3 - "$PRIMARY_STATUS" "$SECONDARY_STATUS" "$KEYS" "$verify" \
	"$SERVE_MS" "$ACKED" "$LOST" "$verify2" "$CKPT" <<'PY'
import json, sys
p, s = json.loads(sys.argv[1]), json.loads(sys.argv[2])
rows = [
    ("primary state", p["state"]),
    ("secondary state", s["state"]),
    ("guest RAM", "%d MiB" % (p["ram_bytes"] >> 20)),
    ("live sync", "%.0f ms, %d MiB sent" % (p["live_sync"]["ms"], p["live_sync"]["bytes"] >> 20)),
    ("checkpoints", "%d (mismatch %d, timeout %d, periodic %d, manual %d)" % (
        p["checkpoints"], *[p["checkpoint_reasons"][k] for k in ("mismatch", "timeout", "periodic", "manual")])),
    ("checkpoint", sys.argv[9]),
    ("keys in colo-kv", sys.argv[3]),
    ("output mismatches", str(p["mismatches"])),
    ("verify", sys.argv[4]),
    ("failover", "serving again %s ms after SIGKILL of the primary" % sys.argv[5]),
    ("writes", "%s acknowledged before the kill, %s lost" % (sys.argv[6], sys.argv[7])),
    ("re-protected", "verify: %s" % sys.argv[8]),
]
for k, v in rows:
    print("  %-18s %s" % (k, v))
PY
echo
echo "demo finished; stopping the pair"
