#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench-rdma.sh [BUILD-DIR]: the pair's live sync and checkpoints over RDMA
# beside the same over TLS, in one QEMU VM with a soft-RoCE device (rxe0 on
# Debian's 6.12 kernel, tests/rdma/vm-run.sh), each beside the limits
# measured in that VM in the same run: RDMA WRITE bandwidth over rxe0
# (perftest's ib_write_bw), AES-256-GCM (openssl speed) and loopback TCP.
#
# The VM runs under TCG, a CPU emulator: every figure is many times slower
# than on the host, and soft-RoCE is the kernel's software doing what an
# RDMA NIC does in hardware. Only the ratios between rows mean something.
#
# For each transport: colo-primary starts towards a secondary that is not
# there yet, its colo-kv guest is filled with random data, colo-secondary
# starts and the whole live sync runs; then a steady SET load with a
# checkpoint every second. About 5 minutes.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ ${1:-} != --in-vm ]]; then
	B=$(cd "${1:-$SRC/build}" && pwd)
	for f in primary/colo-primary secondary/colo-secondary ctl/colo-ctl guest/colo-kv; do
		[[ -x $B/$f ]] || { echo "bench-rdma: $B/$f missing; run scripts/build.sh build" >&2; exit 1; }
	done
	OUT=$(mktemp -d /var/tmp/colo-bench-rdma.XXXXXX)
	trap 'rm -rf "$OUT"' EXIT
	# The VM has no compiler worth waiting for: build the TCP probe here.
	cc -O2 -std=c11 -D_GNU_SOURCE -pthread -o "$OUT/loopback-tcp" \
		"$SRC/bench/loopback-tcp.c"
	echo "colo bench-rdma: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), host $(nproc) cores," \
		"$(uname -r); booting the VM..."
	status=0
	COLO_VM_OUT=$OUT COLO_BUILD=$B \
		bash "$SRC/tests/rdma/vm-run.sh" --mem 4096 --cpus 2 --timeout 1200 -- \
		bash "$SRC/bench/bench-rdma.sh" --in-vm "$OUT" || status=$?
	exit "$status"
fi

# ------------------------------------------------------------ in the VM
OUT=$2
export COLO_TMP_NAME=colo-bench-rdma
source "$SRC/tests/integration/lib.sh"
source "$SRC/bench/bench-lib.sh"
WAIT_STATE_POLL=0.1
ADDR=${COLO_RDMA_ADDR:?vm-run.sh exports the address of rxe0}

RAM=256M
FILL=$((200 << 20))     # 200 MiB of random data in the 256 MiB guest
SET_N=20000
CLIENTS=20

for c in redis-cli redis-benchmark openssl python3 ib_write_bw; do
	command -v "$c" >/dev/null || { echo "SKIP: $c not installed"; exit 77; }
done
require_dirtylog

echo "in the VM: $(nproc) vCPUs, $(uname -r), rxe0 at $ADDR"
echo "measuring the limits in the VM..."
TCP_MIBS=$("$OUT/loopback-tcp" 2 | cut -d' ' -f1)
AES_KBS=$(openssl speed -evp aes-256-gcm -seconds 2 -bytes 16384 2>/dev/null |
	awk '$1 == "AES-256-GCM" { sub(/k$/, "", $2); print $2 }')
AES_MIBS=$(python3 -c "print('%.1f' % ($AES_KBS * 1000 / 2**20))")
# ib_write_bw: server and client on rxe0, 1 MiB messages, MiB/s (its
# "BW average" column, in MB/s = 2^20 bytes with --report_gbits off).
ib_write_bw -d rxe0 -s 1048576 -n 200 -F >"$T/bw-server.log" 2>&1 &
BWPID=$!
PIDS+=("$BWPID")
sleep 1
ib_write_bw -d rxe0 -s 1048576 -n 200 -F "$ADDR" >"$T/bw-client.log" 2>&1 ||
	fail "ib_write_bw: $(tail -n 5 "$T/bw-client.log")"
wait "$BWPID" || true
forget "$BWPID"
RDMA_MIBS=$(awk '$1 == 1048576 { print $4 }' "$T/bw-client.log" | tail -n 1)
[[ -n $RDMA_MIBS ]] || fail "no figure from ib_write_bw: $(cat "$T/bw-client.log")"

# The secondary's certificate must name the address the primary dials.
bash "$SRC/deploy/gen-certs.sh" "$T/tls" "$ADDR" >/dev/null 2>&1 || fail "gen-certs.sh for $ADDR"

run_transport() {  # TRANSPORT
	local tr=$1 pport sport rport
	pport=$(free_port); sport=$(free_port); rport=$(free_port)
	PSOCK=$T/$tr-primary.sock; SSOCK=$T/$tr-secondary.sock; PPORT=$pport
	echo "$tr: colo-primary (--ram $RAM), filling $((FILL >> 20)) MiB..."
	start primary "$PRIMARY" --service "127.0.0.1:$pport" --control "$PSOCK" \
		--guest "$KV" "${KV_DEBUG[@]}" --ram "$RAM" --secondary "$ADDR:$rport" \
		--tls-creds "$T/tls" --transport "$tr"
	r=$(redis-cli -p "$pport" DEBUG FILLRANDOM "$FILL") || fail "DEBUG FILLRANDOM: $r"
	echo "$tr: colo-secondary on $ADDR:$rport, live sync..."
	start secondary "$SECONDARY" --listen "$ADDR:$rport" \
		--service "127.0.0.1:$sport" --control "$SSOCK" --guest "$KV" "${KV_DEBUG[@]}" \
		--tls-creds "$T/tls" --transport "$tr"
	wait_state "$PSOCK" colo 300 primary secondary
	status_json "$PSOCK" >"$T/$tr-sync.json"
	out=$("$CTL" -s "$PSOCK" verify 2>&1) || fail "$tr: verify: $out"
	[[ $out == identical* ]] || fail "$tr: verify said: $out"
	"$CTL" -s "$PSOCK" set checkpoint-delay 1000 >/dev/null
	echo "$tr: steady SET load (-r 10000), checkpoint every 1000 ms..."
	steady_set "$tr-set" "$SET_N" "$CLIENTS" -r 10000
	out=$("$CTL" -s "$PSOCK" verify 2>&1) || fail "$tr: verify: $out"
	[[ $out == identical* ]] || fail "$tr: verify after the load said: $out"
	stop primary
	stop secondary
}

run_transport tls
run_transport rdma

echo
PYTHONPATH="$SRC/bench" python3 - "$T" "$TCP_MIBS" "$AES_MIBS" "$RDMA_MIBS" "$FILL" "$SET_N" "$CLIENTS" <<'PY'
import json, os, sys
from report import pct, table

T = sys.argv[1]
tcp, aes, rdma = (float(x) for x in sys.argv[2:5])
fill, set_n, clients = (int(x) for x in sys.argv[5:8])
MiB = 1 << 20

def load(name):
    with open(os.path.join(T, name)) as f:
        return json.load(f)

def samples(name):
    out, dec, text = [], json.JSONDecoder(), open(os.path.join(T, name)).read()
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        obj, i = dec.raw_decode(text, i)
        out.append(obj)

rows = []
for tr in ("tls", "rdma"):
    p = load(tr + "-sync.json")
    ls = p["live_sync"]
    rows.append(["live sync over " + tr, "%.0f" % ls["ms"], ls["pages"],
                 "%.1f" % (ls["bytes"] / MiB), p.get("placed_pages", "-"),
                 "%.1f" % (fill / MiB / (ls["ms"] / 1000))])
rows.append(["limit: RDMA WRITE on rxe0, 1 MiB (ib_write_bw)", "", "", "", "", "%.1f" % rdma])
rows.append(["limit: AES-256-GCM, 16 KiB (openssl speed)", "", "", "", "", "%.1f" % aes])
rows.append(["limit: loopback TCP, 1 MiB writes", "", "", "", "", "%.1f" % tcp])
table("1. Live sync of a 256 MiB colo-kv guest holding %d MiB of random data, "
      "in one TCG VM (ratios only). MiB in the stream: page bytes sent in "
      "messages; placed: pages moved by RDMA WRITE (the primary's count, "
      "every connection attempt)" % (fill >> 20),
      ["", "ms", "pages", "MiB in the stream", "pages placed",
       "random data MiB/s"], rows)

rows = []
for tr in ("tls", "rdma"):
    before, after = load(tr + "-set.before.json"), load(tr + "-set.after.json")
    seen = {}
    for x in samples(tr + "-set.samples") + [after]:
        c = x["last_checkpoint"]
        if c["id"] > before["last_checkpoint"]["id"]:
            seen[c["id"]] = c
    cs = list(seen.values())
    pause = [c["pause_ms"] for c in cs]
    pages = [c["pages"] for c in cs]
    rows.append([tr, len(cs),
                 "%.0f / %.0f / %.0f" % (pct(pause, 50), pct(pause, 90), max(pause or [0])),
                 "%.0f / %.0f / %.0f" % (pct(pages, 50), pct(pages, 90), max(pages or [0])),
                 "%.1f" % (pct(pause, 50) * 1000 / max(pct(pages, 50), 1))])
table("2. Checkpoints at a steady SET load (redis-benchmark -t set -r 10000 "
      "-n %d -c %d, checkpoint-delay 1000 ms), in the same VM" % (set_n, clients),
      ["transport", "checkpoints seen", "pause ms p50/p90/max",
       "pages p50/p90/max", "us per page at p50"], rows)
PY
