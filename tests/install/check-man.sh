#!/bin/bash
# SPDX-License-Identifier: MIT
# A man page (doc/*.scd) checked against the program it describes, so that
# the two cannot drift: the program's own --help (for the daemons: their
# fixed flags and the tunables table, tunables_print_help) is the truth.
#
#   check-man.sh daemon PROGRAM PAGE   colo-primary, colo-secondary
#   check-man.sh ctl PROGRAM PAGE      colo-ctl
#
# The pages' convention, which this check relies on: an entry starts a
# line with the bold name, alone or followed by its arguments (*--ram* _SIZE_,
# *status* [*--json*], *-s* _PATH_);
# a bold --flag anywhere is the page's own program's flag (another
# program's flag is written plain); every --flag in an example block
# (```) is the program's own.
#
# Fails, naming each miss, when a flag or command of the program has no
# entry, when the page names a flag or command the program does not have,
# or when a tunable's entry does not state the default --help prints.
set -euo pipefail

kind=$1 prog=$2 page=$3
help=$("$prog" --help 2>/dev/null) || true   # stdout: a sanitizer's report is not help
if [[ $kind == ctl ]]; then help=$("$prog" help); fi
[[ -n $help ]] || { echo "FAIL: $prog printed no help"; exit 1; }
name=$(head -n 1 "$page" | cut -d'(' -f1)   # colo-ctl(8): colo-ctl
errors=0
miss() { echo "FAIL: $page: $*"; errors=$((errors + 1)); }

# Entries: a line of a bold name alone or followed by its arguments.
entry_re='^[*][-a-z0-9]+[*]( [_[].*)?$'
entries=$(grep -E "$entry_re" "$page" | cut -d'*' -f2 | sort -u)
# Flags the page names as its program's: bold anywhere, or in an example.
named=$( { grep -oE '\*--[a-z0-9-]+\*' "$page" | tr -d '*'
	   awk '/^```/ { ex = !ex; next } ex' "$page" |
		grep -oE -- '(^|[[:space:]])--[a-z0-9-]+' | tr -d ' \t'
	 } | sort -u)
# The program's flags: every --flag its help mentions (a daemon's also
# --help, which its usage does not name).
flags=$( { grep -oE -- '--[a-z0-9-]+' <<<"$help"
	   if [[ $kind == daemon ]]; then echo --help; fi; } | sort -u)

has() { grep -qxF -- "$1" <<<"$2"; }

# A daemon's flag needs an entry of its own; a colo-ctl command's option
# is named in its command's entry.
for f in $flags; do
	if [[ $kind == daemon ]]; then
		has "$f" "$entries" || miss "$f (in $prog's help) has no entry"
	else
		has "$f" "$named" || miss "$f (in $prog's help) is not named"
	fi
done
for f in $named; do
	has "$f" "$flags" || miss "$f is not a flag of $prog"
done

if [[ $kind == ctl ]]; then
	# Commands and short options: the help's two tables.
	cmds=$(awk '/^commands:/ { c = 1; next } /^$/ { c = 0 }
		    c && /^  [a-z]/ { print $1 }' <<<"$help" | sort -u)
	opts=$(awk '/^options:/ { o = 1; next } o && /^  -/ { print $1 }' \
		<<<"$help" | sort -u)
	[[ -n $cmds && -n $opts ]] || miss "no commands or options in $prog help"
	for c in $cmds $opts; do
		has "$c" "$entries" || miss "'$c' (in $prog help) has no entry"
	done
	for e in $entries; do
		[[ $e == "$name" || $e == --* ]] && continue
		has "$e" "$cmds"$'\n'"$opts" ||
			miss "entry '$e' is not a command or option of $prog"
	done
else
	# Each tunable's entry states its default as --help does: the
	# paragraph from its entry line to the next blank line.
	while read -r flag default; do
		para=$(awk -v re="$entry_re" -v f="*$flag*" '
			index($0, f) == 1 && $0 ~ re { p = 1 }
			p && /^$/ { exit } p' "$page" | tr '\n\t' '  ')
		grep -qiF -- "default $default" <<<"$para" ||
			miss "$flag: its entry does not say 'default $default'"
	done < <(awk '/^  --/ { flag = $1; next }
		      flag && /default / { sub(/.*default /, ""); sub(/,.*/, "")
				   print flag, $0; flag = "" }' <<<"$help")
	for e in $entries; do
		[[ $e == "$name" ]] && continue
		[[ $e == --* ]] || miss "entry '$e' is not a flag"
	done
fi

((errors == 0)) || exit 1
echo "ok: $page matches $prog ($(wc -w <<<"$flags") flags)"
