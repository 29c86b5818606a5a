#!/bin/bash
# SPDX-License-Identifier: MIT
# Bad flags stop start-up with a one-line reason and exit 2.
source "$(dirname "$0")/lib.sh"

expect_refusal() {  # WHAT-IN-MESSAGE COMMAND...
	local want=$1; shift
	local out rc=0
	out=$("$@" 2>&1) || rc=$?
	[[ $rc == 2 ]] || fail "'$*' exited $rc, not 2: $out"
	[[ $out == *"$want"* ]] || fail "'$*' said '$out', not '$want'"
	[[ $(printf '%s\n' "$out" | wc -l) == 1 ]] || fail "'$*': not one line: $out"
}

expect_refusal "--service" "$PRIMARY" --control /tmp/x --guest "$KV"
expect_refusal "--ram" "$PRIMARY" --service 127.0.0.1:1 --control x --guest "$KV" --ram 12Q
expect_refusal "--checkpoint-delay" "$PRIMARY" --service 127.0.0.1:1 --control x --guest "$KV" --checkpoint-delay abc
expect_refusal "--clear-bitmap-shift" "$PRIMARY" --service 127.0.0.1:1 --control x --guest "$KV" --clear-bitmap-shift 40
expect_refusal "--tls-creds" "$PRIMARY" --service 127.0.0.1:1 --control x --guest "$KV" --secondary 127.0.0.1:2
expect_refusal "exclude" "$SECONDARY" --listen 127.0.0.1:1 --service 127.0.0.1:2 --control x --guest "$KV" --insecure --tls-creds /tmp
expect_refusal "--listen" "$SECONDARY" --service 127.0.0.1:2 --control x --guest "$KV" --insecure
pass "bad flags refused with one line"

# --exec PROGRAM [ARGS...] takes the rest of the line; --exec-port with it.
P=("$PRIMARY" --service 127.0.0.1:1 --control x)
expect_refusal "--exec-port PORT is required with --exec" "${P[@]}" --exec /bin/true
expect_refusal "--exec-port: 'abc' is not a TCP port" "${P[@]}" --exec-port abc --exec /bin/true
expect_refusal "--exec-port: '0' is not a TCP port" "${P[@]}" --exec-port 0 --exec /bin/true
expect_refusal "--exec-port: '65536' is not a TCP port" "${P[@]}" --exec-port 65536 --exec /bin/true
expect_refusal "--exec-port: only with --exec" "${P[@]}" --guest "$KV" --exec-port 6379
expect_refusal "--exec and --guest exclude each other" "${P[@]}" --guest "$KV" --exec-port 1 --exec /bin/true
expect_refusal "--guest-arg: with --exec" "${P[@]}" --guest-arg x --exec-port 1 --exec /bin/true
expect_refusal "--exec: 'no-such-colo-program' is not in PATH" "${P[@]}" --exec-port 1 --exec no-such-colo-program
expect_refusal "--exec: './no-such' does not exist" "${P[@]}" --exec-port 1 --exec ./no-such
expect_refusal "--exec: '/etc/passwd' is not an executable file" "${P[@]}" --exec-port 1 --exec /etc/passwd
# What follows the program is its own, even what looks like our flags.
expect_refusal "--exec-port PORT is required with --exec" "${P[@]}" \
	--exec /bin/true --exec-port 1 --guest x
grep -q "rest of the command line" < <("$PRIMARY" --help) || fail "--help: nothing on --exec"
# The secondary takes the same, with the same words.
S=("$SECONDARY" --listen 127.0.0.1:1 --service 127.0.0.1:2 --control x --insecure)
expect_refusal "--exec-port PORT is required with --exec" "${S[@]}" --exec /bin/true
expect_refusal "--exec-port: '0' is not a TCP port" "${S[@]}" --exec-port 0 --exec /bin/true
expect_refusal "--exec-port: only with --exec" "${S[@]}" --guest "$KV" --exec-port 6379
expect_refusal "--exec and --guest exclude each other" "${S[@]}" --guest "$KV" --exec-port 1 --exec /bin/true
expect_refusal "--guest-arg: with --exec" "${S[@]}" --guest-arg x --exec-port 1 --exec /bin/true
expect_refusal "--exec: 'no-such-colo-program' is not in PATH" "${S[@]}" --exec-port 1 --exec no-such-colo-program
expect_refusal "--exec-port PORT is required with --exec" "${S[@]}" \
	--exec /bin/true --exec-port 1 --listen x
grep -q "rest of" < <("$SECONDARY" --help) || fail "secondary --help: nothing on --exec"
pass "--exec and --exec-port refused with one line naming the flag, on both daemons"

# --transport: tls or rdma, the same words on both daemons; rdma in a
# build without it (COLO_TEST_FAKE_NO_RDMA stands in for one) refused.
P=("$PRIMARY" --service 127.0.0.1:1 --control x --guest "$KV" --insecure)
expect_refusal "--transport: 'foo' is not a transport (tls or rdma)" "${P[@]}" --transport foo
expect_refusal "--transport: 'RDMA' is not a transport (tls or rdma)" "${S[@]}" --guest "$KV" --transport RDMA
expect_refusal "--transport rdma: this build has no RDMA" env COLO_TEST_FAKE_NO_RDMA=1 "${P[@]}" --transport rdma
expect_refusal "--transport rdma: this build has no RDMA" env COLO_TEST_FAKE_NO_RDMA=1 "${S[@]}" --guest "$KV" --transport rdma
printf '[primary]\ntransport = carrier-pigeon\n' >"$T/bad-transport.conf"
expect_refusal "bad-transport.conf:2: transport: 'carrier-pigeon' is not a transport" \
	"${P[@]}" --config "$T/bad-transport.conf"
out=$("${P[@]}" --transport tls --print-config 2>&1) || fail "--print-config: $out"
[[ $out == *$'\ntransport = tls\n'* ]] || fail "--print-config: no 'transport = tls': $out"
out=$("${S[@]}" --guest "$KV" --print-config 2>&1) || fail "--print-config: $out"
[[ $out == *$'\n# transport =\n'* ]] || fail "--print-config: transport unset not shown: $out"
pass "--transport tls|rdma: other words and an RDMA-less build refused with one line"

# --insecure with rdma says in plain words that nothing is authenticated,
# before anything else can go wrong (here: this host has no RDMA device;
# a build without RDMA refuses earlier, as above).
rc=0
out=$(timeout 20 "$SECONDARY" --listen 127.0.0.1:$(free_port) \
	--service 127.0.0.1:$(free_port) --control "$T/r.sock" --guest "$KV" \
	--insecure --transport rdma 2>&1) || rc=$?
[[ $rc != 0 && $rc != 124 ]] || fail "the secondary served without RDMA: $out"
if [[ $out != *"this build has no RDMA"* ]]; then
	[[ $out == *"warning: --insecure with --transport rdma: the RDMA connection is bound by a token sent in clear: no authentication, no encryption"* ]] ||
		fail "no --insecure rdma warning: $out"
	pass "--insecure --transport rdma warns at start-up"
fi

# A kernel without the dirty log (faked here; real on Debian 12's own 6.1):
# each daemon says so in one line naming the running kernel and what it
# needs, before "ready", and exits 1.
expect_old_kernel() {  # COMMAND...
	local out rc=0
	out=$(COLO_TEST_FAKE_OLD_KERNEL=1 "$@" 2>&1) || rc=$?
	[[ $rc == 1 ]] || fail "'$*' on an old kernel exited $rc, not 1: $out"
	[[ $(printf '%s\n' "$out" | wc -l) == 1 ]] ||
		fail "'$*' on an old kernel: not one line: $out"
	[[ $out == *" error: Linux 6.7+ needed for the dirty log (userfaultfd WP async, PAGEMAP_SCAN), this is Linux $(uname -r): "* ]] ||
		fail "'$*' on an old kernel said: $out"
}
expect_old_kernel "$PRIMARY" --service 127.0.0.1:$(free_port) \
	--control "$T/k.sock" --guest "$KV" --ram 16M
expect_old_kernel "$SECONDARY" --listen 127.0.0.1:$(free_port) \
	--service 127.0.0.1:$(free_port) --control "$T/k.sock" --guest "$KV" \
	--insecure
out=$(COLO_TEST_FAKE_OLD_KERNEL=1 "$PROBE_DIRTYLOG") && fail "probe passed: $out"
pass "an old kernel stops both daemons at start with one line"

require_dirtylog

# A credentials directory without its files stops start-up, naming the file.
mkdir -p "$T/empty-creds"
rc=0
out=$("$SECONDARY" --listen 127.0.0.1:$(free_port) --service 127.0.0.1:$(free_port) \
	--control "$T/s.sock" --guest "$KV" --tls-creds "$T/empty-creds" 2>&1) || rc=$?
[[ $rc == 1 ]] || fail "secondary with empty creds exited $rc"
[[ $out == *ca-cert.pem* || $out == *server-cert.pem* ]] || fail "no file named: $out"
pass "missing credentials named"

rc=0
out=$("$PRIMARY" --service 127.0.0.1:$(free_port) --control "$T/p.sock" \
	--guest /nonexistent/guest --ram 16M 2>&1) || rc=$?
[[ $rc == 1 && $out == *"/nonexistent/guest"* ]] || fail "missing guest: rc=$rc $out"
pass "missing guest binary named"
