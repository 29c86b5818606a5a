#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The units as `meson install` lays them out: under prefix/lib/systemd/system,
# ExecStart naming the installed daemons, and clean for Debian 12's
# `systemd-analyze verify` (systemd 252). verify needs ExecStart's binary to
# exist and has no --root that works here (it then misses sysinit.target),
# so it reads copies whose ExecStart points into the destdir. It only warns
# (exit 0) about a bad value, so any output counts as a failure; the check
# is shown to fail on two broken copies first.
source "$(dirname "$0")/../integration/lib.sh"

command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 77; }
DEST=$T/root
meson install -C "$BUILD" --destdir "$DEST" --no-rebuild --quiet \
	--tags runtime,systemd >"$T/install.log" 2>&1 ||
	fail "meson install: $(tail -n 5 "$T/install.log")"
PREFIX=$(meson introspect "$BUILD" --buildoptions |
	python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
UNITS=$DEST$PREFIX/lib/systemd/system
mkdir -p "$T/units" "$T/broken"

# verify_ok UNIT...: exit 0 and not a word of warning.
verify_ok() {
	local out rc=0
	out=$(systemd-analyze verify --man=no "$@" 2>&1) || rc=$?
	[[ $rc == 0 && -z $out ]] || { echo "exit $rc: $out"; return 1; }
}

for role in primary secondary; do
	unit=$UNITS/colo-$role.service
	[[ -f $unit ]] || fail "colo-$role.service not installed in $UNITS"
	exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
	[[ $exec_start == "$PREFIX/bin/colo-$role" ]] ||
		fail "colo-$role.service runs '$exec_start', not $PREFIX/bin/colo-$role"
	[[ -x $DEST$exec_start ]] || fail "$exec_start is not installed"
	grep -qx "ExecStart=$exec_start --config /etc/colo/$role.conf" "$unit" ||
		fail "colo-$role.service: $(grep '^ExecStart=' "$unit")"
	sed "s|^ExecStart=/|ExecStart=$DEST/|" "$unit" >"$T/units/colo-$role.service"
done
pass "both units installed in $PREFIX/lib/systemd/system, ExecStart in $PREFIX/bin"

# The check can fail: a value systemd cannot parse, a service with nothing
# to start. Then the broken copies go.
sed 's/^KillMode=mixed$/KillMode=mixd/' "$T/units/colo-primary.service" \
	>"$T/broken/colo-primary.service"
verify_ok "$T/broken/colo-primary.service" >/dev/null &&
	fail "verify passed a unit with KillMode=mixd"
sed '/^ExecStart=/d' "$T/units/colo-secondary.service" \
	>"$T/broken/colo-secondary.service"
verify_ok "$T/broken/colo-secondary.service" >/dev/null &&
	fail "verify passed a unit without ExecStart"
rm -r "$T/broken"
pass "systemd-analyze verify fails on broken copies"

why=$(verify_ok "$T/units/colo-primary.service" "$T/units/colo-secondary.service") ||
	fail "systemd-analyze verify: $why"
pass "systemd-analyze verify: both units clean"
