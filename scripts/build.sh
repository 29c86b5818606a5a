#!/bin/bash
# SPDX-License-Identifier: MIT
# build.sh DIR [MESON-OPTIONS...]: configure (once) and build into DIR.
# Quiet when it works; when it does not, what failed is printed (ninja
# writes its errors to stdout, which a quiet build would throw away: a
# CI run once ended here with nothing to say why).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1; shift
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run WHAT COMMAND...: the command's output kept, and shown if it fails.
run() {
	local what=$1; shift
	if ! "$@" >"$log" 2>&1; then
		# ninja: from its first FAILED step on; anything else whole.
		if grep -q '^FAILED:' "$log"; then
			sed -n '/^FAILED:/,$p' "$log" >&2
		else
			tail -n 60 "$log" >&2
		fi
		echo "build.sh: $what failed" >&2
		exit 1
	fi
}

if [[ ! -f $dir/build.ninja ]]; then
	run "meson setup $dir" meson setup "$dir" "$@"
fi
run "building $dir" ninja -C "$dir"
