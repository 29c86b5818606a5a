#!/bin/bash
# SPDX-License-Identifier: MIT
# How an RDMA connection is bound, in the soft-RoCE VM (vm-run.sh):
#  1. --insecure --transport rdma: both daemons warn that nothing is
#     authenticated, and the pair works (token in clear over TCP);
#  2. a TLS-only primary against an RDMA secondary: the secondary drops
#     it, and last_error asks whether the primary runs with --transport
#     rdma;
#  3. an RDMA connection request with a token of no TLS session: refused,
#     and the secondary logs it;
#  4. an RDMA primary against a TLS-only secondary: the primary's dial
#     fails naming RDMA and asking the same of the secondary;
#  5. 256 MiB pinned on each side, longer than a 1500 ms failover
#     timeout: neither side takes the other's pinning for silence, and
#     each logs how long it pinned.
source "$(dirname "$0")/../integration/lib.sh"

skip() { echo "SKIP: $*"; exit 77; }
[[ -n ${COLO_RDMA_ADDR:-} ]] ||
	skip "no RDMA device here (COLO_RDMA_ADDR unset): run it through tests/rdma/vm-run.sh"
require_dirtylog
out=$("$PRIMARY" --service 127.0.0.1:1 --control "$T/probe.sock" \
	--guest "$KV" --insecure --transport rdma --print-config 2>&1) ||
	skip "this build has no RDMA: $out"
ADDR=$COLO_RDMA_ADDR
LIVENESS=(--heartbeat-ms 500 --failover-timeout-ms 8000)
WARNING="warning: --insecure with --transport rdma: the RDMA connection is bound by a token sent in clear: no authentication, no encryption"

# 1 ---------------------------------------------------------------------
SEC_FLAGS=("${LIVENESS[@]}")
INSECURE=1 TRANSPORT=rdma LINK_ADDR=$ADDR start_pair "$KV" --ram 16M "${LIVENESS[@]}"
wait_state "$PSOCK" colo 60 primary secondary
grep -qF "$WARNING" "$T/primary.log" || fail "no warning from the primary"
grep -qF "$WARNING" "$T/secondary.log" || fail "no warning from the secondary"
grep -q "(RDMA bound by a token sent in clear, --insecure: no authentication)" \
	"$T/primary.log" || fail "the primary's connection line does not say it"
[[ $(status_get "$SSOCK" transport) == rdma ]] || fail "secondary: transport not rdma"
out=$(ctl "$PSOCK" verify) || fail "verify: $out"
[[ $out == identical* ]] || fail "verify said: $out"
pass "--insecure --transport rdma: warned on both sides, pair in colo state, identical"
stop primary
stop secondary

# 2 ---------------------------------------------------------------------
bash "$SRC/deploy/gen-certs.sh" "$T/creds" "$ADDR" >/dev/null 2>&1 || fail "gen-certs.sh"
RPORT=$(free_port)
start rsec "$SECONDARY" --listen "$ADDR:$RPORT" --service "127.0.0.1:$(free_port)" \
	--control "$T/rsec.sock" --guest "$KV" --tls-creds "$T/creds" \
	--transport rdma "${LIVENESS[@]}"
start tlspri "$PRIMARY" --service "127.0.0.1:$(free_port)" --control "$T/tlspri.sock" \
	--guest "$KV" --ram 16M --secondary "$ADDR:$RPORT" --tls-creds "$T/creds" \
	"${LIVENESS[@]}"
for _ in $(seq 300); do
	e=$(status_get "$T/rsec.sock" last_error)
	[[ -n $e ]] && break
	sleep 0.1
done
[[ $e == *"is the primary started with --transport rdma?"* ]] ||
	fail "secondary's last_error: '$e'"
[[ $(status_get "$T/rsec.sock" state) == waiting ]] || fail "secondary not waiting"
pass "a TLS-only primary dropped by an RDMA secondary: $e"
stop tlspri

# A request whose token no TLS session exported: refused, and said so.
out=$("$BUILD/tests/rdma/rdma-stray" "$ADDR:$RPORT" 2>&1) ||
	fail "rdma-stray: $out"
for _ in $(seq 50); do
	grep -q "RDMA connection request bound to no authenticated TLS session: rejected" \
		"$T/rsec.log" && break
	sleep 0.1
done
grep -q "RDMA connection request bound to no authenticated TLS session: rejected" \
	"$T/rsec.log" || fail "the secondary did not log the stray request"
[[ $(status_get "$T/rsec.sock" last_error) == *"bound to no authenticated TLS session"* ]] ||
	fail "last_error: $(status_get "$T/rsec.sock" last_error)"
pass "a stray RDMA request (a token of no TLS session) rejected: $out"

# 4 ---------------------------------------------------------------------
TPORT=$(free_port)
start tlssec "$SECONDARY" --listen "$ADDR:$TPORT" --service "127.0.0.1:$(free_port)" \
	--control "$T/tlssec.sock" --guest "$KV" --tls-creds "$T/creds" "${LIVENESS[@]}"
start rpri "$PRIMARY" --service "127.0.0.1:$(free_port)" --control "$T/rpri.sock" \
	--guest "$KV" --ram 16M --secondary "$ADDR:$TPORT" --tls-creds "$T/creds" \
	--transport rdma "${LIVENESS[@]}"
for _ in $(seq 300); do
	grep -q "RDMA connection to secondary" "$T/rpri.log" && break
	sleep 0.1
done
line=$(grep -m1 "RDMA connection to secondary" "$T/rpri.log") ||
	fail "the primary did not say its RDMA connection failed: $(tail -n 5 "$T/rpri.log")"
[[ $line == *"is it started with --transport rdma?"* ]] || fail "the primary said: $line"
pass "an RDMA primary against a TLS-only secondary: $line"
stop rpri
stop tlssec
stop rsec

# 5 ---------------------------------------------------------------------
# Registering memory pins it, seconds for 256 MiB in this emulator: the
# primary pins its RAM before its hello and the secondary its RAM cache
# before its answer, and neither counts that as the other's silence. A
# failover timeout shorter than either pinning still forms the pair.
SHORT=(--heartbeat-ms 300 --failover-timeout-ms 1500)
SEC_FLAGS=("${SHORT[@]}")
TRANSPORT=rdma LINK_ADDR=$ADDR start_pair "$KV" --ram 256M "${SHORT[@]}"
wait_state "$PSOCK" colo 120 primary secondary
grep -q "ended: no message for" "$T/secondary.log" &&
	fail "the secondary took the primary's pinning for silence: $(grep -m1 'no message for' "$T/secondary.log")"
grep -q "hello with .* failed" "$T/primary.log" &&
	fail "the primary took the secondary's pinning for silence: $(grep -m1 'hello with' "$T/primary.log")"
pins="primary: $(grep -m1 -o 'pinned .* ms' "$T/primary.log"); secondary: $(grep -m1 -o 'pinned .* ms' "$T/secondary.log")"
[[ $pins == *"primary: pinned 256 MiB"*"secondary: pinned 256 MiB"* ]] ||
	fail "each side should log how long it pinned: $pins"
pass "256 MiB pinned on both sides with a 1500 ms failover timeout: colo at the first try ($pins)"
