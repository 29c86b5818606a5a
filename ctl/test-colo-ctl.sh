#!/bin/sh
# SPDX-License-Identifier: MIT
# colo-ctl against a fake daemon: every command's output and exit code.
# usage: test-colo-ctl.sh COLO-CTL FAKE-DAEMON
set -u
ctl=$1 daemon=$2
dir=$(mktemp -d) || exit 1
sock=$dir/ctl.sock
fails=0

"$daemon" "$sock" & pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
i=0
while [ ! -S "$sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
[ -S "$sock" ] || { echo "FAIL: the fake daemon did not start"; exit 1; }

# expect CODE EXPECTED-OUTPUT (stdout+stderr) -- ARGS...
expect() {
	code=$1 want=$2
	shift 3
	got=$("$ctl" "$@" 2>&1)
	rc=$?
	if [ "$rc" != "$code" ] || [ "$got" != "$want" ]; then
		echo "FAIL: colo-ctl $*"
		echo "  exit $rc, want $code"
		echo "  got:  $got" | sed 's/^/  /'
		echo "  want: $want" | sed 's/^/  /'
		fails=$((fails + 1))
	fi
}
# expect_head CODE FIRST-LINE -- ARGS...: for outputs ending in usage
expect_head() {
	code=$1 want=$2
	shift 3
	got=$("$ctl" "$@" 2>&1 | head -n 1)
	"$ctl" "$@" >/dev/null 2>&1
	rc=$?
	if [ "$rc" != "$code" ] || [ "$got" != "$want" ]; then
		echo "FAIL: colo-ctl $*: exit $rc want $code; got '$got' want '$want'"
		fails=$((fails + 1))
	fi
}

expect 0 'role: primary
state: protected
checkpoints: 7
last checkpoint: 1234 pages, 5.0 MiB, pause 12.3 ms, flushed_pages 99
  phases: barrier 0.50 ms, scan 1.25 ms, send 8.00 ms
ram_bytes: 1073741824 (1.0 GiB)
mismatches: 3
checkpoint_reasons: mismatch=2, manual=5
peer: 10.0.0.2:7000' -- -s "$sock" status
expect 0 '{"role":"primary","state":"protected","checkpoints":7,"last_checkpoint":{"id":7,"pages":1234,"bytes":5242880,"pause_ms":12.34,"flushed_pages":99,"phases_ms":{"barrier":0.5,"scan":1.25,"send":8}},"checkpoint_reasons":{"mismatch":2,"manual":5},"ram_bytes":1073741824,"mismatches":3,"peer":"10.0.0.2:7000"}' -- -s "$sock" status --json
COLO_CTL_SOCKET=$sock expect 0 'checkpoint 7: 1234 pages, 5.0 MiB, pause 12.3 ms' -- checkpoint
expect 0 'identical' -- -s "$sock" verify
expect 0 'differ = yes' -- -s "$sock" set differ yes
expect 1 'differ: 2 ranges
block 0: 0x1000 +0x1000
block 1: 0x100000 +0x2000' -- -s "$sock" verify
expect 0 'fail = checkpoint' -- -s "$sock" set fail checkpoint
expect 1 'colo-ctl: checkpoint failed: checkpoint refused by the fake daemon' -- -s "$sock" checkpoint
expect 1 "colo-ctl: set failed: set: $(printf 'No such file or directory')" -- -s "$sock" set nosuch 1
expect 0 'failover: ok' -- -s "$sock" failover
expect 1 "colo-ctl: cannot connect to $dir/none: No such file or directory" -- -s "$dir/none" status
expect_head 2 'colo-ctl: unknown command: frobnicate' -- -s "$sock" frobnicate
expect_head 2 'colo-ctl: no command given' --
expect_head 2 'colo-ctl: set needs NAME and VALUE' -- -s "$sock" set x
expect_head 2 'colo-ctl: status: unexpected argument --yaml' -- -s "$sock" status --yaml
expect_head 2 'colo-ctl: bad timeout: soon' -- -t soon status
expect_head 0 'usage: colo-ctl [-s PATH] [-t SECONDS] COMMAND [ARGS]' -- help
# The drill is colo-drill's (deploy/lab/drill): one line that says where.
expect 2 'colo-ctl: the failover drill is its own program now: colo-drill (deploy/lab/drill, installed with -Dlab=true)' -- drill failover --seed 7
# events: one line per event, for people and as the daemon's JSON.
"$ctl" -s "$sock" events >"$dir/ev" 2>&1 & evpid=$!
"$ctl" -s "$sock" events --json >"$dir/evjson" 2>&1 & jspid=$!
i=0
while { [ ! -s "$dir/ev" ] || [ ! -s "$dir/evjson" ]; } && [ $i -lt 100 ]; do
	"$ctl" -s "$sock" set emit "manual $i" >/dev/null
	sleep 0.05; i=$((i + 1))
done
kill -INT $evpid $jspid
wait $evpid; evrc=$?
wait $jspid; jsrc=$?
line=$(head -n 1 "$dir/ev")
if [ $evrc != 0 ] || ! echo "$line" | grep -Eq '^[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\.[0-9]{3} CHECKPOINT reason="manual [0-9]+" id=7 pause=2\.5ms pages=120 bytes=491520$'; then
	echo "FAIL: colo-ctl events: exit $evrc, first line '$line'"
	fails=$((fails + 1))
fi
line=$(head -n 1 "$dir/evjson")
if [ $jsrc != 0 ] || ! echo "$line" | grep -Eq '^\{"event":"CHECKPOINT","data":\{"reason":"manual [0-9]+","id":7,"pause_ms":2\.5,"pages":120,"bytes":491520\},"timestamp":\{"seconds":[0-9]+,"microseconds":[0-9]+\}\}$'; then
	echo "FAIL: colo-ctl events --json: exit $jsrc, first line '$line'"
	fails=$((fails + 1))
fi
expect_head 2 'colo-ctl: events: unexpected argument --yaml' -- -s "$sock" events --yaml
expect 1 "colo-ctl: cannot subscribe to the events of $dir/none: No such file or directory" -- -s "$dir/none" events

if "$ctl" help | grep '^  drill' >/dev/null; then
	echo "FAIL: colo-ctl help still lists drill"
	fails=$((fails + 1))
fi

[ $fails -eq 0 ] && echo "ok" && exit 0
exit 1
