#!/bin/bash
# SPDX-License-Identifier: MIT
# build.sh DIR [MESON-OPTIONS...]: configure (once) and build into DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1; shift
if [[ ! -f $dir/build.ninja ]]; then
	meson setup "$dir" "$@" >/dev/null
fi
ninja -C "$dir" >/dev/null
