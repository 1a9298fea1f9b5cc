//go:build linux

package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
)

// Environment of TestTimerCost.
const (
	// envCostWindows opts in and gives the number of windows measured
	// per system and timer (1..20); the report is their median.
	envCostWindows = "CARPD_COST_WINDOWS"
	// envCostWindow is the length of one window, a duration (default
	// 30s).
	envCostWindow = "CARPD_COST_WINDOW"
	// envCostOnly, when set, keeps the cases whose name contains it
	// ("carpd", "keepalived", "10ms", ...).
	envCostOnly = "CARPD_COST_ONLY"
	// envCostBaseline names a second carpd binary, measured as "carpd
	// baseline" next to carpd at each timer, so that a change is
	// compared with what it changes under the same load.
	envCostBaseline = "CARPD_COST_BASELINE"
	// envCostFloor, when set, adds at each timer a pair whose master is
	// the floor program (./floor: the runtime's poller, a timerfd and a
	// sendto, nothing else) and whose backup is carpd, and one whose
	// master is the C floor (./cfloor: the same on a plain thread, no
	// runtime), when a C compiler is found.
	envCostFloor = "CARPD_COST_FLOOR"
)

// costCase is one pair measured by TestTimerCost: carpd alone (no broker)
// or keepalived alone (no notify scripts), one router, master on n1.
type costCase struct {
	system, timer string
	start         func(t *testing.T, l *lab.Lab, n *lab.Node, master bool) costNode
}

func (c costCase) name() string { return c.system + " " + c.timer }

// costNode is one running side of a pair.
type costNode struct {
	// pids returns the processes whose CPU and RSS count: carpd, or
	// keepalived's parent and its VRRP child.
	pids func() []int
	// state returns "MASTER", "BACKUP" or "" when unknown yet.
	state func() string
}

// costCases are the pairs at each of timers, the systems of one timer one
// after the other (the load of a shared machine drifts less between
// them): carpd and keepalived alone, and, at 100 ms and slower, carpd with
// the classic setup's broker section (probe and heartbeat). baseline, when
// set, adds another carpd binary's cases next to bin's; carp adds CARP at
// advbase 0.
func costCases(bin, baseline string, floors floors, timers []time.Duration, carp bool) []costCase {
	var cases []costCase
	for _, iv := range timers {
		tm := iv.String()
		cases = append(cases, costCase{"carpd VRRPv3", tm, costCarpd(bin, vrrpRouter(iv))})
		if baseline != "" {
			cases = append(cases, costCase{"carpd baseline VRRPv3", tm, costCarpd(baseline, vrrpRouter(iv))})
		}
		if floors.goBin != "" {
			cases = append(cases, costCase{"floor VRRPv3", tm, costFloor(bin, floors.goBin, iv.String(), iv)})
		}
		if floors.cBin != "" {
			ms := strconv.FormatInt(iv.Milliseconds(), 10)
			cases = append(cases, costCase{"C floor VRRPv3", tm, costFloor(bin, floors.cBin, ms, iv)})
		}
		cases = append(cases, costCase{"keepalived VRRPv3", tm, costKeepalived(iv)})
		if iv >= 100*time.Millisecond {
			cases = append(cases, costCase{"carpd+probe VRRPv3", tm, costCarpdProbe(bin, iv)})
			if baseline != "" {
				cases = append(cases, costCase{"carpd+probe baseline VRRPv3", tm, costCarpdProbe(baseline, iv)})
			}
		}
	}
	if carp {
		// advbase 0 advskew 26: CARP's fastest usual setting, 26/256 s.
		cases = append(cases, costCase{"carpd CARP", "advbase 0 advskew 26", costCarpd(bin, carpRouter)})
		if baseline != "" {
			cases = append(cases, costCase{"carpd baseline CARP", "advbase 0 advskew 26", costCarpd(baseline, carpRouter)})
		}
	}
	return cases
}

// TestTimerCost measures the steady-state CPU and RSS of a settled pair
// of carpd and of keepalived at fast advertisement timers, master and
// backup separately (docs/daemon.md, "Cost of an advertisement"). It is
// opt-in: as root,
//
//	CARPD_COST_WINDOWS=5 go test -run '^TestTimerCost$' -v -timeout 60m .
//
// builds carpd as scripts/install.sh does (CGO_ENABLED=0, -trimpath),
// unless CARPD_BENCH_CARPD names a binary; CARPD_COST_BASELINE adds
// another binary's cases, CARPD_COST_FLOOR=1 the floor programs'. CPU is utime+stime from
// /proc/PID/stat (10 ms ticks) and, finer, the sum_exec_runtime of every
// thread from /proc/PID/task/*/schedstat; each figure is the median over
// the windows, which damps other work on a shared machine. run.sh --only
// cost measures the same pairs at 1 s, 100 ms and 50 ms into
// docs/BENCHMARKS.md.
func TestTimerCost(t *testing.T) {
	windows, window := costWindows(t)
	bin := os.Getenv(envCarpd)
	if bin == "" {
		bin = buildCarpd(t)
	}
	var fl floors
	if os.Getenv(envCostFloor) != "" {
		fl = buildFloors(t)
	}
	cases := costCases(bin, os.Getenv(envCostBaseline), fl,
		[]time.Duration{time.Second, 100 * time.Millisecond, 50 * time.Millisecond, 10 * time.Millisecond}, true)
	var rows []string
	for _, r := range measureCost(t, cases, os.Getenv(envCostOnly), windows, window) {
		rows = append(rows, fmt.Sprintf("| %s %s | %s | %.3f (%.3f–%.3f) | %.3f (%.3f–%.3f) | %.1f |", r.System, r.Timer,
			r.Node, r.Stat.Median, r.Stat.Min, r.Stat.Max, r.Sched.Median, r.Sched.Min, r.Sched.Max, r.RSSMiB))
	}
	t.Logf("%d windows of %v each, medians (min–max):\n| system | node | CPU %% (stat) | CPU %% (schedstat) | RSS MiB |\n|---|---|---|---|---|\n%s",
		windows, window, strings.Join(rows, "\n"))
}

// costWindows reads CARPD_COST_WINDOWS and CARPD_COST_WINDOW, skipping the
// test when the first is unset.
func costWindows(t *testing.T) (int, time.Duration) {
	t.Helper()
	if os.Getenv(envCostWindows) == "" {
		t.Skipf("opt-in measurement: set %s (windows per case, 1..20)", envCostWindows)
	}
	windows, err := strconv.Atoi(os.Getenv(envCostWindows))
	if err != nil || windows < 1 || windows > 20 {
		t.Fatalf("%s=%q: want 1..20", envCostWindows, os.Getenv(envCostWindows))
	}
	window := 30 * time.Second
	if s := os.Getenv(envCostWindow); s != "" {
		if window, err = time.ParseDuration(s); err != nil || window < time.Second || window > 5*time.Minute {
			t.Fatalf("%s=%q: want a duration of 1s..5m", envCostWindow, s)
		}
	}
	return windows, window
}

// measureCost runs the cases whose name contains only (all when empty),
// each as a subtest, and returns their rows.
func measureCost(t *testing.T, cases []costCase, only string, windows int, window time.Duration) []CostRow {
	var rows []CostRow
	for _, c := range cases {
		if only != "" && !strings.Contains(c.name(), only) {
			continue
		}
		t.Run(c.name(), func(t *testing.T) {
			rows = append(rows, costPair(t, c, windows, window)...)
		})
	}
	return rows
}

// buildCarpd builds cmd/carpd with the flags of scripts/install.sh.
func buildCarpd(t *testing.T) string { return goBuild(t, "../..", "./cmd/carpd", "carpd") }

// floors are the binaries of the floor programs; "" = not measured.
type floors struct{ goBin, cBin string }

// buildFloors builds the floor program (./floor), as carpd is built, and
// the C floor (./cfloor) with cc, which a machine may lack: then the C
// floor is left out, and said so.
func buildFloors(t *testing.T) floors {
	fl := floors{goBin: goBuild(t, ".", "./floor", "floor")}
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Logf("no C compiler (%v): the C floor is not measured", err)
		return fl
	}
	fl.cBin = filepath.Join(t.TempDir(), "cfloor")
	if out, err := exec.Command(cc, "-O2", "-Wall", "-o", fl.cBin, "cfloor/cfloor.c").CombinedOutput(); err != nil {
		t.Fatalf("building the C floor: %v\n%s", err, out)
	}
	return fl
}

// goBuild builds pkg, from dir, into a temporary binary named name with
// the flags of scripts/install.sh (CGO_ENABLED=0, -trimpath).
func goBuild(t *testing.T, dir, pkg, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, out)
	}
	return bin
}

// costFloor is a pair whose master is a floor program (floor) at
// interval iv, written for its command line as ivArg, priority 150, and
// whose backup is carpd (bin): a floor holds no state, so it reports
// MASTER from the start.
func costFloor(bin, floor, ivArg string, iv time.Duration) func(*testing.T, *lab.Lab, *lab.Node, bool) costNode {
	backup := costCarpd(bin, vrrpRouter(iv))
	return func(t *testing.T, l *lab.Lab, n *lab.Node, master bool) costNode {
		if !master {
			return backup(t, l, n, false)
		}
		p := n.Start(t, floor, n.Iface, n.IP4.Addr().String(), strconv.Itoa(benchID), "150", ivArg, benchVIP)
		return costNode{pids: func() []int { return []int{p.PID} }, state: func() string { return "MASTER" }}
	}
}

// vrrpRouter is the YAML of a VRRPv3 router at interval iv.
func vrrpRouter(iv time.Duration) func(master bool) string {
	return func(master bool) string {
		return fmt.Sprintf("proto: vrrp3, vrid: %d, interval: %v, priority: %d", benchID, iv, pickInt(master, 150, backupPrio))
	}
}

// carpRouter is the YAML of a CARP router at advbase 0: advskew 26 on the
// master, 50 on the backup.
func carpRouter(master bool) string {
	return fmt.Sprintf("proto: carp, vhid: %d, advbase: 0, advskew: %d, password: s3cret", benchID, pickInt(master, 26, backupSkew))
}

func costCarpd(bin string, router func(master bool) string) func(*testing.T, *lab.Lab, *lab.Node, bool) costNode {
	return func(t *testing.T, _ *lab.Lab, n *lab.Node, master bool) costNode {
		dir := t.TempDir()
		return startCostCarpd(t, n, bin, dir, fmt.Sprintf("routers:\n  - {name: r, iface: %s, %s, vips: [%s]}\n",
			n.Iface, router(master), benchVIP))
	}
}

// startCostCarpd starts bin in n with the configuration yaml, written to
// dir.
func startCostCarpd(t *testing.T, n *lab.Node, bin, dir, yaml string) costNode {
	writeFile(t, dir+"/carpd.yaml", yaml, 0o600)
	p := n.Start(t, bin, "run", "--state-dir", dir+"/state", "--log-format", "json", "-c", dir+"/carpd.yaml")
	c := &carpdOnly{proc: p, n: n, dir: dir, bin: bin}
	return costNode{pids: func() []int { return []int{p.PID} }, state: func() string {
		r, err := c.tryReport()
		if err != nil || len(r.Routers) != 1 {
			return ""
		}
		return r.Routers[0].State
	}}
}

// costCarpdProbe is a carpd VRRPv3 pair at interval iv with the broker
// section of the benchmark's pairs: Mosquitto bridged, the probe with its
// peer set, hence the heartbeat. Only carpd's CPU counts, not Mosquitto's.
func costCarpdProbe(bin string, iv time.Duration) func(*testing.T, *lab.Lab, *lab.Node, bool) costNode {
	return func(t *testing.T, l *lab.Lab, n *lab.Node, master bool) costNode {
		dir := t.TempDir()
		return startCostCarpd(t, n, bin, dir, fmt.Sprintf("broker:\n  config: %s\n  ready_timeout: 5s\n  stop_timeout: 2s\n"+
			"  probe: {topic: home/carpd-probe, peer: '%s'}\n"+
			"routers:\n  - {name: r, iface: %s, %s, vips: [%s]}\n",
			mosquittoConf(t, l, n, dir, false), peerOf(l, n).IP4.Addr(), n.Iface, vrrpRouter(iv)(master), benchVIP))
	}
}

func costKeepalived(iv time.Duration) func(*testing.T, *lab.Lab, *lab.Node, bool) costNode {
	return func(t *testing.T, _ *lab.Lab, n *lab.Node, master bool) costNode {
		dir := t.TempDir()
		p := startKeepalivedProc(t, n, dir, benchID, pickInt(master, 150, backupPrio), iv, benchVIP, false)
		return costNode{pids: func() []int {
			pids := []int{p.PID}
			for _, pid := range namespacePIDs(t, n) {
				if pid != p.PID && comm(pid) == "keepalived" {
					pids = append(pids, pid)
				}
			}
			return pids
		}, state: func() string {
			out := p.Output()
			m, b := strings.LastIndex(out, "Entering MASTER STATE"), strings.LastIndex(out, "Entering BACKUP STATE")
			switch {
			case m < 0 && b < 0:
				return ""
			case m > b:
				return "MASTER"
			}
			return "BACKUP"
		}}
	}
}

// costPair settles one pair of c and measures it over windows, returning
// the rows of master and backup.
func costPair(t *testing.T, c costCase, windows int, window time.Duration) []CostRow {
	l := lab.New(t, 2, lab.WithoutIPv6())
	a := c.start(t, l, l.Nodes[0], true)
	lab.Wait(t, 20*time.Second, "n1 MASTER", func() bool { return a.state() == "MASTER" })
	b := c.start(t, l, l.Nodes[1], false)
	lab.Wait(t, 20*time.Second, "n2 BACKUP", func() bool { return b.state() == "BACKUP" })
	// Start-up work (config parsing, the first GC cycles) is not the
	// steady state.
	time.Sleep(3 * time.Second)
	nodes := [2]costNode{a, b}
	var pids [2][]int
	for i, n := range nodes {
		pids[i] = n.pids()
	}
	var stat, sched, rss [2][]float64
	for w := 0; w < windows; w++ {
		var before [2]procSample
		var beforeNS [2]int64
		for i := range nodes {
			before[i], beforeNS[i] = sample(t, pids[i]), schedNS(t, pids[i])
		}
		start := time.Now()
		time.Sleep(window)
		el := time.Since(start).Seconds()
		for i := range nodes {
			after, ns := sample(t, pids[i]), schedNS(t, pids[i])
			stat[i] = append(stat[i], 100*float64(after.ticks-before[i].ticks)/clockTicks/el)
			sched[i] = append(sched[i], 100*float64(ns-beforeNS[i])/1e9/el)
			rss[i] = append(rss[i], float64(after.rssKiB)/1024)
			t.Logf("window %d %s: CPU %.3f %% (stat), %.3f %% (schedstat), RSS %.1f MiB, %d processes", w+1,
				pick(i == 0, "master", "backup"), stat[i][w], sched[i][w], rss[i][w], len(pids[i]))
		}
	}
	if sa, sb := a.state(), b.state(); sa != "MASTER" || sb != "BACKUP" {
		t.Errorf("after the windows n1 is %q and n2 %q: the pair did not stay settled", sa, sb)
	}
	var rows []CostRow
	for i := range nodes {
		rows = append(rows, CostRow{System: c.system, Timer: c.timer, Node: pick(i == 0, "master", "backup"),
			Stat: stats(stat[i]), Sched: stats(sched[i]), RSSMiB: stats(rss[i]).Median})
	}
	return rows
}

// schedNS sums the CPU time in nanoseconds (first field of schedstat) of
// every live thread of pids; unlike /proc/PID/stat it is not rounded to
// clock ticks.
func schedNS(t *testing.T, pids []int) int64 {
	t.Helper()
	var sum int64
	for _, pid := range pids {
		tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
		if err != nil || len(tasks) == 0 {
			t.Fatalf("listing threads of PID %d: %v", pid, err)
		}
		for _, f := range tasks {
			b, err := os.ReadFile(f)
			if err != nil {
				continue // a thread that just ended
			}
			v, _ := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
			sum += v
		}
	}
	return sum
}
