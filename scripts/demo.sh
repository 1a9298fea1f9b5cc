#!/usr/bin/env bash
#
# demo.sh - see carpd fail over an MQTT broker, on one machine, as root.
#
# It installs what is missing (mosquitto, nftables, iproute2; Debian or
# Ubuntu), builds carpd and a small MQTT client with the Go at
# /usr/local/go/bin (or on PATH), and builds a lab of network namespaces
# (scripts/lab/netns.sh) on 198.18.0.0/15 only, so the host's own network
# is never touched:
#
#   n1 198.18.0.1  carpd (CARP vhid 10, advbase 0 advskew 26) + mosquitto, bridged to n2
#   n2 198.18.0.2  carpd (CARP vhid 10, advbase 0 advskew 92) + mosquitto
#
# The timers are the fastest that held for ten minutes without a spurious
# transition, idle and with every core busy, in the lab (docs/BENCHMARKS.md,
# "Sub-second stability"): n1 advertises every 101.6 ms, n2 takes over
# 359.4 ms after the last advert it heard. They need carpd on both nodes
# (ucarp flaps at advbase 0); docs/config.md gives the ucarp-compatible ones.
#   n3 198.18.0.3  the client, publishing QoS 1 every 10 ms to the VIP
#   VIP 198.18.0.10:1883, DNAT to the master's own broker
#
# Then it kills the master (carpd and its broker SIGKILLed, link down),
# waits for the other node to take the VIP and the client to resume, prints
# a timeline and removes the lab, also on failure and on Ctrl-C. It exits
# non-zero if the failover did not happen.
#
# Usage: scripts/demo.sh [-k|--keep] [-v|--verbose]
#   --keep     keep the temp directory (configs, logs) for a look afterwards
#   --verbose  show the lab's progress messages and the logs on failure
#
# Stop it with Ctrl-C from a terminal, or SIGTERM (see netns.sh on SIGINT
# in background jobs).

set -euo pipefail
export LC_ALL=C
export PATH="/usr/local/go/bin:$PATH:/usr/local/sbin:/usr/sbin:/sbin"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VIP=198.18.0.10
VERBOSE=0

die() {
	printf 'demo: error: %s\n' "$*" >&2
	exit 1
}

say() {
	printf 'demo: %s\n' "$*" >&2
}

for arg in "$@"; do
	case $arg in
	-k | --keep) export LAB_KEEP=1 ;;
	-v | --verbose) VERBOSE=1 ;;
	-h | --help)
		sed -n '3,/^$/s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*) die "unknown argument '$arg' (try --help)" ;;
	esac
done
[[ $VERBOSE == 1 ]] || export LAB_QUIET=1
[[ $(id -u) == 0 ]] || die "run me as root: network namespaces, CARP and nftables need it"

# install_missing installs the Debian packages of missing commands, with
# "apt-get update" first only when something is missing.
install_missing() {
	local pkgs=() pair
	for pair in mosquitto:mosquitto nft:nftables ip:iproute2; do
		command -v "${pair%%:*}" >/dev/null || pkgs+=("${pair#*:}")
	done
	[[ ${#pkgs[@]} == 0 ]] && return 0
	command -v apt-get >/dev/null || die "missing ${pkgs[*]} and no apt-get: install them by hand"
	say "installing ${pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${pkgs[@]}" </dev/null >/dev/null
	if [[ " ${pkgs[*]} " == *" mosquitto "* ]]; then
		say "note: the mosquitto package also starts its own service on this host (localhost:1883);"
		say "the demo does not use it ('systemctl disable --now mosquitto' stops it)"
	fi
}

build() {
	command -v go >/dev/null || die "Go not found (looked in /usr/local/go/bin and PATH); see https://go.dev/doc/install"
	say "building carpd and the demo client (the first build takes a while)"
	mkdir -p "$BIN"
	local pkg
	for pkg in cmd/carpd scripts/demo/mqttclient scripts/demo/statusline; do
		(cd "$ROOT" && CGO_ENABLED=0 go build -o "$BIN/" "./$pkg") || die "go build ./$pkg failed"
	done
}

# now prints the time since T0 as +S.mmms.
now() {
	local us=$((${EPOCHREALTIME/./} - T0US))
	printf '+%d.%03ds' $((us / 1000000)) $((us % 1000000 / 1000))
}

# event TEXT adds a line to the timeline, stamped now (or with $2).
event() {
	printf '%s %s\n' "${2:-$(now)}" "$1" >>"$LAB_DIR/timeline"
}

# status N QUERY asks node N's carpd (see scripts/demo/statusline).
status() {
	"$BIN/carpd" status --json --state-dir "$LAB_DIR/n$1/state" 2>/dev/null |
		"$BIN/statusline" -t0 "$T0" "$2"
}

is_state() { [[ $(status "$1" state) == "$2" ]]; }
is_ready() { [[ $(status "$1" ready) == true ]]; }
probe_ok() { [[ $(status "$1" probe) == "out ok"*", in ok"* ]]; }

# write_configs N PEER PEER_ADVSKEW writes node N's mosquitto.conf and
# carpd.yaml. Only n1 holds the bridge, as in the classic setup.
write_configs() {
	local n=$1 peer=$2 advskew=$3 dir="$LAB_DIR/n$1"
	mkdir -p "$dir/data" # carpd creates state/ itself, mode 0700
	cat >"$dir/mosquitto.conf" <<-EOF
		listener 1883 198.18.0.$n
		allow_anonymous true
		# Retained messages survive the restart on promotion.
		persistence true
		persistence_location $dir/data/
		log_dest stderr
		log_type error
		log_type warning
		# The temp dir is root's; stay root instead of user mosquitto.
		user root
	EOF
	if [[ $n == 1 ]]; then
		cat >>"$dir/mosquitto.conf" <<-EOF
			connection n2
			address 198.18.0.$peer:1883
			try_private true
			cleansession true
			keepalive_interval 5
			restart_timeout 1
			topic home/# both 2 "" ""
		EOF
	fi
	printf 'demo-secret\n' >"$dir/carp.pass"
	chmod 600 "$dir/carp.pass"
	cat >"$dir/carpd.yaml" <<-EOF
		broker:
		  config: mosquitto.conf
		  ready_timeout: 5s
		  stop_timeout: 2s
		  backoff: {base: 100ms, cap: 1s}
		  health: {interval: 1s, timeout: 500ms}
		  probe: {topic: home/carpd-probe, interval: 1s, deadline: 800ms, peer: 198.18.0.$peer}
		routers:
		  - name: mqtt
		    iface: eth0
		    proto: carp
		    vhid: 10
		    advbase: 0
		    advskew: $advskew
		    preempt: true
		    passfile: carp.pass
		    vips: [$VIP]
		    garp: {repeat: 3, interval: 100ms, delay: 0}
	EOF
}

# start_carpd N checks node N's configuration, then starts carpd there.
start_carpd() {
	local n=$1 dir="$LAB_DIR/n$1" warn
	warn=$(lab_exec "$n" "$BIN/carpd" check -c "$dir/carpd.yaml" 2>&1 >/dev/null) ||
		die "carpd check on n$n failed: $warn"
	if [[ $n == 2 && $warn == *"has no bridge"* && $warn != *$'\n'* ]]; then
		# The one expected warning: the bridge is on n1 only.
		say "carpd check on n$n: ok (n2 has no bridge of its own; n1's carries the probe)"
	elif [[ -n $warn ]]; then
		say "carpd check on n$n: $warn"
	else
		say "carpd check on n$n: ok"
	fi
	lab_bg "$n" "$dir/carpd.log" "$BIN/carpd" run -c "$dir/carpd.yaml" --state-dir "$dir/state"
	CARPD_PID[n]=$LAB_LAST_PID
}

fail() {
	say "FAILED: $*"
	if [[ $VERBOSE == 1 ]]; then
		local f
		for f in "$LAB_DIR"/n*/carpd.log "$LAB_DIR/client.log"; do
			[[ -f $f ]] && { printf -- '--- %s\n' "$f"; tail -n 15 "$f"; } >&2
		done
	fi
	print_timeline
	die "the failover did not happen (run with -v -k for logs)"
}

print_timeline() {
	printf '\nTimeline (seconds since the lab was built):\n'
	sort -t+ -k2 -g "$LAB_DIR/timeline" | sed 's/^/  /'
}

install_missing
# shellcheck source=scripts/lab/netns.sh
source "$ROOT/scripts/lab/netns.sh"
lab_init
BIN="$LAB_DIR/bin"
build
declare -a CARPD_PID

T0=$EPOCHREALTIME
T0US=${T0/./}
: >"$LAB_DIR/timeline"
lab_switch
for n in 1 2 3; do lab_node "$n"; done
event "lab: n1 198.18.0.1 (advbase 0 advskew 26), n2 198.18.0.2 (advbase 0 advskew 92), client n3 198.18.0.3; VIP $VIP"
write_configs 1 2 26
write_configs 2 1 92

say "starting carpd on n2, then n1"
# n2 first, so its broker is up when n1's bridge dials it.
start_carpd 2
lab_wait 100 0.1 "n2's broker ready" is_ready 2 || fail "n2's broker did not get ready"
start_carpd 1
event "carpd started on n2, then n1"
lab_wait 150 0.1 "n1 MASTER" is_state 1 MASTER || fail "n1 did not become MASTER"
lab_wait 50 0.1 "n2 BACKUP" is_state 2 BACKUP || fail "n2 did not become BACKUP"
lab_wait 100 0.1 "n1's promotion" status 1 promoted || fail "n1's promotion did not finish"
read -r at took reason <<<"$(status 1 promoted)"
event "n1 is MASTER ($reason; DNAT, broker ready, GARP took $took), n2 BACKUP" "$at"
lab_wait 100 0.1 "n1's broker ready" is_ready 1 || fail "n1's broker did not get ready"
lab_wait 100 0.1 "the bridge probe" probe_ok 1 || say "the bridge probe is not ok yet"
event "bridge probe on n1 (out = n1 -> n2): $(status 1 probe)"

say "client publishing to $VIP:1883 from n3"
lab_bg 3 "$LAB_DIR/client.log" "$BIN/mqttclient" -broker "$VIP:1883" -duration 50s -t0 "$T0"
CLIENT=$LAB_LAST_PID
lab_wait 50 0.1 "the client" grep -q 'pub connected' "$LAB_DIR/client.log" ||
	fail "the client did not connect: $(cat "$LAB_DIR/client.log")"
sleep 2

broker=$(status 1 broker-pid)
say "killing the master n1: carpd and mosquitto (PIDs ${CARPD_PID[1]} and $broker), link down"
KILLED=$(now)
kill -KILL "${CARPD_PID[1]}"
[[ -z $broker ]] || kill -KILL "$broker" 2>/dev/null || true
ip -n "$(lab_ns 1)" link set eth0 down
wait "${CARPD_PID[1]}" 2>/dev/null || true
lab_forget "${CARPD_PID[1]}"
event "killed n1: carpd and mosquitto SIGKILLed, link down" "$KILLED"

lab_wait 200 0.1 "n2 MASTER" is_state 2 MASTER || fail "n2 did not become MASTER"
lab_wait 100 0.1 "n2's promotion" status 2 promoted || fail "n2's promotion did not finish"
read -r at took reason <<<"$(status 2 promoted)"
event "n2 is MASTER: the VIP moved ($reason; DNAT, broker ready, GARP took $took)" "$at"
lab_wait 200 0.1 "the client to resume" grep -q 'messages resumed' "$LAB_DIR/client.log" ||
	fail "the client did not resume"
sleep 1
lab_stop "$CLIENT" 5
grep -q summary "$LAB_DIR/client.log" || fail "the client printed no summary"
lab_wait 50 0.1 "n2's probe to notice n1 is gone" status 2 probe-down || true
event "bridge probe on n2 (out = n2 -> n1, which is gone): $(status 2 probe)"

# The client's lines carry their own +times.
sed -n 's/^\(+[0-9.]*s\) \(.*\)/\1 client: \2/p' "$LAB_DIR/client.log" | grep -v summary >>"$LAB_DIR/timeline"
print_timeline
summary=$(sed -n 's/.*summary: //p' "$LAB_DIR/client.log")
ms=$((10#${at//[+.s]/} - 10#${KILLED//[+.s]/}))
printf '\nFailover OK: n1 -> n2, the VIP moved %d ms after the kill.\nClient: %s\n' "$ms" "$summary"
lab_time=$(now)
printf 'The lab ran for %s; removing it.\n' "${lab_time#+}"
