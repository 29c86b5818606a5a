#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Log priorities under journald. systemd names the stream it gave a service
# as stderr in JOURNAL_STREAM (DEV:INODE, systemd.exec(5)); while stderr is
# that stream, every log line starts with sd-daemon's <N> (<3> error, <4>
# warning, <6> info) so that the journal files it at that priority, and
# carries no name or time of ours. Stderr elsewhere (JOURNAL_STREAM naming
# another file, as after a redirection): lines as always.
source "$(dirname "$0")/lib.sh"
require_dirtylog

# run NAME JOURNAL_STREAM: a primary with no secondary listening, so that it
# logs info lines, then an error for each failed dial; stopped after 2 s.
run() {
	local name=$1 stream=$2
	touch "$T/$name.log"
	[[ $stream == self ]] && stream=$(stat -c '%d:%i' "$T/$name.log")
	start "$name" env JOURNAL_STREAM="$stream" "$PRIMARY" \
		--service "127.0.0.1:$(free_port)" --control "$T/$name.sock" \
		--guest "$KV" --ram 64M --insecure \
		--secondary "127.0.0.1:$(free_port)"
	sleep 2
	stop "$name"
}

run journal self
grep -qE '^<6>info: guest .* sha256 [0-9a-f]{64}$' "$T/journal.log" ||
	fail "no <6> info line under journald"
grep -qE '^<3>error: protection not established' "$T/journal.log" ||
	fail "no <3> error line under journald"
grep -qx 'ready' "$T/journal.log" || fail "the ready line changed"
bad=$(grep -vE '^(<[3467]>(error|warning|info|debug): |ready$)' "$T/journal.log" |
	grep -E 'colo-primary\[' || true)
[[ -z $bad ]] || fail "a line of ours without its priority: $bad"
pass "stderr is the journal: <6> on info lines, <3> on errors, no name or time"

# A refused flag is one line before logging starts: an error too.
touch "$T/refused.log"
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/refused.log") "$PRIMARY" \
	--service nowhere >>"$T/refused.log" 2>&1 && fail "a bad --service was taken"
grep -qE '^<3>colo-primary: ' "$T/refused.log" ||
	fail "a refused flag's line without <3>: $(cat "$T/refused.log")"
pass "a refused flag's line is <3> under journald"

run redirected "$(stat -c '%d:%i' /dev/null)"
grep -q '^<[0-7]>' "$T/redirected.log" &&
	fail "a <N> prefix although stderr is not the journal's stream"
grep -qE '^colo-primary\[[0-9.]+\] error: protection not established' \
	"$T/redirected.log" || fail "the usual error line is missing"
pass "stderr elsewhere: lines unchanged"
