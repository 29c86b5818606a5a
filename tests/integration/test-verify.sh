#!/bin/bash
# SPDX-License-Identifier: MIT
# verify can say "differ": one byte of the SVM's RAM is flipped behind the
# dirty log's back, and verify names the chunk that holds it.
#
# The flip goes through the SVM's RAM memfd reopened from /proc (the test's
# own file description, as root can), not through the SVM's mapping: the
# dirty log lives in the SVM's page tables, so the write is not logged, the
# next checkpoint's flush does not copy that page back, and only the
# digests can see it (DESIGN.md, "Dirty log").
source "$(dirname "$0")/lib.sh"
command -v redis-cli >/dev/null || { echo "SKIP: redis-cli missing"; exit 77; }
require_dirtylog

CHUNK=$((2 << 20))                  # RAM_DIGEST_CHUNK_PAGES * 4 KiB

INSECURE=1 start_pair "$KV" --ram 32M
wait_state "$PSOCK" colo 60
wait_state "$SSOCK" colo 10

# 5 MiB of keys, so that what comes next lies beyond the first chunk, then
# one value large enough to fill pages of its own, made of a marker that
# occurs nowhere else.
python3 - "$T/load.resp" <<'PY'
import sys
def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out
with open(sys.argv[1], "wb") as f:
    for i in range(640):
        f.write(cmd(b"SET", b"key:%d" % i, b"%08d" % i * 1024))
    marker = "".join("verify-marker-%06d|" % i for i in range(1000))
    f.write(cmd(b"SET", b"marker", marker.encode()))
PY
out=$(redis-cli -p "$PPORT" --pipe <"$T/load.resp" 2>&1) || fail "redis-cli --pipe: $out"
[[ $out == *"errors: 0, replies: 641"* ]] || fail "pipe: $out"
out=$(ctl "$PSOCK" verify) || fail "verify before the flip: $out"
[[ $out == identical ]] || fail "verify before the flip said: $out"
pass "keys written, verify identical"

# Checkpoints of small changes go as deltas against the checkpoint before's
# pages (--xbzrle-cache-size, on by default): the same 2000 keys set three
# times, a checkpoint after each; after the first the pages have entries.
# verify then compares all of RAM: the deltas left nothing behind.
for round in 1 2 3; do
	python3 - "$T/small.resp" "$round" <<'PY'
import sys
with open(sys.argv[1], "wb") as f:
    for i in range(2000):
        k, v = b"small:%d" % i, b"r%s-%d" % (sys.argv[2].encode(), i)
        f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
PY
	out=$(redis-cli -p "$PPORT" --pipe <"$T/small.resp" 2>&1) || fail "redis-cli --pipe: $out"
	[[ $out == *"errors: 0, replies: 2000"* ]] || fail "pipe: $out"
	ctl "$PSOCK" checkpoint >/dev/null || fail "checkpoint after round $round"
done
dp=$(status_field "$PSOCK" 's["last_checkpoint"]["delta_pages"]')
pages=$(status_field "$PSOCK" 's["last_checkpoint"]["pages"]')
bytes=$(status_field "$PSOCK" 's["last_checkpoint"]["bytes"]')
(( dp > 0 )) || fail "no page of the last checkpoint went as a delta ($pages pages)"
(( bytes < pages * 4096 )) || fail "deltas sent $bytes bytes for $pages pages"
out=$(ctl "$PSOCK" verify) || fail "verify after the deltas: $out"
[[ $out == identical ]] || fail "verify after the deltas said: $out"
pass "checkpoints of small SETs: $dp of $pages pages as deltas, $bytes bytes; verify identical"

# svm_ram_fd: the secondary's descriptor of the SVM's RAM memfd, as a /proc
# path (the guest closes its own once the RAM is mapped).
svm_ram_fd() {
	local fd
	for fd in /proc/"$PID_secondary"/fd/*; do
		[[ $(readlink "$fd") == /memfd:guest-ram* ]] && {
			echo "$fd"
			return 0
		}
	done
	fail "no /memfd:guest-ram among the secondary's fds"
}

# Flip one bit in the middle of the marker; print the byte's offset.
ramfd=$(svm_ram_fd)
off=$(python3 - "$ramfd" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
ram = os.pread(fd, os.fstat(fd).st_size, 0)
needle = b"verify-marker-000500|"
at = ram.find(needle)
assert at >= 0, "marker not in the SVM's RAM"
assert ram.find(needle, at + 1) < 0, "marker found twice"
off = at + 7
os.pwrite(fd, bytes([ram[off] ^ 0x20]), off)
os.close(fd)
print(off)
PY
) || fail "could not flip a byte of the SVM's RAM"
# Chunk 0 would not tell a right answer from a constant one.
(( off >= CHUNK )) || fail "the marker is in the first chunk (0x$(printf '%x' "$off"))"
chunk=$(printf '0x%x' $(( off / CHUNK * CHUNK )))
pass "flipped the byte at 0x$(printf '%x' "$off") of the SVM's RAM (chunk at $chunk)"

rc=0
out=$(ctl "$PSOCK" verify) || rc=$?
[[ $rc == 1 ]] || fail "verify exited $rc, not 1: $out"
want="differ: 1 range
block 0: $chunk +$(printf '0x%x' $CHUNK)"
[[ $out == "$want" ]] || fail "verify said
$out
not
$want"
grep -q "verify: 1 chunks differ between PVM and SVM" "$T/primary.log" ||
	fail "the primary did not log the difference"
pass "verify names the chunk: $(tail -n 1 <<<"$out")"

# The flush does not repair what it was never told about: still there.
rc=0
out=$(ctl "$PSOCK" verify) || rc=$?
[[ $rc == 1 && $out == "$want" ]] || fail "second verify ($rc): $out"
v=$(redis-cli -p "$PPORT" GET key:7)
[[ $v == "$(printf '%08d' 7)"* && ${#v} == 8192 ]] || fail "GET key:7 gave '$v'"
pass "the difference stays; the pair still serves"
