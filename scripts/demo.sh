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

B=build
T=$(mktemp -d /tmp/colo-demo.XXXXXX)
PIDS=()
stop_all() {
	local pid
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap 'stop_all; rm -rf "$T"' EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() {  # LOG PID
	for _ in $(seq 300); do
		grep -qs '^ready$' "$1" && return 0
		kill -0 "$2" 2>/dev/null || { cat "$1"; exit 1; }
		sleep 0.1
	done
	echo "demo: $1 never became ready" >&2; exit 1
}
field() { "$B/ctl/colo-ctl" -s "$1" status --json | python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"; }

PPORT=$(port); SPORT=$(port); RPORT=$(port)
bash deploy/gen-certs.sh "$T/tls" >/dev/null

echo "starting colo-secondary (TLS on 127.0.0.1:$RPORT)"
"$B/secondary/colo-secondary" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$T/secondary.sock" \
	--guest "$B/guest/colo-kv" --tls-creds "$T/tls" 2>"$T/secondary.log" &
PIDS+=($!); wait_ready "$T/secondary.log" $!
echo "starting colo-primary (clients on 127.0.0.1:$PPORT, 1 GiB guest RAM)"
"$B/primary/colo-primary" --service "127.0.0.1:$PPORT" \
	--control "$T/primary.sock" --guest "$B/guest/colo-kv" --ram 1G \
	--secondary "127.0.0.1:$RPORT" --tls-creds "$T/tls" 2>"$T/primary.log" &
PIDS+=($!); wait_ready "$T/primary.log" $!
disown $!    # the drill kills it on purpose: no job-control notice for that

for _ in $(seq 600); do
	[[ $(field "$T/primary.sock" 's["state"]') == colo ]] && break
	sleep 0.1
done
[[ $(field "$T/primary.sock" 's["state"]') == colo ]] || { tail "$T/primary.log"; exit 1; }
sync_ms=$(field "$T/primary.sock" 's["live_sync"]["ms"]')
sync_mb=$(field "$T/primary.sock" 's["live_sync"]["bytes"] >> 20')
echo "pair protected: live sync ${sync_ms} ms, ${sync_mb} MiB of data"

echo "write load: redis-benchmark through the primary..."
redis-benchmark -h 127.0.0.1 -p "$PPORT" -q -n 20000 -c 20 \
	-t set,get,incr,lpush,sadd,hset 2>&1 | tr '\r' '\n' | grep 'per second' | sed 's/^/  /'
redis-cli -h 127.0.0.1 -p "$PPORT" SET demo:greeting "hello from colo" >/dev/null

echo "checkpoint:"
CKPT=$("$B/ctl/colo-ctl" -s "$T/primary.sock" checkpoint)
echo "  $CKPT"
echo "verify:"
verify=$("$B/ctl/colo-ctl" -s "$T/primary.sock" verify) || { echo "$verify"; exit 1; }
echo "  $verify"

PRIMARY_STATUS=$("$B/ctl/colo-ctl" -s "$T/primary.sock" status --json)
SECONDARY_STATUS=$("$B/ctl/colo-ctl" -s "$T/secondary.sock" status --json)
KEYS=$(redis-cli -h 127.0.0.1 -p "$PPORT" DBSIZE)

echo "failover drill: a client counts with INCR; the primary is killed (SIGKILL)"
python3 - "$PPORT" "$SPORT" "${PIDS[1]}" >"$T/drill.txt" <<'PY'
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
RPORT2=$(port)
"$B/secondary/colo-secondary" --listen "127.0.0.1:$RPORT2" \
	--service "127.0.0.1:$(port)" --control "$T/secondary2.sock" \
	--guest "$B/guest/colo-kv" --tls-creds "$T/tls" 2>"$T/secondary2.log" &
PIDS+=($!); wait_ready "$T/secondary2.log" $!
"$B/ctl/colo-ctl" -s "$T/secondary.sock" protect "127.0.0.1:$RPORT2" >/dev/null
for _ in $(seq 600); do
	[[ $(field "$T/secondary.sock" 's["state"]') == colo ]] && break
	sleep 0.1
done
[[ $(field "$T/secondary.sock" 's["state"]') == colo ]] || { tail "$T/secondary.log"; exit 1; }
verify2=$("$B/ctl/colo-ctl" -s "$T/secondary.sock" verify) || { echo "$verify2"; exit 1; }
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
