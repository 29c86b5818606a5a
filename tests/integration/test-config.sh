#!/bin/bash
# SPDX-License-Identifier: MIT
# The config file (colo.conf(5)): a pair started from files alone
# (--config and nothing else) comes up over TLS with the files' settings;
# a flag overrides a file's value; `colo-ctl config` prints what
# --print-config does; bad files stop start-up with one exact line and
# exit 2; an --exec program and its words come from a file.
source "$(dirname "$0")/lib.sh"
command -v redis-cli >/dev/null || { echo "SKIP: redis-cli missing"; exit 77; }
require_dirtylog

gen_creds "$T/creds"
PSOCK=$T/primary.sock; SSOCK=$T/secondary.sock

# write_confs: fresh ports, and both daemons' files for them.
write_confs() {
	SPORT=$(free_port); PPORT=$(free_port); RPORT=$(free_port)
	cat >"$T/secondary.conf" <<-EOF
	# a pair on loopback
	[secondary]
	listen = 127.0.0.1:$RPORT
	service = 127.0.0.1:$SPORT
	control = $SSOCK
	guest = $KV
	tls-creds = $T/creds
	failover-timeout-ms = 3000
	EOF
	cat >"$T/primary.conf" <<-EOF
	[primary]
	service = 127.0.0.1:$PPORT
	control = $PSOCK
	guest = $KV
	; the secondary above
	secondary = 127.0.0.1:$RPORT
	tls-creds = $T/creds
	ram = 64M
	checkpoint-delay = 4000
	compare-timeout = 2500
	failover-timeout-ms = 3000
	EOF
}

# same_config NAME SOCK DAEMON ARGS...: the running daemon's `colo-ctl
# config` is what DAEMON ARGS... --print-config prints.
same_config() {
	local name=$1 sock=$2; shift 2
	"$@" --print-config >"$T/$name.printed" 2>&1 ||
		fail "$name --print-config: $(cat "$T/$name.printed")"
	ctl "$sock" config >"$T/$name.running" || fail "colo-ctl config on $name"
	diff -u "$T/$name.printed" "$T/$name.running" >&2 ||
		fail "$name: colo-ctl config differs from --print-config"
}

tunable_of() {  # SOCK NAME: the primary's tunable, as status shows it
	status_field "$1" "s['tunables']['$2']"
}

# 1. From the files alone.
write_confs
start secondary "$SECONDARY" --config "$T/secondary.conf"
start primary "$PRIMARY" --config "$T/primary.conf"
wait_state "$PSOCK" colo 60 primary secondary
wait_state "$SSOCK" colo 10
[[ $(tunable_of "$PSOCK" checkpoint-delay) == 4000 ]] ||
	fail "checkpoint-delay is $(tunable_of "$PSOCK" checkpoint-delay), not the file's 4000"
[[ $(tunable_of "$PSOCK" compare-timeout) == 2500 ]] || fail "compare-timeout not the file's"
[[ $(status_get "$PSOCK" ram_bytes) == $((64 << 20)) ]] || fail "ram not the file's 64M"
# The secondary has the primary's settings with the device state.
[[ $(status_field "$SSOCK" "s['primary_tunables']['checkpoint-delay']") == 4000 ]] ||
	fail "the secondary did not get checkpoint-delay 4000"
[[ $(timeout 10 redis-cli -p "$PPORT" SET k v) == OK ]] || fail "SET through the primary"
pass "a pair from config files alone is in colo with the files' settings"

same_config primary "$PSOCK" "$PRIMARY" --config "$T/primary.conf"
same_config secondary "$SSOCK" "$SECONDARY" --config "$T/secondary.conf"
grep -qx "checkpoint-delay = 4000" "$T/primary.running" || fail "config: no checkpoint-delay = 4000"
grep -qx "max-wait = 50" "$T/primary.running" || fail "config: the default max-wait not shown"
grep -qx "tls-creds = $T/creds" "$T/primary.running" || fail "config: no tls-creds path"
if grep -q "BEGIN" "$T/primary.running"; then fail "config printed a PEM"; fi
ctl "$PSOCK" config --json | python3 -c '
import json, sys
c = json.load(sys.stdin)
d = {s["key"]: s["from"] for s in c["settings"]}
assert d["checkpoint-delay"].endswith("primary.conf:9"), d
assert c["section"] == "primary", c' || fail "config --json: origins wrong"
pass "colo-ctl config prints what --print-config does, on both daemons"

# A promoted secondary still answers with the file it started from.
stop primary
wait_state "$SSOCK" standalone 30 secondary
same_config secondary "$SSOCK" "$SECONDARY" --config "$T/secondary.conf"
pass "after a takeover, colo-ctl config still prints the secondary's file"
stop secondary

# 2. A flag overrides the file's value.
write_confs
start secondary "$SECONDARY" --config "$T/secondary.conf"
start primary "$PRIMARY" --config "$T/primary.conf" --checkpoint-delay 7000
wait_state "$PSOCK" colo 60 primary secondary
[[ $(tunable_of "$PSOCK" checkpoint-delay) == 7000 ]] ||
	fail "checkpoint-delay is $(tunable_of "$PSOCK" checkpoint-delay), not the flag's 7000"
[[ $(tunable_of "$PSOCK" compare-timeout) == 2500 ]] || fail "compare-timeout not the file's"
same_config primary "$PSOCK" "$PRIMARY" --config "$T/primary.conf" --checkpoint-delay 7000
grep -qx "checkpoint-delay = 7000" "$T/primary.running" || fail "config: not the flag's value"
pass "a flag overrides the file's value (status and colo-ctl config say 7000)"
stop secondary
stop primary

# 3. Bad files: one exact line each, exit 2, whatever else is right.
expect_refusal() {  # WANT COMMAND...
	local want=$1 out rc=0; shift
	out=$("$@" 2>&1) || rc=$?
	[[ $rc == 2 ]] || fail "'$*' exited $rc, not 2: $out"
	[[ $out == "$want" ]] || fail "'$*' said '$out', not '$want'"
}
bad() {  # NAME LINES...: a copy of NAME.conf with LINES appended
	local f=$T/bad-$1.conf
	{ cat "$T/$1.conf"; printf '%s\n' "${@:2}"; } >"$f"
	echo "$f"
}
f=$(bad primary "checkpoint-delay = abc")
expect_refusal "colo-primary: $f:12: checkpoint-delay: given twice (first on line 9)" \
	"$PRIMARY" --config "$f"
sed -i 's/^checkpoint-delay = 4000$/checkpoint-delay = abc/' "$f"
sed -i '$d' "$f"
expect_refusal "colo-primary: $f:9: checkpoint-delay: 'abc' is not a time in ms (1..86400000)" \
	"$PRIMARY" --config "$f"
f=$(bad primary "ram = 12Q")
expect_refusal "colo-primary: $f:12: ram: given twice (first on line 8)" "$PRIMARY" --config "$f"
f=$(bad secondary "exec-port = 0")
expect_refusal "colo-secondary: $f:9: exec-port: '0' is not a TCP port (1-65535)" \
	"$SECONDARY" --config "$f"
f=$(bad secondary "metric = 1")
expect_refusal "colo-secondary: $f:9: metric: unknown key" "$SECONDARY" --config "$f"
f=$(bad secondary "[primary]" "ram = 1G")
expect_refusal "colo-secondary: $f:10: [primary]: not a section of colo-secondary (keys go under [secondary])" \
	"$SECONDARY" --config "$f"
f=$(bad secondary "takeover-requires-fence")
expect_refusal "colo-secondary: $f:9: not 'key = value' nor a [section]" \
	"$SECONDARY" --config "$f"
f=$(bad secondary "insecure = true")
expect_refusal "colo-secondary: --tls-creds and --insecure exclude each other" \
	"$SECONDARY" --config "$f"
# The flag's value replaces the file's bad one: the file is still read.
f=$(bad primary "max-wait = 0")
expect_refusal "colo-primary: $f:12: max-wait: '0' is not a time in ms (1..86400000)" \
	"$PRIMARY" --config "$f" --print-config
grep -qx "max-wait = 40" < <("$PRIMARY" --config "$f" --max-wait 40 --print-config) ||
	fail "--max-wait did not replace the file's bad value"
expect_refusal "colo-primary: $T/none.conf: cannot read: No such file or directory" \
	"$PRIMARY" --config "$T/none.conf"
pass "bad files refused with one line naming file, line and key"

# 4. An unmodified program from a file: exec's value is its words.
REDIS=/usr/bin/redis-server
if [[ -x $REDIS ]]; then
	cat >"$T/exec.conf" <<-EOF
	[primary]
	service = 127.0.0.1:$PPORT
	control = $PSOCK
	exec-port = 6379
	exec = $REDIS --port 6379 --save '' --appendonly "no"
	EOF
	start primary "$PRIMARY" --config "$T/exec.conf"
	[[ $(timeout 10 redis-cli -p "$PPORT" PING) == PONG ]] || fail "PING the exec guest"
	args=$(status_field "$PSOCK" "s['guest_args']")
	[[ $args == "['--port', '6379', '--save', '', '--appendonly', 'no']" ]] ||
		fail "exec's words: $args"
	same_config primary "$PSOCK" "$PRIMARY" --config "$T/exec.conf"
	grep -qx "exec = $REDIS --port 6379 --save '' --appendonly no" "$T/primary.running" ||
		fail "config: exec printed as $(grep '^exec' "$T/primary.running")"
	stop primary
	pass "exec from a file: the program and its words, printed back quoted"
else
	echo "(no $REDIS: exec from a file not tried)"
fi
