#!/bin/bash
# SPDX-License-Identifier: MIT
# A checkpoint that catches the PVM between the open and the close of a
# regular file the SVM does not hold (redis's DEBUG RELOAD, a foreground
# SAVE) is put off, not fatal: the secondary answers "not now" before it
# changes anything, the primary tries again every 250 ms, and a requested
# one is taken once the file is closed, the pair protected throughout.
# Past the bound (5 s) it is given up: the secondary is lost, as for any
# failed checkpoint (here the secondary, its link closed, takes over).
#
# The program is hold-file (a line server that holds /tmp/held.dat open
# on HOLD for as long as /tmp/hold-ms says). Each side has its own
# scratch /tmp: hold-ms written into the PVM's alone makes the PVM hold
# the file while the SVM, fed the same HOLD, closed it at once; that is
# the moment the CI run met by chance, made certain.
#
# A "not now" changes nothing on the secondary, so each retry is a delta
# of the image it still holds, not the whole program: the checkpoint
# taken after the streak carries a fraction of the program's own pages
# (status own_pages), and verify still finds the pair identical.
source "$(dirname "$0")/lib.sh"

HOLD=$BUILD/tests/integration/hold-file
[[ -x $HOLD ]] || fail "$HOLD not built"
require_dirtylog

PROG=(--exec-port 7000 --exec "$HOLD" 7000)
SPORT=$(free_port); PPORT=$(free_port); RPORT=$(free_port)
PMET=$(free_port); SMET=$(free_port)
PSOCK=$T/primary.sock; SSOCK=$T/secondary.sock
start secondary "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$SSOCK" --insecure \
	--metrics "127.0.0.1:$SMET" "${PROG[@]}"
start primary "$PRIMARY" --service "127.0.0.1:$PPORT" --control "$PSOCK" \
	--secondary "127.0.0.1:$RPORT" --insecure --checkpoint-delay 60000 \
	--metrics "127.0.0.1:$PMET" "${PROG[@]}"
wait_state "$PSOCK" colo 60 primary secondary
wait_state "$SSOCK" colo 10

# ask LINE...: one connection, each line's answer printed.
ask() {
	python3 - "$PPORT" "$@" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
f = s.makefile("rb")
for line in sys.argv[2:]:
    s.sendall(line.encode() + b"\n")
    print(f.readline().decode().strip())
PY
}
[[ $(ask INCR INCR INCR) == $'1\n2\n3' ]] || fail "INCR through the pair"
ctl "$PSOCK" checkpoint >/dev/null || fail "checkpoint before the hold"
[[ $(ask HOLD INCR) == $'HELD\n4' ]] || fail "HOLD with no hold-ms"
pass "hold-file protected; HOLD without hold-ms closes at once"

gpid=$(status_get "$PSOCK" guest_pid)
(( gpid > 0 )) || fail "no guest_pid in the primary's status"
# holding HOLD-MS: a client's HOLD sent, and given time to open the file.
holding() {
	echo "$1" >"/proc/$gpid/root/tmp/hold-ms" || fail "write hold-ms"
	ask HOLD >"$T/held.out" 2>&1 &
	HOLDER=$!
	for _ in $(seq 100); do
		[[ -n $(find "/proc/$gpid/fd" -lname '*held.dat' 2>/dev/null) ]] &&
			return 0
		sleep 0.01
	done
	fail "the PVM did not open held.dat"
}

# (a) A requested checkpoint while the PVM holds the file for 1.5 s.
# verify first; the program's own pages are the reference for the retries'
# size.
out=$(ctl "$PSOCK" verify) || fail "verify before the hold: $out"
[[ $out == identical* ]] || fail "verify before the hold: $out"
whole=$(status_field "$PSOCK" 's["last_checkpoint"]["own_pages"]')
n0=$(status_get "$PSOCK" checkpoints)
off0=$(status_get "$PSOCK" checkpoints_put_off)
holding 1500
t0=$(date +%s%N)
out=$(ctl "$PSOCK" checkpoint 2>&1) || fail "checkpoint during the hold: $out"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
wait "$HOLDER" || fail "the HOLD client: $(cat "$T/held.out")"
[[ $(cat "$T/held.out") == HELD ]] || fail "HOLD answered $(cat "$T/held.out")"
[[ -z $(find "/proc/$gpid/fd" -lname '*held.dat' 2>/dev/null) ]] ||
	fail "held.dat still open after HELD"
[[ $(state_of "$PSOCK") == colo && $(state_of "$SSOCK") == colo ]] ||
	fail "pair left colo state: $(state_of "$PSOCK")/$(state_of "$SSOCK")"
(( $(status_get "$PSOCK" checkpoints) == n0 + 1 )) ||
	fail "checkpoints $(status_get "$PSOCK" checkpoints), not $((n0 + 1))"
off=$(status_get "$PSOCK" checkpoints_put_off)
(( off > off0 )) || fail "checkpoints_put_off $off, not above $off0"
nn=$(status_get "$SSOCK" checkpoints_not_now)
(( nn > 0 )) || fail "secondary's checkpoints_not_now $nn"
# metric PORT NAME: one counter from the daemon's /metrics.
metric() {
	curl -sf --max-time 20 "http://127.0.0.1:$1/metrics" |
		awk -v s="$2" '$1 == s { print $2 }'
}
[[ $(metric "$PMET" colo_checkpoints_put_off_total) == "$off" &&
   $(metric "$SMET" colo_checkpoints_not_now_total) == "$nn" ]] ||
	fail "/metrics: put off $(metric "$PMET" colo_checkpoints_put_off_total) (status $off), not now $(metric "$SMET" colo_checkpoints_not_now_total) (status $nn)"
(( ms >= 800 )) || fail "checkpoint took $ms ms: not put off until the close"
[[ $(status_get "$PSOCK" secondary_losses) == 0 ]] ||
	fail "secondary lost $(status_get "$PSOCK" secondary_losses) times"
grep -q "checkpoint not now: fd [0-9]*: regular file /tmp/held.dat open on the PVM only" \
	"$T/secondary.log" || fail "no 'not now' reason in the secondary's log"
(( $(grep -c "put off: the secondary cannot take it now" "$T/primary.log") == 1 )) ||
	fail "the primary's put-off not logged once"
grep -q "the secondary took the checkpoint, [0-9]* ms after" "$T/primary.log" ||
	fail "the streak's end not logged"
pass "checkpoint during the hold: put off $((off - off0)) times, taken after $ms ms, pair in colo"

# The checkpoint taken after the streak followed the image the secondary
# held all along: a delta (a whole image before this change).
taken=$(status_field "$PSOCK" 's["last_checkpoint"]["pages"]')
echo "  the program's own $whole pages; taken after the put-offs $taken pages"
(( whole > 0 && taken * 2 < whole )) ||
	fail "the checkpoint after the put-offs carried $taken pages of $whole: not a delta"
pass "after 'not now' the checkpoint taken is a delta: $taken pages of $whole"

out=$(ctl "$PSOCK" verify) || fail "verify: $out"
[[ $out == identical* ]] || fail "verify after the hold: $out"
[[ $(ask INCR) == 5 ]] || fail "INCR after the hold"
pass "verify: identical; the program serves on"

# (a2) The loop's own (periodic) checkpoints meet the hold: put off, the
# loop serving on, taken after the close.
n0=$(status_get "$PSOCK" checkpoints)
off0=$(status_get "$PSOCK" checkpoints_put_off)
ctl "$PSOCK" set checkpoint-delay 300 >/dev/null || fail "set checkpoint-delay"
holding 1500
wait "$HOLDER" || fail "the HOLD client: $(cat "$T/held.out")"
[[ $(cat "$T/held.out") == HELD ]] || fail "HOLD answered $(cat "$T/held.out")"
sleep 1
ctl "$PSOCK" set checkpoint-delay 60000 >/dev/null || fail "set checkpoint-delay"
off=$(status_get "$PSOCK" checkpoints_put_off)
(( off > off0 )) || fail "periodic: checkpoints_put_off $off, not above $off0"
(( $(status_get "$PSOCK" checkpoints) > n0 )) || fail "no periodic checkpoint"
[[ $(state_of "$PSOCK") == colo && $(state_of "$SSOCK") == colo ]] ||
	fail "pair left colo state: $(state_of "$PSOCK")/$(state_of "$SSOCK")"
[[ $(status_get "$PSOCK" secondary_losses) == 0 ]] || fail "secondary lost"
out=$(ctl "$PSOCK" verify) || fail "verify: $out"
[[ $out == identical* ]] || fail "verify after the periodic hold: $out"
pass "periodic checkpoints during the hold: put off $((off - off0)) times, then taken; verify identical"

# (b) Held past the bound: given up, the secondary lost.
losses0=$(status_get "$PSOCK" secondary_losses)
holding 7000
t0=$(date +%s%N)
if out=$(ctl "$PSOCK" checkpoint 2>&1); then
	fail "checkpoint held past the bound succeeded: $out"
fi
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[[ $out == *"checkpoint given up: the secondary put it off"* ]] ||
	fail "the given-up checkpoint answered: $out"
(( ms >= 4500 && ms < 7000 )) || fail "given up after $ms ms, not about 5 s"
(( $(status_get "$PSOCK" secondary_losses) == losses0 + 1 )) ||
	fail "secondary_losses $(status_get "$PSOCK" secondary_losses)"
pass "held past 5 s: '$out' after $ms ms"
wait "$HOLDER" || fail "the HOLD client: $(cat "$T/held.out")"
[[ $(cat "$T/held.out") == HELD ]] || fail "HOLD answered $(cat "$T/held.out")"
[[ $(state_of "$PSOCK") != colo ]] || fail "primary still in colo state"
[[ $(ask INCR) == 6 ]] || fail "INCR after giving up"
pass "the primary serves on unprotected, as after any failed checkpoint"
