#!/bin/sh
# SPDX-License-Identifier: MIT
# colo-drill without a lab: its usage, its errors, and the checks it makes
# on lab.env before it touches anything. The drills themselves need
# network namespaces: tests/integration/test-drills.sh and test-fence.sh.
# usage: test-colo-drill.sh COLO-DRILL
set -u
drill=$1
dir=$(mktemp -d) || exit 1
trap 'rm -rf "$dir"' EXIT
fails=0

# expect CODE FIRST-LINE (of stdout+stderr) -- ARGS...
expect() {
	code=$1 want=$2
	shift 3
	got=$(COLO_LAB_DIR= "$drill" "$@" 2>&1)
	rc=$?
	got=$(printf '%s\n' "$got" | head -n 1)
	if [ "$rc" != "$code" ] || [ "$got" != "$want" ]; then
		echo "FAIL: colo-drill $*: exit $rc want $code; got '$got' want '$want'"
		fails=$((fails + 1))
	fi
}

usage='usage: colo-drill failover|secondary-loss|partition [OPTIONS]'
expect 0 "$usage" -- --help
expect 2 'colo-drill: which drill? failover, secondary-loss or partition' --
expect 2 "colo-drill: unknown kind 'frobnicate'" -- frobnicate
expect 2 "colo-drill: --at any|checkpoint|held|sync, not 'noon'" -- failover --at noon
expect 2 "colo-drill: --duration-ms: 200..3600000, not '100'" -- failover --duration-ms 100
expect 2 "colo-drill: bad seed 'x'" -- partition --seed x
expect 2 'colo-drill: --lab needs a value' -- failover --lab
expect 2 "colo-drill: unknown option '--fast'" -- secondary-loss --fast 1
# usage errors end in the usage, on stderr
if [ "$("$drill" 2>&1 >/dev/null | sed -n 2p)" != "$usage" ]; then
	echo "FAIL: colo-drill: a usage error is not followed by the usage"
	fails=$((fails + 1))
fi

expect 1 "colo-drill: no lab at $dir/none (No such file or directory): run deploy/lab/colo-lab up" -- failover --lab "$dir/none"
mkdir "$dir/lab"
printf 'PRIMARY_HOST=A\nSECONDARY_HOST=A\n' >"$dir/lab/lab.env"
expect 1 "colo-drill: $dir/lab/lab.env names no primary and secondary" -- failover --lab "$dir/lab"
# The primary's PID is this shell (alive), the secondary's is nobody.
printf 'PRIMARY_HOST=A\nSECONDARY_HOST=B\nHOST_A_PID=%s\nHOST_B_PID=0\n' $$ >"$dir/lab/lab.env"
expect 1 "colo-drill: the lab's secondary is not running" -- failover --lab "$dir/lab"
COLO_LAB_DIR=$dir/lab "$drill" failover >"$dir/out" 2>&1
if [ "$(cat "$dir/out")" != "colo-drill: the lab's secondary is not running" ]; then
	echo "FAIL: colo-drill does not read \$COLO_LAB_DIR: $(cat "$dir/out")"
	fails=$((fails + 1))
fi

[ $fails -eq 0 ] && echo "ok" && exit 0
exit 1
