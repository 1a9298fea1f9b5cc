//go:build linux

package bench

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Environment of TestBench, set by run.sh.
const (
	// envOut opts in: the directory receiving results.json, the plots
	// and BENCHMARKS.md (the repository's docs/).
	envOut     = "CARPD_BENCH_OUT"
	envCarpd   = "CARPD_BENCH_CARPD"   // the carpd binary
	envTrials  = "CARPD_BENCH_TRIALS"  // trials per system and scenario
	envWindow  = "CARPD_BENCH_WINDOW"  // steady-state window, a duration
	envFast    = "CARPD_BENCH_FAST"    // "1": also the 100 ms VRRPv3 set
	envCommand = "CARPD_BENCH_COMMAND" // how the run was started, for the report
	envQuick   = "CARPD_BENCH_QUICK"   // "1": label the report a quick run
	// envReportOnly "1" rewrites the report from results.json alone, for
	// a run that was cut short.
	envReportOnly = "CARPD_BENCH_REPORT_ONLY"
	// envStability is each window of the sub-second pairs (idle, then
	// loaded), a duration; "0" or unset skips them.
	envStability = "CARPD_BENCH_STABILITY"
	// envOnly "subsecond" measures the sub-second pairs alone and merges
	// them into the existing results.json; "cost" does the same for the
	// CPU of the fast-timer pairs (TestTimerCost's, with its
	// CARPD_COST_WINDOWS and CARPD_COST_WINDOW).
	envOnly = "CARPD_BENCH_ONLY"
	// envSystems, with envOnly=subsecond, re-measures only the pairs of
	// these comma-separated system name prefixes ("carpd") and keeps the
	// earlier run's rows of the others.
	envSystems = "CARPD_BENCH_SYSTEMS"
)

// TestBench measures every system and scenario and writes the report. It
// is a benchmark, not a check: it runs only under scripts/bench/run.sh.
func TestBench(t *testing.T) {
	out := os.Getenv(envOut)
	if out == "" {
		t.Skipf("opt-in benchmark: run scripts/bench/run.sh (sets %s)", envOut)
	}
	if os.Getenv(envReportOnly) == "1" {
		reportOnly(t, out)
		return
	}
	carpd := os.Getenv(envCarpd)
	trials, err := strconv.Atoi(os.Getenv(envTrials))
	if err != nil || trials < 1 || trials > 50 {
		t.Fatalf("%s=%q: want 1..50", envTrials, os.Getenv(envTrials))
	}
	window, err := time.ParseDuration(os.Getenv(envWindow))
	if err != nil || window < time.Second || window > 5*time.Minute {
		t.Fatalf("%s=%q: want a duration of 1s..5m", envWindow, os.Getenv(envWindow))
	}
	run := Run{
		Started: time.Now().UTC().Format(time.RFC3339), Command: os.Getenv(envCommand),
		Quick: os.Getenv(envQuick) == "1", Trials: trials, WindowS: window.Seconds(), Machine: machine(carpd),
		Client: clientSettings(), FailbackPreempt: true,
	}
	save := func() {
		b, err := json.MarshalIndent(run, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(out, "bench", "results.json"), string(b)+"\n", 0o644)
	}
	if err := os.MkdirAll(filepath.Join(out, "bench"), 0o755); err != nil {
		t.Fatal(err)
	}
	stability, err := time.ParseDuration(cmp.Or(os.Getenv(envStability), "0"))
	if err != nil || (stability != 0 && (stability < 5*time.Second || stability > 15*time.Minute)) {
		t.Fatalf("%s=%q: want 0 or a duration of 5s..15m", envStability, os.Getenv(envStability))
	}
	// The sub-second part has its own metadata: run.sh --only subsecond
	// merges it into the results of an earlier run.
	sub := Subsecond{Command: run.Command, Quick: run.Quick, WindowS: stability.Seconds(), Machine: run.Machine}
	runSub := func() {
		run.Subsecond = &sub
		sub.Started = time.Now().UTC().Format(time.RFC3339)
		subsecond(t, carpd, &sub, stability, nil, save)
		sub.Finished = time.Now().UTC().Format(time.RFC3339)
	}
	switch only := os.Getenv(envOnly); only {
	case "":
	case "subsecond":
		if stability == 0 {
			t.Fatalf("%s=subsecond with %s=0", envOnly, envStability)
		}
		// The other parts keep the figures of the run that made them.
		machine := run.Machine
		if b, err := os.ReadFile(filepath.Join(out, "bench", "results.json")); err == nil {
			run = Run{}
			if err := json.Unmarshal(b, &run); err != nil {
				t.Fatal(err)
			}
		} else {
			run.Finished = run.Started
		}
		var prefixes []string
		if v := os.Getenv(envSystems); v != "" {
			prefixes = strings.Split(v, ",")
		}
		if prefixes == nil || run.Subsecond == nil {
			runSub()
			save()
			if err := WriteReport(out, run); err != nil {
				t.Fatal(err)
			}
			return
		}
		// A partial re-measurement: the picked systems' rows are
		// replaced, the run keeps its own metadata and records this one.
		sub = *run.Subsecond
		sub.drop(prefixes)
		re := Rerun{Systems: prefixes, Command: os.Getenv(envCommand), WindowS: stability.Seconds(), Machine: machine,
			Started: time.Now().UTC().Format(time.RFC3339)}
		run.Subsecond = &sub
		subsecond(t, carpd, &sub, stability, prefixes, save)
		re.Finished = time.Now().UTC().Format(time.RFC3339)
		sub.Reruns = append(sub.Reruns, re)
		save()
		if err := WriteReport(out, run); err != nil {
			t.Fatal(err)
		}
		return
	case "cost":
		// The other parts keep the figures of the run that made them.
		b, err := os.ReadFile(filepath.Join(out, "bench", "results.json"))
		if err != nil {
			t.Fatalf("%s=cost adds to an earlier run's results: %v", envOnly, err)
		}
		cost := Cost{Command: run.Command, Machine: run.Machine, Started: time.Now().UTC().Format(time.RFC3339)}
		run = Run{}
		if err := json.Unmarshal(b, &run); err != nil {
			t.Fatal(err)
		}
		windows, window := costWindows(t)
		cost.Windows, cost.WindowS = windows, window.Seconds()
		cost.Rows = measureCost(t, costCases(carpd, "", buildFloors(t), []time.Duration{time.Second, 100 * time.Millisecond, 50 * time.Millisecond}, false),
			"", windows, window)
		cost.Finished = time.Now().UTC().Format(time.RFC3339)
		run.Cost = &cost
		save()
		if err := WriteReport(out, run); err != nil {
			t.Fatal(err)
		}
		return
	default:
		t.Fatalf("%s=%q: want subsecond, cost or nothing", envOnly, only)
	}
	// The cost pairs (run.sh --only cost) are measured only on request,
	// and so is the sub-second part with run.sh --no-subsecond, which is
	// long: keep the figures of the runs that made them.
	if b, err := os.ReadFile(filepath.Join(out, "bench", "results.json")); err == nil {
		var prev Run
		if err := json.Unmarshal(b, &prev); err != nil {
			t.Fatal(err)
		}
		run.Cost = prev.Cost
		if stability == 0 {
			run.Subsecond = prev.Subsecond
		}
	}
	syss := systems(carpd, os.Getenv(envFast) == "1")
	for _, sys := range syss {
		run.Timers = append(run.Timers, Timer{System: sys.name, Timer: sys.timer,
			BoundMS: ms(sys.bound), SkewMS: ms(sys.skewTime)})
	}
	// The steady state is measured on the settled pair of each system's
	// first node-death trial, before its clients connect: one pair
	// fewer to build per system.
	for _, f := range faults()[:2] {
		for _, sys := range syss {
			for i := 1; i <= trials; i++ {
				var measure func(*testing.T, [2]*node)
				if f.name == "node death" && i == 1 {
					measure = func(t *testing.T, nodes [2]*node) {
						run.Steady = append(run.Steady, steady(t, sys, nodes, window)...)
					}
				}
				t.Run(fmt.Sprintf("%s/%s/%s/%d", f.name, sys.name, sys.timer, i), func(t *testing.T) {
					r := Trial{System: sys.name, Timer: sys.timer, Scenario: f.name, TakeoverMS: -1, OutageMS: -1,
						Error: "trial failed before the fault"}
					defer func() { run.Results = append(run.Results, r) }()
					r = runTrial(t, sys, f, measure)
				})
				save()
			}
		}
	}
	// A quick run keeps the hardest case of each, to stay within its 5
	// minutes: 255 routers, and the wrong-HMAC flood (the verification
	// path) at 50000 pps.
	counts, rates, kinds := []int{1, 16, 255}, []int{10000, 50000}, []string{"wrong HMAC", "wrong vhid"}
	if run.Quick {
		counts, rates, kinds = []int{255}, []int{50000}, kinds[:1]
	}
	for _, count := range counts {
		t.Run(fmt.Sprintf("scale/%d", count), func(t *testing.T) {
			run.Scale = append(run.Scale, scale(t, carpd, count, window)...)
		})
		save()
	}
	floodFor := min(30*time.Second, window)
	for _, kind := range kinds {
		for _, rate := range rates {
			t.Run(fmt.Sprintf("flood/%s/%d", kind, rate), func(t *testing.T) {
				run.Floods = append(run.Floods, floodTrial(t, carpd, kind, rate, floodFor))
			})
			save()
		}
	}
	for _, f := range faults()[2:] {
		for _, sys := range syss {
			for i := 1; i <= trials; i++ {
				t.Run(fmt.Sprintf("%s/%s/%s/%d", f.name, sys.name, sys.timer, i), func(t *testing.T) {
					r := Trial{System: sys.name, Timer: sys.timer, Scenario: f.name, TakeoverMS: -1, OutageMS: -1,
						Error: "trial failed before the fault"}
					defer func() { run.Results = append(run.Results, r) }()
					r = runTrial(t, sys, f, nil)
				})
				save()
			}
		}
	}
	for _, sys := range syss {
		for i := 1; i <= trials; i++ {
			t.Run(fmt.Sprintf("failback/%s/%s/%d", sys.name, sys.timer, i), func(t *testing.T) {
				r := Trial{System: sys.name, Timer: sys.timer, Scenario: "failback", TakeoverMS: -1, OutageMS: -1,
					Error: "trial failed before the fault"}
				defer func() { run.Results = append(run.Results, r) }()
				r = runFailback(t, sys)
			})
			save()
		}
	}
	if stability > 0 {
		runSub()
	}
	run.Finished = time.Now().UTC().Format(time.RFC3339)
	save()
	if err := WriteReport(out, run); err != nil {
		t.Fatal(err)
	}
}

// steady watches the settled pair nodes of sys for window and reports the
// CPU time and RSS of each node's daemon processes (not its broker or
// scripts).
func steady(t *testing.T, sys system, nodes [2]*node, window time.Duration) []Steady {
	var out []Steady
	var before [2]procSample
	var pids [2][]int
	for i, n := range nodes {
		pids[i] = daemonPIDs(t, n)
		before[i] = sample(t, pids[i])
	}
	start := time.Now()
	time.Sleep(window)
	for i, n := range nodes {
		after := sample(t, pids[i])
		el := time.Since(start).Seconds()
		cpu := float64(after.ticks-before[i].ticks) / clockTicks
		out = append(out, Steady{System: sys.name, Timer: sys.timer, Node: pick(i == 0, "master", "backup"),
			Procs: len(pids[i]), CPUSeconds: cpu, CPUPercent: 100 * cpu / el, RSSKiB: after.rssKiB, AnonKiB: after.anonKiB,
			WindowS: el})
		t.Logf("%s %s %s: %d processes, CPU %.2f s over %.0f s (%.3f %%), RSS %d KiB", sys.name, sys.timer,
			n.n.Name, len(pids[i]), cpu, el, 100*cpu/el, after.rssKiB)
	}
	return out
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

func pick(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}

// daemonPIDs is the daemon process and, for keepalived, the children it
// forked (its VRRP process), found by name in the node's namespace.
func daemonPIDs(t *testing.T, n *node) []int {
	t.Helper()
	pids := []int{n.daemon.PID}
	for _, pid := range namespacePIDs(t, n.n) {
		if pid != n.daemon.PID && comm(pid) == "keepalived" {
			pids = append(pids, pid)
		}
	}
	return pids
}

func comm(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(b))
}

type procSample struct {
	ticks   int64
	rssKiB  int64
	anonKiB int64
}

// sample sums utime+stime (/proc/PID/stat fields 14 and 15), VmRSS and
// RssAnon of pids.
func sample(t *testing.T, pids []int) procSample {
	t.Helper()
	var s procSample
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatalf("reading stat of PID %d: %v", pid, err)
		}
		// Fields after the command name, which may hold spaces:
		// f[0] is field 3 (state), so utime (14) is f[11].
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b[i+1:]))
		for _, k := range []int{11, 12} {
			v, _ := strconv.ParseInt(f[k], 10, 64)
			s.ticks += v
		}
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, line := range strings.Split(string(st), "\n") {
			key, rest, _ := strings.Cut(line, ":")
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			switch key {
			case "VmRSS":
				s.rssKiB += v
			case "RssAnon":
				s.anonKiB += v
			}
		}
	}
	return s
}

func clientSettings() string {
	return fmt.Sprintf("paho.mqtt.golang via internal/mqttstream: keepalive 1 s, ping timeout 1 s, TCP connect "+
		"timeout %v (dialer; paho's CONNACK wait is mqttstream's 1 s), connect retry and max reconnect interval %v, "+
		"clean session, auto-reconnect, re-subscribe in OnConnect; QoS 1 publisher every 10 ms with sequence "+
		"numbers and a QoS 1 subscriber, both on VIP:1883 from the client namespace", clientDialTimeout, clientRetry)
}

// reportOnly rewrites the report and plots from dir/bench/results.json.
func reportOnly(t *testing.T, dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "bench", "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var run Run
	if err := json.Unmarshal(b, &run); err != nil {
		t.Fatal(err)
	}
	if err := WriteReport(dir, run); err != nil {
		t.Fatal(err)
	}
}
