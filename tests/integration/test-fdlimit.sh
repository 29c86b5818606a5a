#!/bin/bash
# SPDX-License-Identifier: MIT
# A flood of connections past the fd limit is survived (I9). At
# `ulimit -n 64`, 200 held connections: with the default --max-clients
# (from the fd limit) the extra clients are closed at once; with a
# --max-clients the fds cannot carry, accept fails with EMFILE and pauses.
# Either way the primary's CPU stays low, its log grows by kilobytes, and
# new clients are served once the flood ends; with the default, colo-ctl
# status answers within a second during the flood.
source "$(dirname "$0")/lib.sh"
require_dirtylog

# flood.py PORT N SECS: hold N connections for SECS seconds.
cat >"$T/flood.py" <<'PY'
import socket, sys, time
port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks = []
for _ in range(n):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))
    socks.append(s)
time.sleep(secs)
PY

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# flood NAME [flags...]
flood() {
	local name=$1 port sock pid c0 c1 log0 log1 t0 t1 hz
	shift
	port=$(free_port); sock=$T/$name.sock
	start "$name" prlimit --nofile=64:64 "$PRIMARY" \
		--service "127.0.0.1:$port" --control "$sock" --guest "$KV" \
		--ram 16M "$@"
	pid=$(eval echo "\$PID_$name")
	log0=$(stat -c %s "$T/$name.log")
	python3 "$T/flood.py" "$port" 200 4 &
	local fpid=$!
	sleep 1
	c0=$(cpu_ticks "$pid")
	sleep 2
	c1=$(cpu_ticks "$pid")
	hz=$(getconf CLK_TCK)
	echo "$name: CPU over 2 s of flood: $(( (c1 - c0) * 1000 / hz )) ms"
	(( (c1 - c0) * 1000 / hz < 500 )) || fail "$name: CPU $(( c1 - c0 )) ticks in 2 s"
	pass "$name: CPU stays low during the flood"
	if [[ $name == default ]]; then
		t0=$(date +%s%N)
		ctl "$sock" status >/dev/null || fail "$name: status unanswered"
		t1=$(date +%s%N)
		echo "$name: status answered in $(( (t1 - t0) / 1000000 )) ms"
		(( t1 - t0 < 1000000000 )) || fail "$name: status took over 1 s"
		pass "$name: colo-ctl status answers during the flood"
	fi
	wait "$fpid"
	log1=$(stat -c %s "$T/$name.log")
	echo "$name: log grew by $(( log1 - log0 )) bytes"
	(( log1 - log0 < 16384 )) || fail "$name: log grew by $(( log1 - log0 )) bytes"
	pass "$name: log grew by kilobytes"
	for _ in $(seq 50); do
		ping_ok "$port" 2>/dev/null && break
		sleep 0.1
	done
	ping_ok "$port" || fail "$name: new client not served after the flood"
	pass "$name: new clients served after the flood"
}

flood default
flood overcommit --max-clients 1000
