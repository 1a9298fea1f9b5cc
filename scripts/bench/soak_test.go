//go:build linux

package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
)

// Environment of TestSoak.
const (
	// envSoakDuration opts in: how long the master moves, a duration
	// (1m..6h).
	envSoakDuration = "CARPD_SOAK_DURATION"
	// envSoakOut is the directory receiving soak.json and soak.md
	// (default the repository's docs/bench).
	envSoakOut = "CARPD_SOAK_OUT"
	// envSoakEnv adds space-separated KEY=VALUE pairs to carpd's
	// environment (GOGC=50, GOMEMLIMIT=8MiB, GODEBUG=madvdontneed=1: its
	// GODEBUG joins the trace settings), to compare memory behaviour.
	envSoakEnv = "CARPD_SOAK_ENV"
	// envSoakIdle "1" samples the pair without moving its master: the
	// control that separates what the demotes cost from what a carpd
	// reaches anyway.
	envSoakIdle = "CARPD_SOAK_IDLE"
	// envSoakCommand is how the run was started, for the report.
	envSoakCommand = "CARPD_SOAK_COMMAND"
)

const (
	soakCycle   = 10 * time.Second // a demote every cycle
	soakUndo    = 5 * time.Second  // undone this long after
	soakDemote  = 100              // advskew 0+100 is above the peer's 50
	soakRouter  = "mqtt"
	soakMetrics = "127.0.0.1:9112" // in each node's own namespace
	// soakGODEBUG makes the runtime log every GC cycle and scavenger
	// pass to carpd's log, where the soak reads heap goal and released
	// memory that the metrics endpoint does not serve.
	soakGODEBUG = "gctrace=1,scavtrace=1"
)

// soakNode is one running carpd of the pair.
type soakNode struct {
	n    *lab.Node
	proc *lab.Proc
	dir  string
	log  logReader
	off  int64
}

// TestSoak moves the master of a carpd pair every 10 s for
// CARPD_SOAK_DURATION and samples both carpd processes every minute, to
// see whether their memory, goroutines and fds level off (issue 13). As
// root, from scripts/bench:
//
//	CARPD_SOAK_DURATION=1h go test -count=1 -timeout 75m -run '^TestSoak$' -v .
//
// builds carpd as scripts/install.sh does unless CARPD_BENCH_CARPD names
// a binary, and writes soak.json and soak.md to CARPD_SOAK_OUT (default
// ../../docs/bench). soak.json is rewritten after every sample, so a run
// cut short keeps what it measured.
func TestSoak(t *testing.T) {
	ds := os.Getenv(envSoakDuration)
	if ds == "" {
		t.Skipf("opt-in soak: set %s (1m..6h)", envSoakDuration)
	}
	dur, err := time.ParseDuration(ds)
	if err != nil || dur < time.Minute || dur > 6*time.Hour {
		t.Fatalf("%s=%q: want a duration of 1m..6h", envSoakDuration, ds)
	}
	// Settling, the idle sample and the shutdown take about a minute.
	if dl, ok := t.Deadline(); ok && time.Until(dl) < dur+3*time.Minute {
		t.Fatalf("go test -timeout leaves %v, the soak needs %v plus 3m: raise -timeout",
			time.Until(dl).Round(time.Second), dur)
	}
	out := cmp.Or(os.Getenv(envSoakOut), filepath.Join("..", "..", "docs", "bench"))
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	lookPath(t, "mosquitto")
	lookPath(t, "nft")
	bin := os.Getenv(envCarpd)
	if bin == "" {
		bin = buildCarpd(t)
	}
	env, err := soakEnv(os.Getenv(envSoakEnv))
	if err != nil {
		t.Fatalf("%s: %v", envSoakEnv, err)
	}
	run := SoakRun{Started: time.Now().UTC().Format(time.RFC3339), DurationS: dur.Seconds(), CarpdEnv: env,
		VHID: benchID, Advskew: [2]int{0, backupSkew}, Idle: os.Getenv(envSoakIdle) == "1",
		Machine: machine(bin), LoadStart: loadAvg(),
		Command: cmp.Or(os.Getenv(envSoakCommand), fmt.Sprintf("cd scripts/bench && %s=%s go test -count=1 "+
			"-timeout %v -run '^TestSoak$' -v .", envSoakDuration, ds, (dur+15*time.Minute).Round(time.Minute)))}
	if os.Getenv(envSoakCommand) == "" {
		for _, k := range []string{envSoakEnv, envSoakIdle} {
			if e := os.Getenv(k); e != "" {
				run.Command = strings.Replace(run.Command, "&& ", fmt.Sprintf("&& %s=%q ", k, e), 1)
			}
		}
	}
	save := func() {
		b, err := json.MarshalIndent(run, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(out, "soak.json"), string(b)+"\n", 0o644)
		writeFile(t, filepath.Join(out, "soak.md"), soakMarkdown(run), 0o644)
	}

	l := lab.New(t, 2, lab.WithoutIPv6())
	vip := netip.MustParseAddr(benchVIP)
	var nodes [2]*soakNode
	nodes[0] = startSoakNode(t, l, l.Nodes[0], bin, env, true)
	lab.Wait(t, 20*time.Second, "n1 MASTER", func() bool { return nodes[0].state(t) == "MASTER" })
	nodes[1] = startSoakNode(t, l, l.Nodes[1], bin, env, false)
	lab.Wait(t, 20*time.Second, "n2 BACKUP", func() bool { return nodes[1].state(t) == "BACKUP" })
	// Start-up (config, first broker start, the bridge connecting) is
	// over well within this; minute 0 is the settled, idle pair.
	time.Sleep(15 * time.Second)
	if s0, s1 := nodes[0].state(t), nodes[1].state(t); s0 != "MASTER" || s1 != "BACKUP" {
		t.Fatalf("before the first demote n1 is %s and n2 %s", s0, s1)
	}
	for i, n := range nodes {
		run.Baseline[i] = n.counts(t)
	}
	run.Samples = append(run.Samples, soakSample(t, nodes, 0, 0))
	save()

	var handover, preempt []float64
	start := time.Now()
	next := time.Minute
	for c := 0; time.Duration(c)*soakCycle < dur; c++ {
		at := start.Add(time.Duration(c) * soakCycle)
		// Each minute's sample is taken a second before its demote, 4 s
		// after the last preemption: the same point of every cycle.
		if off := time.Duration(c) * soakCycle; off >= next {
			time.Sleep(time.Until(at.Add(-time.Second)))
			run.Samples = append(run.Samples, soakSample(t, nodes, off.Minutes(), run.Demotes))
			next += time.Minute
			save()
		}
		time.Sleep(time.Until(at))
		if run.Idle {
			continue
		}
		// n1 is the master here unless a preemption was missed; the
		// demote goes to whichever node is, so a miss costs one cycle.
		m, b := nodes[0], nodes[1]
		if m.state(t) != "MASTER" {
			m, b = b, m
		}
		ms, ok := soakMove(t, bin, m, b, soakDemote, at.Add(soakUndo-200*time.Millisecond))
		run.Demotes++
		if ok {
			handover = append(handover, ms)
		} else {
			run.MissedHandovers++
			t.Logf("cycle %d: no handover from %s to %s within %v", c, m.n.Name, b.n.Name, soakUndo)
		}
		time.Sleep(time.Until(at.Add(soakUndo)))
		ms, ok = soakMove(t, bin, m, b, -soakDemote, at.Add(soakCycle-200*time.Millisecond))
		run.Undos++
		if ok {
			preempt = append(preempt, ms)
		} else {
			run.MissedPreemptions++
			t.Logf("cycle %d: %s did not preempt back within %v", c, m.n.Name, soakCycle-soakUndo)
		}
	}
	end := dur.Truncate(soakCycle)
	time.Sleep(time.Until(start.Add(end - time.Second)))
	run.Samples = append(run.Samples, soakSample(t, nodes, end.Minutes(), run.Demotes))
	run.HandoverMS, run.PreemptMS = stats(handover), stats(preempt)
	for i, n := range nodes {
		run.Final[i] = n.counts(t)
	}
	save()

	// The same check on the running pair must see the master's VIP and
	// table and both nodes' processes, or its "nothing" would prove nothing.
	if seen := strings.Join(soakLeftovers(t, nodes, vip), "; "); !strings.Contains(seen, "n1 holds") ||
		!strings.Contains(seen, "n1 has nft table ip carpd") || !strings.Contains(seen, "(mosquitto)") {
		t.Fatalf("the leftover check on the running pair saw only: %s", seen)
	}
	// Both stop at once, as a node's shutdown does; each removes its VIP,
	// its DNAT table and its broker on the way out.
	for _, n := range nodes {
		if err := n.proc.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := n.proc.Wait(ctx)
		cancel()
		if err != nil {
			run.ExitErrors = append(run.ExitErrors, fmt.Sprintf("%s: %v", n.n.Name, err))
			n.proc.Kill()
		}
	}
	run.Leftovers = soakLeftovers(t, nodes, vip)
	run.LoadEnd = loadAvg()
	run.Finished = time.Now().UTC().Format(time.RFC3339)
	v := judgeSoak(run)
	run.Verdict = &v
	save()
	t.Logf("soak: %d demotes, %d undos, handover median %.0f ms, preemption median %.0f ms; verdict pass=%v %v",
		run.Demotes, run.Undos, run.HandoverMS.Median, run.PreemptMS.Median, v.Pass, v.Failures)
	if !v.Pass {
		t.Errorf("soak failed: %s", strings.Join(v.Failures, "; "))
	}
}

// soakEnv is carpd's extra environment: the trace settings, joined by
// extra's GODEBUG if it has one, and extra's other pairs.
func soakEnv(extra string) ([]string, error) {
	godebug := soakGODEBUG
	var env []string
	for _, kv := range strings.Fields(extra) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not KEY=VALUE", kv)
		}
		if k == "GODEBUG" {
			godebug += "," + v
			continue
		}
		env = append(env, kv)
	}
	return append([]string{"GODEBUG=" + godebug}, env...), nil
}

// startSoakNode starts carpd on n with one CARP router and the broker
// section, its metrics endpoint on the namespace's loopback.
func startSoakNode(t *testing.T, l *lab.Lab, n *lab.Node, bin string, env []string, master bool) *soakNode {
	t.Helper()
	dir := t.TempDir()
	conf := mosquittoConf(t, l, n, dir, false)
	yaml := fmt.Sprintf(`metrics_listen: "%s"
broker:
  config: %s
  on_promote: restart
  nat: dnat
  ready_timeout: 5s
  stop_timeout: 2s
routers:
  - name: %s
    iface: %s
    proto: carp
    vhid: %d
    advbase: 1
    advskew: %d
    password: s3cret
    preempt: true
    vips: [%s]
`, soakMetrics, conf, soakRouter, n.Iface, benchID, pickInt(master, 0, backupSkew), benchVIP)
	writeFile(t, dir+"/carpd.yaml", yaml, 0o600)
	// env(1) execs carpd in place: the PID is carpd's.
	argv := append(append([]string{"env"}, env...), bin, "run", "--state-dir", dir+"/state", "--log-format", "json",
		"-c", dir+"/carpd.yaml")
	return &soakNode{n: n, proc: n.Start(t, argv...), dir: dir}
}

// counts reads what the node's log gained since the last call.
func (s *soakNode) counts(t *testing.T) SoakCounts {
	t.Helper()
	f, err := os.Open(s.proc.Log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(s.off, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	s.off += int64(len(b))
	s.log.feed(b)
	return s.log.SoakCounts
}

// state is the state the node's last logged transition went to, "" before
// any.
func (s *soakNode) state(t *testing.T) string {
	return s.counts(t).State
}

// soakMove changes m's demotion by n and waits until m and b have both
// logged their transition, or until deadline; it returns the time from
// the command's return to the later of the two lines being read.
func soakMove(t *testing.T, bin string, m, b *soakNode, n int, deadline time.Time) (float64, bool) {
	t.Helper()
	mc, bc := m.counts(t), b.counts(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	out, err := m.n.Run(ctx, bin, "demote", "--state-dir", m.dir+"/state", "-n", strconv.Itoa(n), soakRouter)
	cancel()
	if err != nil {
		t.Fatalf("demote on %s: %v", m.n.Name, err)
	}
	sent := time.Now()
	moved := func() bool {
		m2, b2 := m.counts(t), b.counts(t)
		if n > 0 {
			return m2.ToBackup > mc.ToBackup && b2.ToMaster > bc.ToMaster
		}
		return m2.ToMaster > mc.ToMaster && b2.ToBackup > bc.ToBackup
	}
	ctx, cancel = context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := lab.WaitFor(ctx, 20*time.Millisecond, moved); err != nil {
		t.Logf("%s demote %d: %s", m.n.Name, n, strings.TrimSpace(string(out)))
		return 0, false
	}
	return ms(time.Since(sent)), true
}

// soakSample reads both carpd processes: /proc first, so the scrape's own
// connection is not among the fds.
func soakSample(t *testing.T, nodes [2]*soakNode, minute float64, demotes int) SoakSample {
	t.Helper()
	s := SoakSample{Minute: float64(int(minute*100+0.5)) / 100, Demotes: demotes}
	for i, n := range nodes {
		p := &s.Nodes[i]
		pid := n.proc.PID
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatalf("%s: %v", n.n.Name, err)
		}
		for _, line := range strings.Split(string(st), "\n") {
			key, rest, _ := strings.Cut(line, ":")
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			switch key {
			case "VmRSS":
				p.RSSKiB = v
			case "RssAnon":
				p.AnonKiB = v
			case "RssFile":
				p.FileKiB = v
			}
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil {
			t.Fatalf("%s: %v", n.n.Name, err)
		}
		sm, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
		if err != nil {
			t.Fatalf("%s: %v", n.n.Name, err)
		}
		p.Anon = splitAnon(string(sm), exe)
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatalf("%s: %v", n.n.Name, err)
		}
		p.FDs = len(fds)
		m, err := scrape(n.n)
		if err != nil {
			t.Fatalf("%s: %v", n.n.Name, err)
		}
		p.Goroutines, p.Threads = int(m["go_goroutines"]), int(m["go_threads"])
		p.HeapAllocBytes, p.SysBytes = int64(m["go_memstats_alloc_bytes"]), int64(m["go_memstats_sys_bytes"])
		p.CrashRestarts = int(m["carpd_broker_restarts_total"])
		p.SoakCounts = n.counts(t)
		t.Logf("minute %g %s: RSS %d KiB, RssAnon %d KiB (heap %d, binary %d, other %d), fds %d, goroutines %d, heap %d KiB, sys %d KiB, "+
			"GC %d (live %d goal %d MiB), released %d KiB, →MASTER %d →BACKUP %d, crash restarts %d",
			s.Minute, n.n.Name, p.RSSKiB, p.AnonKiB, p.Anon.HeapKiB, p.Anon.BinaryKiB, p.Anon.OtherKiB, p.FDs, p.Goroutines, p.HeapAllocBytes>>10, p.SysBytes>>10,
			p.GC, p.LastGC.LiveMiB, p.LastGC.GoalMiB, p.Scav.ReleasedKiB, p.ToMaster, p.ToBackup, p.CrashRestarts)
	}
	return s
}

// scrape reads carpd's metrics from inside n's namespace.
func scrape(n *lab.Node) (map[string]float64, error) {
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := n.Do(func() error {
			var err error
			c, err = (&net.Dialer{Timeout: 2 * time.Second}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("http://" + soakMetrics + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("scraping metrics: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	return parseMetrics(string(b)), nil
}

// soakLeftovers lists what the stopped nodes still hold: the VIP, carpd's nft
// table, any process in their namespaces.
func soakLeftovers(t *testing.T, nodes [2]*soakNode, vip netip.Addr) []string {
	t.Helper()
	var left []string
	for _, n := range nodes {
		if n.n.HasAddr(vip) {
			left = append(left, fmt.Sprintf("%s holds %v", n.n.Name, vip))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, err := n.n.Run(ctx, "nft", "list", "table", "ip", "carpd")
		cancel()
		if err == nil {
			left = append(left, fmt.Sprintf("%s has nft table ip carpd: %s", n.n.Name, strings.Join(strings.Fields(string(out)), " ")))
		} else if !strings.Contains(err.Error(), "No such file or directory") {
			left = append(left, fmt.Sprintf("%s: nft list table ip carpd: %v", n.n.Name, err))
		}
		for _, pid := range namespacePIDs(t, n.n) {
			left = append(left, fmt.Sprintf("%s runs PID %d (%s)", n.n.Name, pid, comm(pid)))
		}
	}
	return left
}

// loadAvg is the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown: " + err.Error()
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
