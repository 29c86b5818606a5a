#!/bin/bash
# SPDX-License-Identifier: MIT
# The config examples (deploy/config/) cannot drift from the daemons:
# each is read by its daemon (--config EXAMPLE --print-config exits 0),
# and each key the daemon prints is in the example, a set key with the
# value printed and a commented one with the default printed.
#   check-config-examples.sh DAEMON EXAMPLE [DAEMON EXAMPLE]...
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }

while (( $# )); do
	daemon=$1 example=$2
	shift 2
	name=$(basename "$daemon")
	out=$("$daemon" --config "$example" --print-config 2>&1) ||
		fail "$name --config $example --print-config: $out"
	n=0
	while IFS= read -r line; do
		case $line in
		"# $name: from "*|"["*"]") continue ;;
		"# "*" =")    # unset, no default: any example value will do
			key=${line#"# "}; key=${key% =}
			grep -Eq "^# $key = " "$example" ||
				fail "$example: no '# $key = ...' example line" ;;
		*" = "*)
			# Set in the example, or its default shown commented.
			grep -Fxq -e "$line" -e "# $line" "$example" ||
				fail "$example: neither '$line' nor '# $line'" ;;
		*) fail "$name --print-config printed '$line'" ;;
		esac
		n=$((n + 1))
	done <<<"$out"
	(( n > 10 )) || fail "$name --print-config printed only $n keys"
	echo "ok: $example: read by $name, $n keys, defaults as printed"
done
