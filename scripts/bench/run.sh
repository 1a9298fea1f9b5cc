#!/usr/bin/env bash
# scripts/bench/run.sh: the side-by-side benchmark against ucarp and keepalived. As root on
# Linux, it builds carpd, runs TestBench (an opt-in test of this separate
# module, skipped everywhere else) in network namespaces of the netns lab,
# and regenerates docs/BENCHMARKS.md, docs/bench/results.json and the PNG
# plots in docs/bench/.
#
#   scripts/bench/run.sh            full run: 5 trials, 60 s steady state, 1 s and 100 ms timers (< 45 min),
#                                   then the sub-second pairs (about 85 min more with 10 min windows)
#   scripts/bench/run.sh --quick    1 trial, 5 s windows (steady state, load, flood), 1 s timers only,
#                                   255 routers, the wrong-HMAC flood at 50000 pps only, sub-second
#                                   pairs with 10 s windows (< 8 min)
#   scripts/bench/run.sh --trials N override the trial count (1..50)
#   scripts/bench/run.sh --no-fast  skip the 100 ms VRRPv3 set
#   scripts/bench/run.sh --report-only  rewrite the report and plots from docs/bench/results.json
#                                   (after a run that was cut short)
#   scripts/bench/run.sh --stability DUR  window of the sub-second pairs, idle and again
#                                   loaded, per pair: default 10m (the full run then takes about
#                                   85 min more), 10s with --quick; 5s..15m
#   scripts/bench/run.sh --no-subsecond  skip the sub-second pairs; the report keeps those of docs/bench/results.json
#   scripts/bench/run.sh --only subsecond  measure the sub-second pairs alone and merge them into
#                                   docs/bench/results.json (the other parts keep their figures)
#   scripts/bench/run.sh --only cost  CPU of settled carpd and keepalived pairs (and the floors) at 1 s, 100 ms and 50 ms
#                                   (TestTimerCost's pairs; 5 windows of 20 s each, about 15 min),
#                                   merged into docs/bench/results.json
#   scripts/bench/run.sh --only subsecond --systems carpd  re-measure only the pairs whose system
#                                   name starts with one of these comma-separated prefixes; the
#                                   other pairs keep their rows, the report says which were redone
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

trials=5 window=60s fast=1 quick=0 reportonly=0 stability= only= systems=
cmd="scripts/bench/run.sh${*:+ $*}"
while (($#)); do
	case "$1" in
	--quick) quick=1 trials=1 window=5s fast=0 ;;
	--report-only) reportonly=1 ;;
	--trials) trials="$2"; shift ;;
	--no-fast) fast=0 ;;
	--fast) fast=1 ;;
	--stability) stability="$2"; shift ;;
	--no-subsecond) stability=0 ;;
	--systems) systems="$2"; shift ;;
	--only)
		case "${2:-}" in
		subsecond | cost) only="$2" ;;
		*) echo "--only: 'subsecond' or 'cost'" >&2; exit 2 ;;
		esac
		shift ;;
	*) echo "usage: $0 [--quick] [--trials N] [--no-fast|--fast] [--stability DUR|--no-subsecond]" \
		"[--only subsecond [--systems PREFIX,...] | --only cost] [--report-only]" >&2; exit 2 ;;
	esac
	shift
done
if [ -z "$stability" ]; then
	stability=10m
	[ "$quick" = 1 ] && stability=10s
fi
# Ten-minute windows for six pairs do not fit in an hour.
timeout=60m
[ "$stability" != 0 ] && [ "$quick" = 0 ] && timeout=4h
if [ "$only" = subsecond ] && [ "$stability" = 0 ]; then
	echo "--only subsecond with --no-subsecond measures nothing" >&2
	exit 2
fi
if [ -n "$systems" ] && [ "$only" != subsecond ]; then
	echo "--systems only goes with --only subsecond" >&2
	exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "run.sh needs root (network namespaces)" >&2
	exit 1
fi
for p in ucarp keepalived mosquitto nft ip tcpdump; do
	command -v "$p" >/dev/null || { echo "$p not found (scripts/test.sh installs the packages)" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log=/tmp/carpd-bench-$$.log
# Built as scripts/install.sh builds it, so the figures are those of the installed daemon.
(cd ../.. && CGO_ENABLED=0 go build -trimpath -o "$tmp/carpd" ./cmd/carpd)
CARPD_BENCH_OUT="$(cd ../../docs && pwd)" CARPD_BENCH_CARPD="$tmp/carpd" CARPD_BENCH_TRIALS="$trials" \
	CARPD_BENCH_WINDOW="$window" CARPD_BENCH_FAST="$fast" CARPD_BENCH_QUICK="$quick" \
	CARPD_BENCH_COMMAND="$cmd" CARPD_BENCH_REPORT_ONLY="$reportonly" \
	CARPD_BENCH_STABILITY="$stability" CARPD_BENCH_ONLY="$only" CARPD_BENCH_SYSTEMS="$systems" \
	CARPD_COST_WINDOWS="${CARPD_COST_WINDOWS:-5}" CARPD_COST_WINDOW="${CARPD_COST_WINDOW:-20s}" \
	go test -count=1 -timeout "$timeout" -run '^TestBench$' -v . 2>&1 | tee "$log" |
	grep --line-buffered -E '^(=== RUN|--- FAIL|FAIL|ok|PASS)|: takeover |CPU .* over|pps for|spurious|gaps p50|killed, takeover' || true
echo "full log: $log"
if ! grep -q '^ok' "$log"; then
	echo "TestBench failed (failed trials are listed in the report when it was written)" >&2
	exit 1
fi
echo "wrote docs/BENCHMARKS.md and docs/bench/"
