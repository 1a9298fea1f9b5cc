#!/usr/bin/env bash
# scripts/bench/pstat.sh: perf stat (or perf record) of one settled VRRPv3
# pair's MASTER and BACKUP in a fresh two-node netns lab, for the per-advert
# cost in docs/daemon.md ("Cost of an advertisement"). As root, with perf:
#
#   scripts/bench/pstat.sh SYSTEM INTERVAL_S SECONDS [record | record-backup]
#
# SYSTEM is carpd (a carpd pair), keepalived (a keepalived --vrrp pair),
# floor (the floor program as MASTER, carpd as BACKUP) or cfloor (the same
# with the C floor, cfloor/cfloor.c, built with cc). The MASTER has
# priority 150 on n1, the BACKUP 100 on n2; both are measured over SECONDS
# from 15 s after start. record writes perf.data of the MASTER (or the
# BACKUP) to $OUT (default ./SYSTEM-INTERVAL.data) instead, sampled at 20 kHz
# with call graphs. CARPD and FLOOR name the binaries (default: build them
# into the lab's directory as scripts/install.sh builds carpd); CFLOOR the C
# floor's.
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
here=$(cd "$(dirname "$0")" && pwd)
(($# >= 3)) || { echo "usage: $0 carpd|keepalived|floor|cfloor INTERVAL_S SECONDS [record|record-backup]" >&2; exit 2; }
sys=$1 iv=$2 secs=$3 rec=${4:-}
case "$sys" in carpd | keepalived | floor | cfloor) ;; *) echo "SYSTEM: carpd, keepalived, floor or cfloor" >&2; exit 2 ;; esac
case "$rec" in "" | record | record-backup) ;; *) echo "mode: record or record-backup" >&2; exit 2 ;; esac
[[ $secs =~ ^[0-9]+$ ]] && ((secs >= 1 && secs <= 600)) || { echo "SECONDS: 1..600" >&2; exit 2; }
command -v perf >/dev/null || { echo "perf not found" >&2; exit 1; }
LAB_QUIET=${LAB_QUIET:-1}
# shellcheck source=../lab/netns.sh
source "$here/../lab/netns.sh"
lab_init
if [[ -z ${CARPD:-} && $sys != keepalived ]]; then
	CARPD=$LAB_DIR/carpd
	(cd "$here/../.." && CGO_ENABLED=0 go build -trimpath -o "$CARPD" ./cmd/carpd)
fi
if [[ -z ${FLOOR:-} && $sys == floor ]]; then
	FLOOR=$LAB_DIR/floor
	(cd "$here" && CGO_ENABLED=0 go build -trimpath -o "$FLOOR" ./floor)
fi
if [[ -z ${CFLOOR:-} && $sys == cfloor ]]; then
	CFLOOR=$LAB_DIR/cfloor
	cc -O2 -Wall -o "$CFLOOR" "$here/cfloor/cfloor.c"
fi
lab_switch
lab_node 1
lab_node 2

# shellcheck source=pair.sh
source "$here/pair.sh"
keepalived_node() { # N PRIORITY
	cat >"$LAB_DIR/k$1.conf" <<K
global_defs {
  router_id lab$1
  vrrp_version 3
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority $2
  advert_int $iv
  virtual_ipaddress {
    198.18.0.10/32
  }
}
K
	lab_bg "$1" "$LAB_DIR/n$1.log" keepalived --vrrp --dont-fork --log-console --use-file "$LAB_DIR/k$1.conf" \
		--pid "$LAB_DIR/k$1.pid" --vrrp_pid "$LAB_DIR/v$1.pid" --checkers_pid "$LAB_DIR/c$1.pid"
}

case "$sys" in
carpd)
	carpd_node 1 150; M=$LAB_LAST_PID
	carpd_node 2 100; B=$LAB_LAST_PID ;;
floor)
	lab_bg 1 "$LAB_DIR/n1.log" "$FLOOR" eth0 198.18.0.1 51 150 "${iv}s" 198.18.0.10; M=$LAB_LAST_PID
	carpd_node 2 100; B=$LAB_LAST_PID ;;
cfloor)
	lab_bg 1 "$LAB_DIR/n1.log" "$CFLOOR" eth0 198.18.0.1 51 150 "$(awk -v s="$iv" 'BEGIN { printf "%d", s * 1000 + 0.5 }')" 198.18.0.10
	M=$LAB_LAST_PID
	carpd_node 2 100; B=$LAB_LAST_PID ;;
keepalived)
	keepalived_node 1 150
	keepalived_node 2 100 ;;
esac
sleep 15
if [[ $sys == keepalived ]]; then
	# keepalived's VRRP child does the work; its parent only supervises.
	M=$(cat "$LAB_DIR/v1.pid") B=$(cat "$LAB_DIR/v2.pid")
fi
[[ $sys == *floor ]] || lab_wait 100 0.2 "n1 MASTER" lab_has_addr 1 198.18.0.10
if [[ -n $rec ]]; then
	pid=$M
	[[ $rec == record-backup ]] && pid=$B
	perf record -F 20000 -g -o "${OUT:-$PWD/$sys-$iv.data}" -p "$pid" -- sleep "$secs" 2>&1 | tail -1
	exit 0
fi
# Both at once; wait for these two only (the daemons are jobs too).
perfs=()
for role in MASTER BACKUP; do
	pid=$M
	[[ $role == BACKUP ]] && pid=$B
	perf stat -e task-clock,context-switches,page-faults -p "$pid" -- sleep "$secs" 2>&1 |
		grep -E 'task-clock|context-switches|page-faults' | sed "s/^/$role /" &
	perfs+=($!)
done
wait "${perfs[@]}"
