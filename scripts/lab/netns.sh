# shellcheck shell=bash
#
# netns.sh - a small network-namespace lab for carpd, meant to be sourced.
#
# It builds an isolated Ethernet segment that never touches the host's own
# interfaces:
#
#   namespace <prefix>-sw          bridge "br0"; one port "pN" per node
#   namespace <prefix>-nN          interface "eth0" (veth peer of pN), lo up
#
# Every veth pair is created *inside* the switch namespace with its peer
# created directly in the node namespace, so no interface ever exists in the
# host namespace, not even briefly.
#
# Addressing (see lab_node):
#   IPv4  198.18.0.N/24            (RFC 2544 benchmarking range 198.18.0.0/15)
#   IPv6  2001:2::N/64, nodad      (RFC 5180 benchmarking range 2001:2::/48)
#   MAC   02:ca:4d:00:00:NN        (locally administered, NN = N in hex), so the
#   link-local is fe80::ca:4dff:fe00:N (N in hex) and captures are reproducible.
# N is 1..99. Addresses .10 and above are free for virtual addresses only if
# you keep node numbers below 10; choose VIPs accordingly.
#
# Namespace names carry a per-run prefix "carpd-<pid>-<random>" so that
# several labs (and several helpers) can run on one host at once.
#
# Usage:
#   source scripts/lab/netns.sh
#   lab_init                       # prefix, temp dir, cleanup trap
#   lab_switch                     # the bridge namespace
#   lab_node 1; lab_node 2         # node namespaces joined to the bridge
#   lab_bg 1 "$LAB_DIR/x.log" some-daemon --flag   # PID in LAB_LAST_PID
#   lab_exec 2 ip addr             # run a command in a node, wait for it
#   lab_wait 50 0.1 "VIP on n1" lab_has_addr 1 198.18.0.10
#   lab_stop "$pid"                # SIGTERM, bounded wait, then SIGKILL
#   lab_capture "$LAB_DIR/x.pcap" 'ip proto 112'   # tcpdump on the bridge
#   # lab_cleanup runs on EXIT, INT and TERM.
#
# The library does not set shell options; callers may use set -euo pipefail.
# Stop a lab script from outside with SIGTERM (or SIGINT from a terminal). A
# script started in the background by a non-interactive shell inherits SIGINT
# as ignored, and bash cannot trap a signal ignored on entry, so SIGINT does
# nothing there; SIGTERM always works.
# Every loop in here is bounded in iterations and in time.
#
# Environment:
#   LAB_KEEP=1    keep $LAB_DIR (logs, configs) after cleanup, for debugging.
#   LAB_QUIET=1   don't print progress messages.
#   TCPDUMP       tcpdump binary for lab_capture (default: tcpdump).

# lab_log prints a progress message on stderr.
lab_log() {
	[[ ${LAB_QUIET:-0} == 1 ]] || printf 'lab: %s\n' "$*" >&2
}

# lab_die prints a message and exits non-zero; the EXIT trap cleans up.
lab_die() {
	printf 'lab: error: %s\n' "$*" >&2
	exit 1
}

# lab_init checks prerequisites, picks the per-run prefix, creates the temp
# directory LAB_DIR and installs the cleanup trap. Call it once, first.
lab_init() {
	[[ $(id -u) == 0 ]] || lab_die "must run as root (network namespaces)"
	local tool
	for tool in ip timeout; do
		command -v "$tool" >/dev/null || lab_die "missing tool: $tool"
	done
	LAB_PREFIX="carpd-$$-$RANDOM$RANDOM"
	LAB_NAMESPACES=()
	LAB_PIDS=()
	LAB_LAST_PID=
	LAB_CLEANED=0
	LAB_DIR=$(mktemp -d "/tmp/${LAB_PREFIX}.XXXXXX") || lab_die "mktemp failed"
	trap 'lab_cleanup' EXIT
	trap 'lab_cleanup; trap - INT; kill -INT $$' INT
	trap 'lab_cleanup; exit 143' TERM
	lab_log "prefix $LAB_PREFIX, files in $LAB_DIR"
}

# lab_ns prints the full namespace name for a short name: "sw" or a node
# number ("1" -> "<prefix>-n1").
lab_ns() {
	case $1 in
	sw) printf '%s-sw\n' "$LAB_PREFIX" ;;
	*) printf '%s-n%s\n' "$LAB_PREFIX" "$1" ;;
	esac
}

# lab_addns creates a namespace, records it for cleanup and brings lo up.
lab_addns() {
	local ns=$1
	ip netns add "$ns" || lab_die "ip netns add $ns failed"
	LAB_NAMESPACES+=("$ns")
	ip -n "$ns" link set lo up
}

# lab_switch creates the switch namespace with bridge br0. IPv6 is disabled
# there so the switch itself never sends anything (no RS, MLD or DAD); multicast
# snooping is off so every multicast frame is flooded to all ports and to br0,
# where captures can see it.
lab_switch() {
	local sw
	sw=$(lab_ns sw)
	lab_addns "$sw"
	ip netns exec "$sw" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1
	ip -n "$sw" link add br0 type bridge stp_state 0 forward_delay 0 \
		mcast_snooping 0 || lab_die "bridge creation failed"
	ip -n "$sw" link set br0 up
}

# lab_node N creates node namespace N (1..99) joined to br0 by a veth pair and
# gives eth0 the addresses described at the top of this file. DAD is turned
# off in the node so link-local and global IPv6 addresses are usable at once.
lab_node() {
	local n=$1 sw ns mac
	[[ $n =~ ^[1-9][0-9]?$ ]] || lab_die "node number must be 1..99, got '$n'"
	sw=$(lab_ns sw)
	ns=$(lab_ns "$n")
	mac=$(printf '02:ca:4d:00:00:%02x' "$n")
	lab_addns "$ns"
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
		net.ipv6.conf.default.accept_dad=0
	ip -n "$sw" link add "p$n" type veth peer name eth0 netns "$ns" ||
		lab_die "veth for node $n failed"
	ip -n "$sw" link set "p$n" master br0 up
	ip -n "$ns" link set eth0 address "$mac" up
	ip -n "$ns" addr add "198.18.0.$n/24" dev eth0
	ip -n "$ns" addr add "2001:2::$n/64" dev eth0 nodad
}

# lab_exec NODE CMD... runs CMD inside namespace NODE ("sw" or a number) and
# returns its status.
lab_exec() {
	local ns
	ns=$(lab_ns "$1")
	shift
	ip netns exec "$ns" "$@"
}

# lab_bg NODE LOGFILE CMD... starts CMD in the background inside namespace
# NODE with stdout and stderr appended to LOGFILE, records its PID for cleanup
# and leaves it in LAB_LAST_PID. "ip netns exec" execs the command in place, so
# the PID is the command's own.
lab_bg() {
	local ns log=$2
	ns=$(lab_ns "$1")
	shift 2
	ip netns exec "$ns" "$@" </dev/null >>"$log" 2>&1 &
	LAB_LAST_PID=$!
	LAB_PIDS+=("$LAB_LAST_PID")
}

# lab_wait TRIES INTERVAL DESC CMD... runs CMD (quietly) up to TRIES times,
# INTERVAL seconds apart, until it succeeds. It returns 1 when it gives up.
lab_wait() {
	local tries=$1 interval=$2 desc=$3 i
	shift 3
	for ((i = 0; i < tries; i++)); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep "$interval"
	done
	printf 'lab: gave up waiting for %s (%s x %ss)\n' "$desc" "$tries" "$interval" >&2
	return 1
}

# lab_alive PID succeeds while PID exists and is not a zombie.
lab_alive() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	# Field 3 (after the parenthesised command name) is the state letter.
	stat=${stat##*) }
	[[ ${stat:0:1} != Z && ${stat:0:1} != X ]]
}

# lab_stop PID [SECONDS] sends SIGTERM to PID, waits up to SECONDS (default
# 5) for it to exit, then sends SIGKILL. It only ever signals that one PID.
lab_stop() {
	local pid=$1 secs=${2:-5} i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < secs * 10; i++)); do
		lab_alive "$pid" || break
		sleep 0.1
	done
	if lab_alive "$pid"; then
		lab_log "PID $pid ignored SIGTERM for ${secs}s, killing"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	# Reap it if it is our child; its exit status is of no interest here.
	wait "$pid" 2>/dev/null || true
	lab_forget "$pid"
	return 0
}

# lab_capture FILE FILTER [MAXPACKETS] [MAXSECONDS] starts tcpdump on br0 in
# the switch namespace, which sees every frame on the segment, writing FILE
# (a pcap) and waits until it is listening. It stops by itself after
# MAXPACKETS packets (default 100) or MAXSECONDS seconds (default 60); stop it
# earlier with lab_stop "$LAB_LAST_PID". tcpdump's messages go to FILE.log.
lab_capture() {
	local file=$1 filter=$2 max=${3:-100} secs=${4:-60}
	# -U writes each packet at once, so stopping tcpdump loses nothing;
	# -Z root keeps it able to write wherever root asked it to.
	lab_bg sw "$file.log" timeout "$secs" "${TCPDUMP:-tcpdump}" -i br0 -nn -U \
		-Z root -c "$max" -w "$file" "$filter"
	lab_wait 50 0.1 "tcpdump to listen" grep -q 'listening on' "$file.log" ||
		lab_die "tcpdump did not start: $(cat "$file.log")"
}

# lab_forget PID drops PID from the cleanup list once it is gone, so cleanup
# never signals a recycled PID.
lab_forget() {
	local keep=() p
	for p in "${LAB_PIDS[@]}"; do
		[[ $p == "$1" ]] || keep+=("$p")
	done
	LAB_PIDS=("${keep[@]}")
}

# lab_has_addr NODE ADDR succeeds when ADDR (no prefix length) is configured
# on any interface of NODE; handy with lab_wait to see a VIP arrive or leave.
lab_has_addr() {
	local ns
	ns=$(lab_ns "$1")
	ip -n "$ns" -o addr show | grep -qF " $2/"
}

# lab_cleanup stops every process this lab started, then any process still
# inside one of its namespaces (children of those, e.g. keepalived's VRRP
# child; only our own runs can live in namespaces with our unique prefix), and
# deletes the namespaces, which also removes their veths and the bridge.
# It is idempotent and runs from the EXIT/INT/TERM traps.
lab_cleanup() {
	local pid ns pids i
	[[ ${LAB_CLEANED:-1} == 0 ]] || return 0
	LAB_CLEANED=1
	# Signal all first so peers stop in parallel, then wait for each.
	for pid in "${LAB_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${LAB_PIDS[@]}"; do
		lab_stop "$pid" 3
	done
	LAB_PIDS=()
	for ns in "${LAB_NAMESPACES[@]}"; do
		pids=$(ip netns pids "$ns" 2>/dev/null) || pids=
		for pid in $pids; do
			lab_log "killing leftover PID $pid in $ns"
			kill -KILL "$pid" 2>/dev/null || true
		done
	done
	for ((i = ${#LAB_NAMESPACES[@]} - 1; i >= 0; i--)); do
		ip netns del "${LAB_NAMESPACES[i]}" 2>/dev/null ||
			printf 'lab: could not delete namespace %s\n' "${LAB_NAMESPACES[i]}" >&2
	done
	if [[ ${LAB_KEEP:-0} == 1 ]]; then
		lab_log "kept $LAB_DIR"
	elif [[ -n ${LAB_DIR:-} && -d $LAB_DIR ]]; then
		rm -rf -- "$LAB_DIR"
	fi
	lab_log "cleaned up $LAB_PREFIX"
}
