#!/usr/bin/env bash
#
# capture-golden.sh - capture real ucarp and keepalived advertisements in a
# network-namespace lab and write them as small pcaps to carp/testdata/.
#
# Usage: sudo scripts/lab/capture-golden.sh [OUTDIR]
#
# Everything runs in namespaces made by netns.sh (bridge namespace + nodes 1
# and 2 at 198.18.0.1 and 198.18.0.2); nothing touches the host's interfaces.
# Captures are taken with tcpdump on the bridge br0 inside the switch
# namespace, so they hold both nodes' frames exactly as they cross the wire.
# Each scenario is the same story:
#
#   start capture -> start node 1 (preferred) -> wait until it is master
#   -> start node 2 (backup) -> let node 1 advertise -> SIGTERM node 1
#   -> wait until node 2 is master -> let node 2 advertise -> SIGTERM node 2
#
# so every pcap shows both sources and, for keepalived, both priority-0
# "stopping" adverts. carp/testdata/README.md describes the resulting files.
#
# Environment: UCARP, KEEPALIVED, TCPDUMP override the binaries;
# LAB_KEEP=1 keeps the temp dir with configs and daemon logs.

set -Eeuo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lab/netns.sh
source "$here/netns.sh"

UCARP=${UCARP:-ucarp}
KEEPALIVED=${KEEPALIVED:-keepalived}
TCPDUMP=${TCPDUMP:-tcpdump}
OUT=${1:-$here/../../carp/testdata}

PASSWORD=s3cretpw
# Upper bounds for one capture: packets kept and seconds alive.
CAP_MAX_PACKETS=80
CAP_MAX_SECONDS=60
# Seconds each master advertises while being watched.
MASTER_SECONDS=6
BACKUP_SECONDS=4

# cap_start NAME FILTER starts capturing to $LAB_DIR/NAME.pcap.
cap_start() {
	CAP_NAME=$1
	lab_capture "$LAB_DIR/$1.pcap" "$2" "$CAP_MAX_PACKETS" "$CAP_MAX_SECONDS"
	CAP_PID=$LAB_LAST_PID
}

# cap_finish stops the capture and copies the pcap to OUT.
cap_finish() {
	# Give the last frame time to cross the bridge before stopping.
	sleep 0.5
	lab_stop "$CAP_PID"
	cp "$LAB_DIR/$CAP_NAME.pcap" "$OUT/$CAP_NAME.pcap"
	lab_log "$CAP_NAME.pcap: $("$TCPDUMP" -r "$OUT/$CAP_NAME.pcap" 2>/dev/null | wc -l) packets, $(stat -c %s "$OUT/$CAP_NAME.pcap") bytes"
}

# await_vip NODE ADDR DESC waits up to 15 s for ADDR to appear on NODE.
await_vip() {
	lab_wait 150 0.1 "$3" lab_has_addr "$1" "$2" ||
		lab_die "$3 did not happen (rerun with LAB_KEEP=1 to keep the logs)"
}

# await_no_vip NODE ADDR DESC waits up to 15 s for ADDR to leave NODE.
await_no_vip() {
	local i
	for ((i = 0; i < 150; i++)); do
		lab_has_addr "$1" "$2" || return 0
		sleep 0.1
	done
	lab_die "$3 did not happen"
}

# ucarp_scripts writes the up/down scripts ucarp insists on. They only add or
# remove the VIP inside the node's own namespace (ucarp runs them there).
ucarp_scripts() {
	cat >"$LAB_DIR/vip-up.sh" <<'EOF'
#!/bin/sh
# $1 = interface, $2 = VIP (ucarp's calling convention).
exec ip addr add "$2/32" dev "$1"
EOF
	cat >"$LAB_DIR/vip-down.sh" <<'EOF'
#!/bin/sh
ip addr del "$2/32" dev "$1" 2>/dev/null || true
EOF
	chmod 755 "$LAB_DIR/vip-up.sh" "$LAB_DIR/vip-down.sh"
}

# ucarp_start NODE ADVSKEW starts ucarp for vhid 10 on NODE; PID in
# LAB_LAST_PID. -z runs the downscript on SIGTERM so the VIP leaves with it.
ucarp_start() {
	lab_bg "$1" "$LAB_DIR/ucarp-n$1.log" "$UCARP" -i eth0 -s "198.18.0.$1" \
		-v 10 -p "$PASSWORD" -a 198.18.0.10 -b 1 -k "$2" \
		-u "$LAB_DIR/vip-up.sh" -d "$LAB_DIR/vip-down.sh" -z -D
}

capture_ucarp() {
	local u1 u2
	ucarp_scripts
	cap_start ucarp 'ip proto 112'
	ucarp_start 1 0
	u1=$LAB_LAST_PID
	await_vip 1 198.18.0.10 "ucarp node 1 becoming master"
	ucarp_start 2 50
	u2=$LAB_LAST_PID
	sleep "$MASTER_SECONDS"
	lab_stop "$u1"
	await_vip 2 198.18.0.10 "ucarp node 2 taking over"
	sleep "$BACKUP_SECONDS"
	lab_stop "$u2"
	cap_finish
}

# kad_conf NODE VERSION EXTRA INSTANCE... writes node NODE's keepalived
# config and prints its path. EXTRA goes into every vrrp_instance. Each
# INSTANCE is "VRID,ADVERT_INT,VIP[,pass]". Node 1 gets priority 150, node 2
# priority 100.
kad_conf() {
	local node=$1 version=$2 extra=$3 prio=100 spec vrid adv vip auth
	local conf="$LAB_DIR/keepalived-n$node.conf"
	shift 3
	if [[ $node == 1 ]]; then
		prio=150
	fi
	{
		printf 'global_defs {\n\trouter_id lab-n%s\n\tvrrp_version %s\n' "$node" "$version"
		# Quiet the NOTICE; no effect on packets.
		printf '\tmax_auto_priority -1\n}\n'
		for spec in "$@"; do
			IFS=, read -r vrid adv vip auth <<<"$spec"
			printf 'vrrp_instance VI_%s {\n\tstate BACKUP\n\tinterface eth0\n' "$vrid"
			printf '\tvirtual_router_id %s\n\tpriority %s\n\tadvert_int %s\n' "$vrid" "$prio" "$adv"
			[[ -z $extra ]] || printf '\t%s\n' "$extra"
			if [[ $auth == pass ]]; then
				printf '\tauthentication {\n\t\tauth_type PASS\n\t\tauth_pass %s\n\t}\n' "$PASSWORD"
			fi
			printf '\tvirtual_ipaddress {\n\t\t%s\n\t}\n}\n' "$vip"
		done
	} >"$conf"
	printf '%s\n' "$conf"
}

# kad_start NODE CONF runs keepalived (VRRP only, no fork, console log) in
# NODE with its own pid files; PID in LAB_LAST_PID.
kad_start() {
	local p="$LAB_DIR/keepalived-n$1"
	lab_bg "$1" "$p.log" "$KEEPALIVED" --dont-fork --log-console --log-detail \
		--no-syslog --vrrp -f "$2" -p "$p.pid" -r "$p.vrrp.pid" -c "$p.check.pid"
}

# kad_accepts KEYWORD succeeds if this keepalived build knows an instance
# keyword (checked with --config-test inside node 1).
kad_accepts() {
	local conf
	conf=$(kad_conf 1 3 "$1" "99,1,198.18.0.99/32")
	lab_exec 1 "$KEEPALIVED" --config-test -f "$conf" >"$LAB_DIR/config-test.log" 2>&1
}

# capture_keepalived NAME FILTER VERSION EXTRA INSTANCE... runs the standard
# story with keepalived; the VIP of the first INSTANCE marks who is master.
# It waits for the VIP to leave node 2 so the final priority-0 adverts are in.
capture_keepalived() {
	local name=$1 filter=$2 version=$3 extra=$4 c1 c2 k1 k2 vip
	shift 4
	c1=$(kad_conf 1 "$version" "$extra" "$@")
	c2=$(kad_conf 2 "$version" "$extra" "$@")
	# The first instance's VIP, without its prefix length.
	vip=$(cut -d, -f3 <<<"$1")
	vip=${vip%/*}
	cap_start "$name" "$filter"
	kad_start 1 "$c1"
	k1=$LAB_LAST_PID
	await_vip 1 "$vip" "keepalived node 1 becoming master ($name)"
	kad_start 2 "$c2"
	k2=$LAB_LAST_PID
	sleep "$MASTER_SECONDS"
	lab_stop "$k1" 10
	await_vip 2 "$vip" "keepalived node 2 taking over ($name)"
	sleep "$BACKUP_SECONDS"
	lab_stop "$k2" 10
	await_no_vip 2 "$vip" "keepalived node 2 releasing its VIP ($name)"
	cap_finish
}

main() {
	local tool
	for tool in "$UCARP" "$KEEPALIVED" "$TCPDUMP"; do
		command -v "$tool" >/dev/null || lab_die "missing $tool"
	done
	mkdir -p "$OUT"
	OUT=$(cd "$OUT" && pwd)
	lab_init
	lab_switch
	lab_node 1
	lab_node 2

	capture_ucarp

	# VRID 51 carries PASS authentication, VRID 61 carries none.
	capture_keepalived keepalived-v2 'ip proto 112' 2 '' \
		51,1,198.18.0.51/32,pass 61,1,198.18.0.61/32

	# VRID 62 advertises every 0.5 s to show the centisecond field (50).
	capture_keepalived keepalived-v3 'ip proto 112' 3 '' \
		52,1,198.18.0.52/32 62,0.5,198.18.0.62/32

	if kad_accepts v3_checksum_as_v2; then
		capture_keepalived keepalived-v3-noph 'ip proto 112' 3 v3_checksum_as_v2 \
			52,1,198.18.0.52/32 62,0.5,198.18.0.62/32
	else
		lab_log "skipping keepalived-v3-noph.pcap: $("$KEEPALIVED" --version 2>&1 | head -n 1) rejects v3_checksum_as_v2:"
		lab_log "  $(grep -i keyword "$LAB_DIR/config-test.log" || cat "$LAB_DIR/config-test.log")"
	fi

	capture_keepalived keepalived-v3-ipv6 'ip6 proto 112' 3 '' \
		53,1,2001:2::53/64

	lab_log "done; versions:"
	dpkg-query -W -f='  ${Package} ${Version}\n' ucarp keepalived tcpdump iproute2 >&2 || true
}

main "$@"
