#!/bin/bash
# SPDX-License-Identifier: MIT
# `meson install` into a scratch --destdir gives what an operator and a
# guest's author need, and it works from there: every file of the layout
# (README.md, "Installing") in its place; a guest built outside the tree
# against the installed libcolo-guest with pkg-config alone (a missing or
# broken header or colo-guest.pc fails the build); that guest, and the
# installed colo-kv, serving a client under the installed colo-primary;
# the installed cert command, man pages and bash completion working.
source "$COLO_SRC/tests/integration/lib.sh"

# The layout this build installs to (its prefix and directories).
read -r prefix bindir libexecdir libdir includedir datadir mandir < <(
	meson introspect --buildoptions "$BUILD" | python3 -c '
import json, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print(o["prefix"], *(o[k] if o[k].startswith("/") else o["prefix"] + "/" + o[k]
        for k in ("bindir", "libexecdir", "libdir", "includedir",
                  "datadir", "mandir")))')
[[ -n $mandir ]] || fail "meson introspect gave no install directories"

D=$T/root
meson install -C "$BUILD" --destdir "$D" --no-rebuild --quiet \
	>"$T/install.log" 2>&1 || fail "meson install (see install.log)"
pass "meson install --destdir"

for f in "$bindir"/{colo-primary,colo-secondary,colo-ctl,colo-gen-certs} \
	 "$libexecdir/colo/colo-kv" "$prefix/lib/ocf/resource.d/colo/colo"; do
	[[ -x $D$f ]] || fail "$f not installed, or not executable"
done
for f in "$libdir/libcolo-guest.a" "$libdir/pkgconfig/colo-guest.pc" \
	 "$libdir/colo/colo-shim.so" \
	 "$includedir"/colo/{colo-guest.h,colo-guest-local.h} \
	 "$mandir"/man8/{colo-primary.8,colo-secondary.8,colo-ctl.8} \
	 "$datadir"/bash-completion/completions/colo-{ctl,primary,secondary} \
	 "$mandir/man5/colo.conf.5" \
	 "$datadir"/colo/examples/{primary,secondary}.conf \
	 "$prefix"/lib/systemd/system/colo-{primary,secondary}.service; do
	[[ -f $D$f ]] || fail "$f not installed"
done
# The drill kills daemons: an operator's install has it only with -Dlab.
lab=$(meson introspect --buildoptions "$BUILD" | python3 -c '
import json, sys
print(*(x["value"] for x in json.load(sys.stdin) if x["name"] == "lab"))')
[[ $lab == True || ! -e $D$bindir/colo-drill ]] ||
	fail "colo-drill installed without -Dlab=true"
pass "the layout: programs, colo-kv in libexec, shim, library, headers, .pc, man pages, completion, config examples, units, OCF agent"

# A guest built as a third party would: its source copied out of the
# tree, and the compiler told nothing but what pkg-config says.
export PKG_CONFIG_PATH=$D$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
export PKG_CONFIG_LIBDIR=$PKG_CONFIG_PATH   # no system .pc can stand in
flags=$(pkg-config --cflags --libs colo-guest) || fail "pkg-config colo-guest"
[[ $flags == *"-I$D$includedir/colo"* && $flags == *"-lcolo-guest"* ]] ||
	fail "pkg-config gives '$flags'"
mkdir "$T/src"
cp "$SRC/tests/install/tiny-guest/tiny-guest.c" "$T/src/"
# shellcheck disable=SC2086 # the flags are words
(cd "$T/src" && cc -std=c11 -Wall -Wextra -Werror -o tiny-guest \
	tiny-guest.c $flags) >"$T/cc.log" 2>&1 || fail "tiny-guest build: $(cat "$T/cc.log")"
# Each public header stands alone: it includes nothing that is not installed.
cflags=$(pkg-config --cflags colo-guest)
for h in colo-guest.h colo-guest-local.h; do
	# shellcheck disable=SC2086 # the flags are words
	echo "#include <$h>" | cc -std=c11 -Wall -Wextra -Werror -fsyntax-only \
		-x c - $cflags >"$T/cc.log" 2>&1 ||
		fail "$h alone: $(cat "$T/cc.log")"
done
pass "tiny-guest built out of tree with pkg-config ($flags)"

# The installed cert command.
"$D$bindir/colo-gen-certs" "$T/tls" >"$T/certs.log" 2>&1 || fail "colo-gen-certs"
for f in ca-cert.pem server-cert.pem server-key.pem client-cert.pem client-key.pem; do
	[[ -s $T/tls/$f ]] || fail "colo-gen-certs made no $f"
done
pass "colo-gen-certs"

# The man pages are roff.
for p in colo-primary colo-secondary colo-ctl; do
	head -n 20 "$D$mandir/man8/$p.8" | grep -q "^\.TH \"$p\" \"8\"" ||
		fail "$p.8 is not a man page"
done
pass "man pages"

# The completion loads in bash, and completes from the installed colo-ctl.
comp=$D$datadir/bash-completion/completions/colo-ctl
got=$(PATH=$D$bindir:$PATH bash -c '
	source "$1" || exit 1
	complete -p colo-ctl || exit 1
	COMP_WORDS=(colo-ctl st); COMP_CWORD=1; _colo_ctl
	echo "st: ${COMPREPLY[*]}"
	COMP_WORDS=(colo-ctl status --); COMP_CWORD=2; _colo_ctl
	echo "status --: ${COMPREPLY[*]}"
	COMP_WORDS=(colo-ctl -s "$2/tl"); COMP_CWORD=2; _colo_ctl
	echo "-s: ${COMPREPLY[*]}"' bash "$comp" "$T" 2>&1) ||
	fail "the completion: $got"
[[ $got == *"complete -F _colo_ctl colo-ctl"*"st: status"*"status --: --json"*"-s: $T/tls" ]] ||
	fail "the completion gives: $got"
pass "bash completion"

# The daemons' completion: flags from --help, --transport's two words.
comp=$D$datadir/bash-completion/completions/colo-primary
got=$(PATH=$D$bindir:$PATH bash -c '
	source "$1" || exit 1
	COMP_WORDS=(colo-primary --trans); COMP_CWORD=1; _colo_daemon
	echo "--trans: ${COMPREPLY[*]}"
	COMP_WORDS=(colo-secondary --transport ""); COMP_CWORD=2; _colo_daemon
	echo "--transport: ${COMPREPLY[*]}"' bash "$comp" 2>&1) ||
	fail "the daemons' completion: $got"
[[ $got == *"--trans: --transport"*"--transport: tls rdma" ]] ||
	fail "the daemons' completion gives: $got"
pass "bash completion of the daemons"

# Both guests serve a client under the installed colo-primary.
require_dirtylog
port=$(free_port)
start tiny "$D$bindir/colo-primary" --service "127.0.0.1:$port" \
	--control "$T/tiny.sock" --guest "$T/src/tiny-guest" --insecure
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "connect to $port"
printf 'hello colo\n' >&3
read -r -t 10 reply <&3 || fail "no reply from tiny-guest"
exec 3>&-
[[ $reply == "ECHO 1 hello colo" ]] || fail "tiny-guest answered '$reply'"
state=$("$D$bindir/colo-ctl" -s "$T/tiny.sock" status --json) ||
	fail "colo-ctl status"
[[ $state == *'"standalone"'* ]] || fail "status: $state"
stop tiny
pass "tiny-guest answers under the installed colo-primary (standalone)"

port=$(free_port)
start kv "$D$bindir/colo-primary" --service "127.0.0.1:$port" \
	--control "$T/kv.sock" --guest "$D$libexecdir/colo/colo-kv" --insecure
ping_ok "$port" || fail "the installed colo-kv does not answer PING"
stop kv
pass "the installed colo-kv answers PING"
