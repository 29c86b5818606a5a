#!/bin/bash
# SPDX-License-Identifier: MIT
#
# cluster-lab.sh: a two-node Pacemaker + Corosync cluster in the lab's
# network namespaces (deploy/lab/colo-lab), managing ocf:colo:colo as a
# promotable clone; then the promoted node's daemon is killed, and the
# other must be promoted with every acknowledged INCR. As root; not a meson
# test (it needs netns and runs a real cluster stack): see README.md here.
#
# Each node is a network namespace of the lab plus its own mount and UTS
# namespaces (unshare -m -u), where tmpfs or per-node directories cover
# what corosync and pacemaker keep per host: /run, /dev/shm (libqb's ring
# buffers; its sockets are abstract, so per network namespace already),
# /etc/corosync, /var/lib/{corosync,pacemaker}, /var/log/{corosync,
# pacemaker}, and /usr/lib/ocf/resource.d (holding only colo/colo).
#
# usage: cluster-lab.sh up | drill | down       (COLO_BUILD: build dir)
set -euo pipefail

SRC=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
BUILD=${COLO_BUILD:-$SRC/build}
W=${CLUSTER_LAB_DIR:-/tmp/colo-cluster-lab}
export COLO_LAB_DIR=$W/lab COLO_LAB_NAME=pcmk COLO_LAB_NET=${COLO_LAB_NET:-7}
LAB=$SRC/deploy/lab/colo-lab
NODES=(alpha beta)
declare -A NS=([alpha]=pcmk-a [beta]=pcmk-b) HOST=([alpha]=A [beta]=B)

die() { echo "cluster-lab: $*" >&2; exit 1; }

labenv() { grep "^$1=" "$COLO_LAB_DIR/lab.env" | cut -d= -f2-; }

# on NODE CMD...: runs CMD in that node's namespaces (those of its pacemakerd).
on() {
	local pid
	pid=$(cat "$W/$1/pacemakerd.pid")
	nsenter -t "$pid" -n -m -u -- "${@:2}"
}

corosync_conf() {
	cat <<EOF
totem {
	version: 2
	cluster_name: colo-lab
	crypto_cipher: none
	crypto_hash: none
	token: 3000
}
logging {
	to_logfile: yes
	logfile: /var/log/corosync/corosync.log
	to_syslog: no
	to_stderr: no
	timestamp: on
}
quorum {
	provider: corosync_votequorum
	two_node: 1
}
nodelist {
	node {
		name: alpha
		nodeid: 1
		ring0_addr: $(labenv CLIENT_ADDR_A)
	}
	node {
		name: beta
		nodeid: 2
		ring0_addr: $(labenv CLIENT_ADDR_B)
	}
}
EOF
}

# The node's own root for what corosync and pacemaker keep per host.
node_dirs() {
	local r=$W/$1
	mkdir -p "$r"/{etc-corosync,lib-corosync,lib-pacemaker,log-corosync,log-pacemaker,rd/colo}
	cp -a /var/lib/pacemaker/. "$r/lib-pacemaker/"
	rm -f "$r"/lib-pacemaker/cib/*
	chown hacluster:haclient "$r/log-pacemaker"
	corosync_conf >"$r/etc-corosync/corosync.conf"
	cp "$SRC/deploy/ocf/colo" "$r/rd/colo/colo"
	chmod 755 "$r/rd/colo/colo"
}

node_up() {
	local n=$1 r=$W/$1
	node_dirs "$n"
	# The shell becomes pacemakerd (exec), so its PID names the namespaces.
	ip netns exec "${NS[$n]}" unshare -m -u --propagation private bash -c '
		set -e
		r=$1
		hostname "$2"
		mount -t tmpfs tmpfs /run
		mount -t tmpfs tmpfs /dev/shm
		mount --bind "$r/etc-corosync" /etc/corosync
		mount --bind "$r/lib-corosync" /var/lib/corosync
		mount --bind "$r/lib-pacemaker" /var/lib/pacemaker
		mount --bind "$r/log-corosync" /var/log/corosync
		mount --bind "$r/log-pacemaker" /var/log/pacemaker
		mount --bind "$r/rd" /usr/lib/ocf/resource.d
		corosync -f >"$r/corosync.out" 2>&1 &
		echo $! >"$r/corosync.pid"
		sleep 1
		echo $$ >"$r/pacemakerd.pid"
		exec pacemakerd >"$r/pacemakerd.out" 2>&1
	' _ "$r" "$n" &
	for _ in $(seq 50); do
		[[ -s $r/pacemakerd.pid ]] && return 0
		sleep 0.1
	done
	die "$n: pacemakerd did not start ($(cat "$r"/*.out 2>/dev/null))"
}

resource_xml() {
	local bin=$W/bin
	cat <<EOF
<clone id="colo-clone">
  <meta_attributes id="colo-clone-meta">
    <nvpair id="colo-clone-promotable" name="promotable" value="true"/>
    <nvpair id="colo-clone-promoted-max" name="promoted-max" value="1"/>
    <nvpair id="colo-clone-clone-max" name="clone-max" value="2"/>
    <nvpair id="colo-clone-node-max" name="clone-node-max" value="1"/>
    <nvpair id="colo-clone-notify" name="notify" value="true"/>
  </meta_attributes>
  <primitive id="colo" class="ocf" provider="colo" type="colo">
    <instance_attributes id="colo-params">
      <nvpair id="colo-binaries" name="binaries" value="$bin"/>
      <nvpair id="colo-guest" name="guest" value="$BUILD/guest/colo-kv"/>
      <nvpair id="colo-ram" name="ram" value="64M"/>
      <nvpair id="colo-service" name="service" value="0.0.0.0:6379"/>
      <nvpair id="colo-listen" name="listen" value="0.0.0.0:7000"/>
      <nvpair id="colo-peers" name="peers" value="alpha=$(labenv REPL_ADDR_A):7000 beta=$(labenv REPL_ADDR_B):7000"/>
      <nvpair id="colo-control" name="control" value="/run/colo/colo.sock"/>
      <nvpair id="colo-insecure" name="insecure" value="true"/>
      <nvpair id="colo-log" name="log_file" value="/var/log/pacemaker/colo.log"/>
    </instance_attributes>
    <operations>
      <op id="colo-monitor-promoted" name="monitor" interval="2s" role="Promoted" timeout="20s"/>
      <op id="colo-monitor-unpromoted" name="monitor" interval="3s" role="Unpromoted" timeout="20s"/>
      <op id="colo-start" name="start" interval="0s" timeout="60s"/>
      <op id="colo-stop" name="stop" interval="0s" timeout="60s"/>
      <op id="colo-promote" name="promote" interval="0s" timeout="60s"/>
      <op id="colo-demote" name="demote" interval="0s" timeout="60s"/>
    </operations>
  </primitive>
</clone>
EOF
}

cmd_up() {
	[[ $(id -u) == 0 ]] || die "needs root"
	pgrep -f 'ci/run' >/dev/null && die "a CI run is going: no netns work now"
	mkdir -p "$W/bin"
	ln -sf "$BUILD/primary/colo-primary" "$BUILD/secondary/colo-secondary" \
		"$BUILD/ctl/colo-ctl" "$W/bin/"
	# The lab's hosts and links; its own daemons are stopped at once.
	"$LAB" up --insecure --build "$BUILD" --ram 16M
	"$LAB" stop A
	"$LAB" stop B
	node_up alpha
	node_up beta
	for _ in $(seq 60); do
		on alpha crm_mon -1 2>/dev/null | grep -q '2 nodes configured' &&
			on alpha crm_mon -1 | grep -q 'Online: \[ alpha beta \]' && break
		sleep 1
	done
	on alpha crm_mon -1 || die "cluster not up"
	on alpha crm_attribute -t crm_config -n stonith-enabled -v false
	on alpha cibadmin -C -o resources --xml-text "$(resource_xml)"
}

# The promoted node, from the cluster's view (crm_mon's layout changes
# while a transition runs; crm_resource --locate's does not).
promoted() {
	on alpha crm_resource --locate -r colo-clone 2>/dev/null |
		sed -n 's/.* running on: \([a-z]*\) Promoted$/\1/p'
}

# NODE's daemon serves (its own word, not the cluster's).
serving() {
	[[ $(on "$1" "$W/bin/colo-ctl" -s /run/colo/colo.sock status --json \
		2>/dev/null | jq -r .role) == primary ]]
}

addr_of() { labenv "CLIENT_ADDR_${HOST[$1]}"; }

cmd_drill() {
	local p other pid acked=0 v
	for _ in $(seq 90); do
		p=$(promoted); [[ -n $p ]] && break; sleep 1
	done
	[[ -n $p ]] || die "nothing promoted: $(on alpha crm_mon -1)"
	other=alpha; [[ $p == alpha ]] && other=beta
	for _ in $(seq 90); do
		[[ $(on "$other" "$W/bin/colo-ctl" -s /run/colo/colo.sock status --json 2>/dev/null | jq -r .state) == colo ]] && break
		sleep 1
	done
	echo "promoted: $p; $other in $(on "$other" "$W/bin/colo-ctl" -s /run/colo/colo.sock status --json | jq -r .state) state"
	for _ in $(seq 200); do
		v=$(timeout 5 redis-cli -h "$(addr_of "$p")" -p 6379 INCR n) || break
		acked=$v
	done
	pid=$(on "$p" cat /run/colo/colo.sock.pid)
	echo "$acked INCRs acknowledged by $p; kill -9 of its daemon (pid $pid)"
	on "$p" kill -KILL "$pid"
	for _ in $(seq 120); do
		[[ $(promoted) == "$other" ]] && serving "$other" && break
		sleep 1
	done
	on alpha crm_mon -1
	[[ $(promoted) == "$other" ]] && serving "$other" ||
		die "$other not promoted"
	v=$(timeout 5 redis-cli -h "$(addr_of "$other")" -p 6379 GET n)
	echo "after the kill: $other promoted, n=$v, $acked acknowledged"
	[[ $v == "$acked" ]] || die "acknowledged writes lost"
}

cmd_down() {
	local n pid
	for n in "${NODES[@]}"; do
		[[ -f $W/$n/pacemakerd.pid ]] || continue
		pid=$(cat "$W/$n/pacemakerd.pid")
		# The colo daemon first (not a child of pacemaker), then the stack.
		on "$n" sh -c 'kill $(cat /run/colo/colo.sock.pid) 2>/dev/null' || true
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$pid" 2>/dev/null || true
		pid=$(cat "$W/$n/corosync.pid" 2>/dev/null) || continue
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	"$LAB" down || true
	rm -rf "$W"
}

case ${1:-} in
up) cmd_up ;;
drill) cmd_drill ;;
down) cmd_down ;;
*) die "usage: cluster-lab.sh up | drill | down" ;;
esac
