#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The units' sandbox must not break the dirty log (userfaultfd,
# /proc/PID/pagemap, memfd) nor --exec (ptrace of its own child,
# PR_SET_PDEATHSIG, mount/pid/net/uts/ipc namespaces, personality). There
# is no PID-1 systemd here to apply it, so this test does what each option
# of the units' hardening block does, by hand: in a private mount namespace
# (unshare), read-only and hidden paths with bind and tmpfs mounts, then
# the unit's LimitNOFILE (prlimit), no new privileges and the capability
# bounding set (setpriv). An option it cannot emulate fails the test: add
# an option only with its emulation. Under that sandbox: a colo-kv pair
# over TLS (colo, checkpoint, verify, takeover), and an --exec pair around
# redis-server (colo, checkpoint, verify). Then the sandbox is shown to
# bite: without CAP_SYS_ADMIN, --exec cannot start.
source "$(dirname "$0")/../integration/lib.sh"
require_dirtylog
[[ $(id -u) == 0 ]] || { echo "SKIP: needs root (mount namespaces)"; exit 77; }
command -v setpriv >/dev/null && command -v unshare >/dev/null &&
	command -v prlimit >/dev/null ||
	{ echo "SKIP: util-linux's setpriv, unshare or prlimit missing"; exit 77; }

UNIT_P=$SRC/deploy/systemd/colo-primary.service.in
UNIT_S=$SRC/deploy/systemd/colo-secondary.service.in
block() { sed -n '/^# hardening: begin/,/^# hardening: end/p' "$1" | grep -v '^#'; }
[[ $(block "$UNIT_P") == "$(block "$UNIT_S")" ]] ||
	fail "the two units' hardening blocks differ"
[[ -n $(block "$UNIT_P") ]] || fail "no hardening block in $UNIT_P"

# The unit's RuntimeDirectory (/run/colo), here one of our own: the control
# sockets and the credentials (PrivateTmp hides $T).
RUN=$(mktemp -d /run/colo-hardening.XXXXXX)
trap 'cleanup; rm -rf "$RUN"' EXIT

# What each option does, as mount commands run in the new namespace (in
# this order: fresh /tmp and /dev first, read-only last) and setpriv flags.
pre=() ro=() priv=()
while IFS='=' read -r key value; do
	[[ -n $key ]] || continue
	case $key=$value in
	NoNewPrivileges=yes) priv+=(--no-new-privs) ;;
	ProtectSystem=strict)
		# / read-only; /dev, /proc, /sys are other options' business;
		# the runtime directory stays writable.
		ro+=("mount --bind $RUN $RUN"
		     "mount -o remount,bind,ro /") ;;
	ProtectHome=yes)
		pre+=("for d in /home /root /run/user; do [ -d \$d ] &&
		       mount -t tmpfs -o mode=000,ro tmpfs \$d; done; true") ;;
	PrivateTmp=yes)
		# A unit runs /usr/bin's daemons; this test runs the build
		# tree's, which a fresh clone may hold under /tmp: kept aside
		# before the fresh /tmp, moved back over it after.
		pre+=("case '$SRC' in /tmp/*|/var/tmp/*)
		         mkdir -p $RUN/.src && mount --bind '$SRC' $RUN/.src;; esac"
		      "mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp"
		      "mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp"
		      "if mountpoint -q $RUN/.src; then
		         mkdir -p '$SRC' && mount --move $RUN/.src '$SRC'; fi") ;;
	PrivateDevices=yes)
		# A /dev with only the pseudo devices (mknod and raw I/O go
		# with the bounding set below).
		pre+=("mkdir /tmp/.dev && mount -t tmpfs -o mode=755,nosuid tmpfs /tmp/.dev
		       for n in null zero full random urandom tty; do
		         touch /tmp/.dev/\$n && mount --bind /dev/\$n /tmp/.dev/\$n; done
		       mkdir /tmp/.dev/shm /tmp/.dev/pts
		       mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp/.dev/shm
		       ln -s /proc/self/fd /tmp/.dev/fd
		       mount --move /tmp/.dev /dev") ;;
	ProtectKernelTunables=yes)
		ro+=("mount --bind /proc/sys /proc/sys"
		     "mount -o remount,bind,ro /proc/sys"
		     "mount -o remount,bind,ro /sys") ;;
	ProtectKernelModules=yes)
		pre+=("for d in /usr/lib/modules /lib/modules; do [ -d \$d ] &&
		       mount -t tmpfs -o mode=000,ro tmpfs \$d; done; true") ;;
	ProtectKernelLogs=yes)
		pre+=("touch /tmp/.none && chmod 000 /tmp/.none &&
		       mount --bind /tmp/.none /proc/kmsg") ;;
	ProtectControlGroups=yes)
		ro+=("for m in \$(findmnt -rn -o TARGET | grep '^/sys/fs/cgroup'); do
		       mount -o remount,bind,ro \$m; done") ;;
	CapabilityBoundingSet=*)
		caps=-all
		for c in $value; do
			c=${c#CAP_}; caps+=",+${c,,}"
		done
		priv+=(--bounding-set "$caps") ;;
	*) fail "test-hardening cannot emulate '$key=$value': add its emulation with the option" ;;
	esac
done < <(block "$UNIT_P")
nofile=$(sed -n 's/^LimitNOFILE=//p' "$UNIT_P")
[[ $nofile =~ ^[0-9]+$ ]] || fail "LimitNOFILE '$nofile'"
# Raising the hard limit needs CAP_SYS_RESOURCE, which a test runner may
# lack: then as much as it may.
unit_nofile=$nofile
(( $(ulimit -Hn) >= nofile )) || nofile=$(ulimit -Hn)
SETUP=$(printf '%s\n' "set -e" "mount --make-rprivate /" "${pre[@]}" "${ro[@]}")

# sandboxed [--caps SET] COMMAND...: as the unit would run it (with
# another bounding set). The execs keep the PID, so PID_NAME is the
# daemon's.
sandboxed() {
	local p=("${priv[@]}") i
	if [[ $1 == --caps ]]; then
		for i in "${!p[@]}"; do
			[[ ${p[i]} == --bounding-set ]] && p[i+1]=$2
		done
		shift 2
	fi
	exec unshare --mount -- bash -c "$SETUP"'
		exec prlimit --nofile='"$nofile:$nofile"' -- setpriv "$@"' \
		sandbox "${p[@]}" -- "$@"
}

# The sandbox is in place: what the daemon sees.
out=$(sandboxed sh -c 'grep -E "^(CapBnd|NoNewPrivs)" /proc/self/status
	touch /usr/x 2>&1; ls /dev; ulimit -n; touch '"$RUN"'/w && echo rw' 2>&1) ||
	fail "the sandbox does not start: $out"
echo "$out" | sed 's/^/  /'
[[ $out == *"NoNewPrivs:	1"* && $out == *"Read-only file system"* &&
   $out != *kmsg* && $out == *"$nofile"* && $out == *rw ]] ||
	fail "the sandbox is not what the unit asks for"
pass "sandbox as the units ask: $(block "$UNIT_P" | cut -d= -f1 | tr '\n' ' ')"

# 1. A colo-kv pair over TLS: the dirty log, checkpoints, verify, takeover.
gen_creds "$RUN/creds"
SPORT=$(free_port); PPORT=$(free_port); RPORT=$(free_port)
PSOCK=$RUN/primary.sock; SSOCK=$RUN/secondary.sock
start secondary sandboxed "$SECONDARY" --listen "127.0.0.1:$RPORT" \
	--service "127.0.0.1:$SPORT" --control "$SSOCK" --guest "$KV" \
	--tls-creds "$RUN/creds"
start primary sandboxed "$PRIMARY" --service "127.0.0.1:$PPORT" \
	--control "$PSOCK" --guest "$KV" --ram 64M \
	--secondary "127.0.0.1:$RPORT" --tls-creds "$RUN/creds"
wait_state "$PSOCK" colo 60 primary secondary
if (( nofile == unit_nofile )); then
	grep -q "at most 65536 clients" "$T/primary.log" ||
		fail "LimitNOFILE=$nofile does not give 65536 clients: $(grep 'at most' "$T/primary.log")"
else
	echo "  (LimitNOFILE $nofile, this runner's hard limit, not $unit_nofile: $(grep -o 'at most [0-9]* clients' "$T/primary.log"))"
fi
[[ $(timeout 10 redis-cli -p "$PPORT" SET k v) == OK ]] || fail "SET"
ctl "$PSOCK" checkpoint >/dev/null || fail "checkpoint"
out=$(ctl "$PSOCK" verify) || fail "verify: $out"
kill -KILL "$PID_primary"; wait "$PID_primary" 2>/dev/null || true
forget "$PID_primary"
wait_state "$SSOCK" standalone 15 secondary
[[ $(timeout 10 redis-cli -p "$SPORT" GET k) == v ]] ||
	fail "the promoted secondary lost the write"
stop secondary
pass "colo-kv pair in the sandbox: colo, checkpoint, verify, takeover"

# 2. An --exec pair around redis-server: namespaces, ptrace, personality.
REDIS=/usr/bin/redis-server
if [[ -x $REDIS ]]; then
	PROG=(--exec-port 6379 --exec "$REDIS" --port 6379 --save '' --appendonly no)
	SPORT=$(free_port); PPORT=$(free_port); RPORT=$(free_port)
	start secondary2 sandboxed "$SECONDARY" --listen "127.0.0.1:$RPORT" \
		--service "127.0.0.1:$SPORT" --control "$SSOCK" \
		--tls-creds "$RUN/creds" "${PROG[@]}"
	start primary2 sandboxed "$PRIMARY" --service "127.0.0.1:$PPORT" \
		--control "$PSOCK" --secondary "127.0.0.1:$RPORT" \
		--tls-creds "$RUN/creds" "${PROG[@]}"
	wait_state "$PSOCK" colo 60 primary2 secondary2
	[[ $(timeout 10 redis-cli -p "$PPORT" SET k v) == OK ]] || fail "SET"
	ctl "$PSOCK" checkpoint >/dev/null || fail "checkpoint (--exec)"
	out=$(ctl "$PSOCK" verify) || fail "verify (--exec): $out"
	kill -KILL "$PID_primary2"; wait "$PID_primary2" 2>/dev/null || true
	forget "$PID_primary2"
	wait_state "$SSOCK" standalone 15 secondary2
	[[ $(timeout 10 redis-cli -p "$SPORT" GET k) == v ]] ||
		fail "the promoted secondary lost the write (--exec)"
	stop secondary2
	pass "--exec pair around redis-server in the sandbox: colo, checkpoint, verify, takeover"

	# 3. The sandbox bites: the same primary without CAP_SYS_ADMIN.
	spawn nosysadmin sandboxed --caps -all,+net_admin,+net_bind_service \
		"$PRIMARY" --service "127.0.0.1:$(free_port)" \
		--control "$RUN/x.sock" --insecure "${PROG[@]}"
	for _ in $(seq 500); do alive "$PID_nosysadmin" || break; sleep 0.02; done
	alive "$PID_nosysadmin" && fail "--exec started without CAP_SYS_ADMIN"
	grep -q '^ready$' "$T/nosysadmin.log" &&
		fail "--exec ready without CAP_SYS_ADMIN"
	pass "without CAP_SYS_ADMIN, --exec does not start: $(grep -m1 error "$T/nosysadmin.log")"
else
	echo "  (no redis-server: the --exec part is not run)"
fi
