#!/usr/bin/env bash
# scripts/bench/probe.sh: where the wall time of one advert goes inside
# carpd, step by step, for docs/daemon.md ("Cost of an advertisement"). As
# root:
#
#   scripts/bench/probe.sh INTERVAL_S SECONDS
#
# It builds the committed tree (HEAD, via git archive) with
# probe/daemon.patch applied, a measuring build that times each step of
# the two hot paths and prints means over 100 events to stderr:
#   timer  (the MASTER): inline = taking the router; fired = the
#          machine's tick with the send; settle = status snapshot and
#          timer; unlock; send = encoding and writing; write = the
#          sendmsg alone (veth and the bridge in this lab included).
#   advert (the BACKUP): inline; receive = the machine with the
#          bookkeeping; settle (with its timerfd_settime); unlock;
#          decode = the codec, before the router is taken.
# total is the whole event. It runs a settled VRRPv3 pair in a fresh
# two-node netns lab (priority 150 on n1, 100 on n2) and prints the lines
# each node logged during the SECONDS that follow 15 s of settling.
set -euo pipefail
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
here=$(cd "$(dirname "$0")" && pwd)
(($# == 2)) || { echo "usage: $0 INTERVAL_S SECONDS" >&2; exit 2; }
iv=$1 secs=$2
[[ $secs =~ ^[0-9]+$ ]] && ((secs >= 1 && secs <= 600)) || { echo "SECONDS: 1..600" >&2; exit 2; }
LAB_QUIET=${LAB_QUIET:-1}
# shellcheck source=../lab/netns.sh
source "$here/../lab/netns.sh"
lab_init
src=$LAB_DIR/src
mkdir "$src"
git -C "$here/../.." archive --format=tar HEAD | tar -x -C "$src"
git -C "$src" apply "$here/probe/daemon.patch" 2>"$LAB_DIR/apply.err" || {
	echo "probe/daemon.patch no longer applies to this tree; redo it against internal/daemon:" >&2
	cat "$LAB_DIR/apply.err" >&2
	exit 1
}
CARPD=$LAB_DIR/carpd
(cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$CARPD" ./cmd/carpd)

lab_switch
lab_node 1
lab_node 2
# shellcheck source=pair.sh
source "$here/pair.sh"
carpd_node 1 150
carpd_node 2 100
sleep 15
lab_wait 100 0.2 "n1 MASTER" lab_has_addr 1 198.18.0.10
from1=$(wc -l <"$LAB_DIR/n1.log") from2=$(wc -l <"$LAB_DIR/n2.log")
sleep "$secs"
echo "MASTER (n1):"
tail -n +"$((from1 + 1))" "$LAB_DIR/n1.log" | grep '^probe ' || echo "  no probe lines (fewer than 100 adverts?)"
echo "BACKUP (n2):"
tail -n +"$((from2 + 1))" "$LAB_DIR/n2.log" | grep '^probe ' || echo "  no probe lines (fewer than 100 adverts?)"
