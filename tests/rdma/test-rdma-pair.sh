#!/bin/bash
# SPDX-License-Identifier: MIT
# The pair over RDMA, inside the soft-RoCE VM (tests/rdma/vm-run.sh, which
# exports COLO_RDMA_ADDR, rxe0's address): both daemons with --transport
# rdma on that address, colo-kv with 64 MiB (TCG is slow). Keys written
# through the primary; live sync and checkpoints place pages by RDMA
# WRITE (placed_pages > 0 on both sides); verify says identical; the
# primary killed, the secondary takes over and serves every key the
# primary acknowledged.
source "$(dirname "$0")/../integration/lib.sh"

skip() { echo "SKIP: $*"; exit 77; }
[[ -n ${COLO_RDMA_ADDR:-} ]] ||
	skip "no RDMA device here (COLO_RDMA_ADDR unset): run it through tests/rdma/vm-run.sh"
command -v redis-cli >/dev/null || skip "redis-cli missing"
require_dirtylog
out=$("$PRIMARY" --service 127.0.0.1:1 --control "$T/probe.sock" \
	--guest "$KV" --insecure --transport rdma --print-config 2>&1) ||
	skip "this build has no RDMA: $out"

# The secondary's certificate must name the address it is dialled by.
bash "$SRC/deploy/gen-certs.sh" "$T/creds" "$COLO_RDMA_ADDR" >/dev/null 2>&1 ||
	fail "gen-certs.sh"
# TCG: slow heartbeats and a patient failover timeout on both sides.
LIVENESS=(--heartbeat-ms 500 --failover-timeout-ms 8000)
SEC_FLAGS=("${LIVENESS[@]}")
TRANSPORT=rdma LINK_ADDR=$COLO_RDMA_ADDR \
	start_pair "$KV" --ram 64M "${LIVENESS[@]}"
wait_state "$PSOCK" colo 90 primary secondary
wait_state "$SSOCK" colo 20 primary secondary
grep -q "connected to secondary $COLO_RDMA_ADDR:$RPORT (RDMA bound to TLS 1.3" \
	"$T/primary.log" || fail "no RDMA connection in the primary's log"
grep -q "connected over RDMA" "$T/secondary.log" ||
	fail "no RDMA connection in the secondary's log"
pass "pair in colo state over RDMA bound to TLS"

# Values of 2 KiB: enough dirty pages for a checkpoint to place hundreds.
PAD=$(printf '%02048d' 0)
# keys FIRST LAST: SET them through the primary; every one acknowledged.
keys() {
	local out
	out=$(for i in $(seq "$1" "$2"); do echo "SET key:$i value-$((i * 7))-$PAD"; done |
		timeout 60 redis-cli -h 127.0.0.1 -p "$PPORT" 2>&1) ||
		fail "redis-cli: $out"
	[[ $(grep -c '^OK$' <<<"$out") == $(( $2 - $1 + 1 )) ]] ||
		fail "not every SET acknowledged: $(sort <<<"$out" | uniq -c | head)"
}
keys 1 500
ctl "$PSOCK" checkpoint >/dev/null || fail "checkpoint"
out=$(ctl "$PSOCK" verify) || fail "verify: $out"
[[ $out == identical* ]] || fail "verify said: $out"
pass "500 keys, a checkpoint, PVM and SVM identical (last checkpoint: $(status_field "$PSOCK" 's["last_checkpoint"]["pages"]') pages, pause $(status_field "$PSOCK" 's["last_checkpoint"]["pause_ms"]') ms)"

# 500 values of 2 KiB are 250 pages of data: most of it placed (the
# transport may send a run in the stream when its list of pending
# placements is full, which a checkpoint this small does not fill).
for sock in "$PSOCK" "$SSOCK"; do
	t=$(status_get "$sock" transport)
	n=$(status_get "$sock" placed_pages)
	[[ $t == rdma ]] || fail "$sock: transport '$t', not rdma"
	(( n >= 200 )) || fail "$sock: $n pages placed by RDMA WRITE, not 200+"
done
pass "status: transport rdma, placed pages $(status_get "$PSOCK" placed_pages) (primary) $(status_get "$SSOCK" placed_pages) (secondary)"

# No page goes as a delta over RDMA (ram-save.c: placed pages need none):
# the same keys written again, whose pages the last checkpoints sent, and
# neither side counts a delta page.
keys 1 500
ctl "$PSOCK" checkpoint >/dev/null || fail "checkpoint"
for sock in "$PSOCK" "$SSOCK"; do
	n=$(status_field "$sock" 's["delta_pages"]')
	[[ $n == 0 ]] || fail "$sock: $n pages went as deltas over RDMA"
done
pass "no page sent as a delta over RDMA"

# More keys after the last explicit checkpoint: acknowledged output means
# the SVM had them too, so the takeover must serve them.
keys 501 700
kill -KILL "$PID_primary"; wait "$PID_primary" 2>/dev/null || true
forget "$PID_primary"
wait_state "$SSOCK" standalone 40 secondary
ping_ok "$SPORT" || fail "the promoted secondary does not answer"
out=$(for i in $(seq 1 700); do echo "GET key:$i"; done |
	timeout 60 redis-cli -h 127.0.0.1 -p "$SPORT" 2>&1) ||
	fail "redis-cli after the takeover: $out"
want=$(for i in $(seq 1 700); do echo "value-$((i * 7))-$PAD"; done)
[[ $out == "$want" ]] ||
	fail "keys lost in the takeover: $(diff <(echo "$want") <(echo "$out") | head -5)"
pass "failover: the secondary serves all 700 acknowledged keys"
