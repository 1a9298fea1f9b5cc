#!/usr/bin/env bash
# scripts/bench/faults.sh: the fault matrix (docs/reliability.md). As root on Linux, it builds
# carpd, runs TestFaults (an opt-in test of this module, skipped everywhere else) in network
# namespaces of the netns lab, and writes docs/bench/faults.json and docs/reliability.md.
#
#   scripts/bench/faults.sh                  every fault and setup, 3 trials of a..i, j and k windows of 10m
#   scripts/bench/faults.sh --quick          1 trial, j and k windows of 30s
#   scripts/bench/faults.sh --duration DUR   the j (per loss rate) and k windows (5s..1h)
#   scripts/bench/faults.sh --trials N       trials per cell of faults a..i (1..50)
#   scripts/bench/faults.sh --only IDS       setups: carpd-carp-resolve, carpd-carp-off, carpd-vrrp3-resolve,
#                                            carpd-vrrp3-off, ucarp, keepalived (comma-separated)
#   scripts/bench/faults.sh --faults IDS     faults: a b c c2 d e f g1 g2 h i j k (comma-separated; g = g1,g2)
#   scripts/bench/faults.sh --shared TEXT    what else runs on the machine, for the report
#   scripts/bench/faults.sh --report-only    rewrite docs/reliability.md from docs/bench/faults.json
#
# A run limited with --only or --faults replaces the cells it measures in faults.json and keeps
# the others. docs/reliability.md keeps the text between <!-- keep:NAME --> and <!-- /keep:NAME -->.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

trials=3 duration= quick=0 reportonly=0 only= faults= shared=
# The command as the report shows it: --shared goes to its own line there.
cmd="scripts/bench/faults.sh"
usage() {
	echo "usage: $0 [--quick] [--duration DUR] [--trials N] [--only SYSTEM,..] [--faults ID,..]" \
		"[--shared TEXT] [--report-only]" >&2
	exit 2
}
while (($#)); do
	case "$1" in
	--shared) ;;
	--quick|--report-only) cmd="$cmd $1" ;;
	*) cmd="$cmd $1 ${2:-}" ;;
	esac
	case "$1" in
	--quick) quick=1 trials=1 ;;
	--report-only) reportonly=1 ;;
	--trials) [ $# -ge 2 ] || usage; trials="$2"; shift ;;
	--duration) [ $# -ge 2 ] || usage; duration="$2"; shift ;;
	--only) [ $# -ge 2 ] || usage; only="$2"; shift ;;
	--faults) [ $# -ge 2 ] || usage; faults="$2"; shift ;;
	--shared) [ $# -ge 2 ] || usage; shared="$2"; shift 2; continue ;;
	*) usage ;;
	esac
	shift
done
if [ -z "$duration" ]; then
	duration=10m
	[ "$quick" = 1 ] && duration=30s
fi
known_sys=" carpd-carp-resolve carpd-carp-off carpd-vrrp3-resolve carpd-vrrp3-off ucarp keepalived "
for s in ${only//,/ }; do
	[[ "$known_sys" == *" $s "* ]] || { echo "--only: unknown setup $s (one of:$known_sys)" >&2; exit 2; }
done
expanded=
for f in ${faults//,/ }; do
	case "$f" in
	g) expanded="$expanded,g1,g2" ;;
	a|b|c|c2|d|e|f|g1|g2|h|i|j|k) expanded="$expanded,$f" ;;
	*) echo "--faults: unknown fault $f (a b c c2 d e f g g1 g2 h i j k)" >&2; exit 2 ;;
	esac
done
faults="${expanded#,}"
if [ "$(id -u)" -ne 0 ]; then
	echo "faults.sh needs root (network namespaces)" >&2
	exit 1
fi
for p in ucarp keepalived mosquitto nft ip; do
	command -v "$p" >/dev/null || { echo "$p not found (scripts/test.sh installs the packages)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=/tmp/carpd-faults-$$.log
[ "$reportonly" = 1 ] || (cd ../.. && CGO_ENABLED=0 go build -trimpath -o "$tmp/carpd" ./cmd/carpd)
CARPD_FAULTS_OUT="$(cd ../../docs && pwd)" CARPD_FAULTS_CARPD="$tmp/carpd" CARPD_FAULTS_TRIALS="$trials" \
	CARPD_FAULTS_DURATION="$duration" CARPD_FAULTS_QUICK="$quick" CARPD_FAULTS_ONLY="$only" \
	CARPD_FAULTS_FAULTS="$faults" CARPD_FAULTS_COMMAND="$cmd" CARPD_FAULTS_REPORT_ONLY="$reportonly" \
	CARPD_FAULTS_SHARED="$shared" \
	go test -count=1 -timeout 6h -run '^TestFaults$' -v . 2>&1 | tee "$log" |
	grep --line-buffered -E '^(=== RUN|--- FAIL|FAIL|ok|PASS)|two MASTERs|spurious' || true
echo "full log: $log"
if ! grep -q '^ok' "$log"; then
	echo "TestFaults failed (the report lists the failed trials when it was written)" >&2
	exit 1
fi
echo "wrote docs/bench/faults.json and docs/reliability.md"
