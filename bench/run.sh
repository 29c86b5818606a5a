#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the benchmarks if needed and runs them all, printing their tables.
#   bench/run.sh [build-dir]      (default: build-bench beside the source)
set -eu
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build-bench}
names="bench-lock bench-dirtylog bench-clear-bmap bench-hints"

if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" "$src" --buildtype=release >/dev/null
fi
targets=""
for n in $names; do
	targets="$targets bench/$n"
done
# shellcheck disable=SC2086
ninja -C "$build" $targets >/dev/null

echo "colo benchmarks: $(uname -r), $(nproc) CPUs, $(date -u +%F)"
for n in $names; do
	"$build/bench/$n" || echo "$n: exit status $?"
done
