#!/bin/bash
# SPDX-License-Identifier: MIT
#
# bench-sync.sh [BUILD-DIR]: table 1 of bench-pair.sh alone (live sync of
# a 1 GiB guest holding 900 MiB of random data over TLS, idle and while
# the guest writes; bench-sync-lib.sh), beside the limits measured in the
# same run. About a minute and 3 GiB of RAM. Needs what bench-pair.sh
# needs; stops everything it started by PID, removes its scratch
# directory (KEEP_LOGS=1 keeps it, as does a failed run).
#
# CHANNELS="1 2 4": then the idle sync again for each --channels N, the N
# alternating, CHANNELS_ROUNDS (2) times over, a row each in table 1
# (about 15 s and 3 GiB a run). SYNC_ONLY_CHANNELS=1 skips a and b.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
B=$(cd "${1:-$SRC/build}" && pwd)
export COLO_BUILD=$B COLO_TMP_NAME=colo-bench-sync
source "$SRC/tests/integration/lib.sh"
source "$SRC/bench/bench-lib.sh"
source "$SRC/bench/bench-sync-lib.sh"
WAIT_STATE_POLL=0.1

for f in "$PRIMARY" "$SECONDARY" "$CTL" "$KV"; do
	[[ -x $f ]] || { echo "bench-sync: $f missing; run scripts/build.sh build" >&2; exit 1; }
done
for c in redis-cli redis-benchmark openssl python3 cc; do
	command -v "$c" >/dev/null || { echo "bench-sync: $c not installed" >&2; exit 1; }
done
trap 'exit 130' INT TERM

echo "colo bench-sync: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) cores," \
	"$(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "measuring the physical limits..."
measure_limits
gen_creds "$T/tls"
if [[ ${SYNC_ONLY_CHANNELS:-0} != 1 ]]; then
	sync_runs
	stop primary
	stop secondary
fi
[[ -z ${CHANNELS:-} ]] || sync_channel_runs
echo
sync_report "$TCP_MIBS" "$AES_MIBS"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
