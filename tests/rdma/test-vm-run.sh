#!/bin/bash
# SPDX-License-Identifier: MIT
# test-vm-run.sh: vm-run.sh keeps the contract the rdma tests rely on (run
# on the host, by the meson test rdma-vm-run; two boots):
#   1. COMMAND runs in the caller's directory with the caller's exported
#      environment (a value with newlines and quotes intact), as root, with
#      COLO_RDMA_ADDR set; its stdout and stderr arrive apart; its exit
#      status comes back (42); COLO_VM_OUT is writable and the rest of the
#      host is not; a directory under /tmp is seen at its path;
#   2. a COMMAND past --timeout is stopped: exit 1 and a message, and no
#      QEMU of this run is left.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d /tmp/colo-vm-run-test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# --- 1. directory, environment, streams, status, COLO_VM_OUT -------------
mkdir -p "$scratch/cwd" "$scratch/out"
echo "from the host" >"$scratch/cwd/marker"
cat >"$scratch/cwd/inner.sh" <<'EOF'
#!/bin/bash
cat marker
printf 'value=%s|\n' "$COLO_TEST_VALUE"
echo "uid=$(id -u) addr=$COLO_RDMA_ADDR"
echo "to stderr" >&2
echo "written in the VM" >"$COLO_VM_OUT/result"
touch /usr/colo-vm-run-test 2>/dev/null && echo "the host's /usr is writable"
exit 42
EOF
chmod +x "$scratch/cwd/inner.sh"
value=$'two\nlines with "quotes", \'single\' and $dollar'
(cd "$scratch/cwd" && COLO_TEST_VALUE=$value COLO_VM_OUT=$scratch/out \
	bash "$here/vm-run.sh" --timeout 240 -- ./inner.sh \
	>"$scratch/stdout" 2>"$scratch/stderr")
status=$?
[[ $status == 77 ]] && { cat "$scratch/stdout"; exit 77; }
[[ $status == 42 ]] || fail "exit status $status, not 42; stderr: $(cat "$scratch/stderr")"
expected="from the host
value=$value|
uid=0 addr="
got=$(cat "$scratch/stdout")
addr=${got##*addr=}
[[ ${got%"$addr"} == "$expected" && $addr =~ ^[0-9]+(\.[0-9]+){3}$ ]] ||
	fail "stdout is not what the command wrote: $got"
[[ $(cat "$scratch/stderr") == "to stderr" ]] ||
	fail "stderr is not what the command wrote: $(cat "$scratch/stderr")"
[[ $(cat "$scratch/out/result" 2>/dev/null) == "written in the VM" ]] ||
	fail "nothing came back through COLO_VM_OUT"
[[ -e /usr/colo-vm-run-test ]] && { rm -f /usr/colo-vm-run-test; fail "the VM wrote to the host's /usr"; }
echo "ok: directory, environment, stdout, stderr, exit status 42, COLO_VM_OUT"

# --- 2. --timeout -------------------------------------------------------
start=$SECONDS
bash "$here/vm-run.sh" --timeout 25 -- sleep 600 >"$scratch/stdout" 2>"$scratch/stderr" &
run=$!
sleep 5
qemu=$(pgrep -P "$run" -f qemu-system-x86_64)
wait "$run"
status=$?
took=$(( SECONDS - start ))
[[ $status == 1 ]] || fail "a command past --timeout: exit $status, not 1: $(cat "$scratch/stderr")"
grep -q 'ran past --timeout 25 s' "$scratch/stderr" ||
	fail "no timeout message: $(cat "$scratch/stderr")"
(( took < 60 )) || fail "the timeout took $took s"
[[ $qemu ]] && kill -0 "$qemu" 2>/dev/null && fail "QEMU ($qemu) outlived vm-run.sh"
echo "ok: --timeout 25 stopped the VM after $took s with exit 1"
