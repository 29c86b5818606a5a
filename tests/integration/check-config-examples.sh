#!/bin/bash
# SPDX-License-Identifier: MIT
# The config examples (deploy/config/) and colo.conf(5) cannot drift from
# the daemons: each example is read by its daemon (--config EXAMPLE
# --print-config exits 0); each key the daemon prints is in the example,
# a set key with the value printed, a commented one with the default
# printed; and each key has its entry in the man page, which says the
# same default.
#   check-config-examples.sh MANPAGE DAEMON EXAMPLE [DAEMON EXAMPLE]...
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }

MAN=$1
shift

# man_entry KEY: the text of KEY's entry in the man page, on one line.
man_entry() {
	awk -v k="$1" 'index($0, "*" k "* = ") == 1 { on = 1; next }
		/^[^\t]/ { on = 0 } on' "$MAN" | tr -s '\n\t' '  '
}

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
			key=${line%% = *}
			grep -Fxq -e "$line" -e "# $line" "$example" ||
				fail "$example: neither '$line' nor '# $line'"
			if grep -Fxq "# $line" "$example" &&
				[[ $(man_entry "$key") != *"Default: ${line#* = }."* ]]; then
				fail "$MAN: $key's entry does not say 'Default: ${line#* = }.'"
			fi ;;
		*) fail "$name --print-config printed '$line'" ;;
		esac
		[[ -n $(man_entry "$key") ]] || fail "$MAN: no entry '*$key* = ...'"
		n=$((n + 1))
	done <<<"$out"
	(( n > 10 )) || fail "$name --print-config printed only $n keys"
	echo "ok: $example: read by $name, $n keys, defaults as printed, all in $(basename "$MAN")"
done
