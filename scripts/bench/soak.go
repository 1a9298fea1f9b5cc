package bench

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// SoakRun is one run of TestSoak, as saved to docs/bench/soak.json.
type SoakRun struct {
	Started  string   `json:"started"`
	Finished string   `json:"finished,omitempty"`
	Command  string   `json:"command"`
	Machine  []string `json:"machine"`
	// DurationS is the demote phase asked for; the pair settles and is
	// sampled idle before it.
	DurationS float64 `json:"duration_s"`
	// VHID and Advskew (n1, n2) of the CARP router.
	VHID    int    `json:"vhid"`
	Advskew [2]int `json:"advskew"`
	// Idle: the control run, sampled without any demote.
	Idle bool `json:"idle,omitempty"`
	// CarpdEnv is what was added to carpd's environment.
	CarpdEnv  []string `json:"carpd_env"`
	LoadStart string   `json:"load_start"`
	LoadEnd   string   `json:"load_end,omitempty"`
	// Samples: the first is the settled pair before any demote (minute 0),
	// then one a minute, taken just before that minute's demote.
	Samples []SoakSample `json:"samples"`
	// Demotes counts "demote -n 100" issued, Undos the "-n -100".
	Demotes int `json:"demotes"`
	Undos   int `json:"undos"`
	// MissedHandovers are demotes after which the peer had not logged its
	// promotion and the demoted node its demotion within the undo delay;
	// MissedPreemptions the same for undos within the rest of the cycle.
	MissedHandovers   int `json:"missed_handovers"`
	MissedPreemptions int `json:"missed_preemptions"`
	// HandoverMS and PreemptMS are the times from the demote (undo)
	// command's return until both nodes had logged their transition;
	// the promoted node logs after its steps, broker restart included.
	HandoverMS Stats `json:"handover_ms"`
	PreemptMS  Stats `json:"preempt_ms"`
	// Final holds each node's log counts after the last undo settled.
	Final [2]SoakCounts `json:"final"`
	// Baseline holds them at the start of the demote phase.
	Baseline [2]SoakCounts `json:"baseline"`
	// Leftovers is what was still there after both carpd exited on
	// SIGTERM; ExitErrors their exit errors.
	Leftovers  []string `json:"leftovers"`
	ExitErrors []string `json:"exit_errors,omitempty"`
	Verdict    *Verdict `json:"verdict,omitempty"`
}

// SoakSample is one minute's reading of both carpd processes.
type SoakSample struct {
	Minute  float64     `json:"minute"` // since the first demote
	Demotes int         `json:"demotes"`
	Nodes   [2]SoakProc `json:"nodes"`
}

// SoakProc is one carpd process (not its mosquitto) at one sample.
type SoakProc struct {
	RSSKiB  int64 `json:"rss_kib"`
	AnonKiB int64 `json:"anon_kib"`
	FileKiB int64 `json:"file_kib"`
	FDs     int   `json:"fds"`
	// Anon is RssAnon split by mapping, from /proc/PID/smaps.
	Anon AnonSplit `json:"anon_split"`
	// From carpd's metrics endpoint.
	Goroutines     int   `json:"goroutines"`
	Threads        int   `json:"threads"`
	HeapAllocBytes int64 `json:"heap_alloc_bytes"`
	SysBytes       int64 `json:"sys_bytes"`
	// CrashRestarts is carpd_broker_restarts_total: restarts after a
	// crash, not the promotions' restarts, which the log counts.
	CrashRestarts int `json:"crash_restarts"`
	// From GODEBUG=gctrace=1,scavtrace=1 in carpd's log.
	SoakCounts
}

// AnonSplit is a Go process's anonymous resident memory by where it is
// mapped: the heap arenas (Go objects, goroutine stacks, free spans not
// yet returned to the OS), the binary's written data and bss, and the
// rest (the runtime's off-heap structures: span and page metadata, the
// arena index, OS thread stacks).
type AnonSplit struct {
	HeapKiB   int64 `json:"heap_kib"`
	BinaryKiB int64 `json:"binary_kib"`
	OtherKiB  int64 `json:"other_kib"`
}

// arenaBytes is heapArenaBytes of 64-bit Linux (runtime/malloc.go): the
// runtime reserves and maps its heap in arenas of this size and alignment.
const arenaBytes = 64 << 20

// smapsEntry is one mapping of /proc/PID/smaps.
type smapsEntry struct {
	start, end uint64
	path       string
	anonKiB    int64
}

// splitAnon adds up the Anonymous: fields of smaps by mapping. The
// binary's are those of exe (its path) and of the nameless mapping right
// after it (its bss). Go 1.26 randomises the heap's base address, so the
// heap is found by shape: a run of adjacent nameless mappings that starts
// and ends on an arena boundary (the runtime's other reservations, page
// summaries and the arena index, are not arena-aligned). The rest is
// other.
func splitAnon(smaps, exe string) AnonSplit {
	var ms []smapsEntry
	for _, line := range strings.Split(smaps, "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			lo, hi, _ := strings.Cut(f[0], "-")
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				e := smapsEntry{start: start, end: end}
				if len(f) >= 6 {
					e.path = f[5]
				}
				ms = append(ms, e)
			}
			continue
		}
		if len(f) == 3 && f[0] == "Anonymous:" && len(ms) > 0 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			ms[len(ms)-1].anonKiB += v
		}
	}
	var a AnonSplit
	var run []smapsEntry
	flush := func() {
		if len(run) == 0 {
			return
		}
		heap := run[0].start%arenaBytes == 0 && run[len(run)-1].end%arenaBytes == 0
		for _, e := range run {
			if heap {
				a.HeapKiB += e.anonKiB
			} else {
				a.OtherKiB += e.anonKiB
			}
		}
		run = run[:0]
	}
	for i, e := range ms {
		switch {
		case e.path == exe, e.path == "" && i > 0 && ms[i-1].path == exe && ms[i-1].end == e.start:
			flush()
			a.BinaryKiB += e.anonKiB
		case e.path == "":
			if len(run) > 0 && run[len(run)-1].end != e.start {
				flush()
			}
			run = append(run, e)
		default:
			flush()
			a.OtherKiB += e.anonKiB
		}
	}
	flush()
	return a
}

// SoakCounts is what a node's log says so far.
type SoakCounts struct {
	ToMaster int `json:"to_master"`
	ToBackup int `json:"to_backup"`
	// Failed counts "transition done with failures".
	Failed int `json:"failed"`
	// Restarted and NotRestarted count the broker-ready step's
	// "broker restarted" (reason "promoted") and "broker not restarted".
	Restarted    int `json:"restarted"`
	NotRestarted int `json:"not_restarted"`
	// State is where the last transition went.
	State string `json:"state"`
	// GC is the number of gctrace lines, LastGC the latest.
	GC     int      `json:"gc"`
	LastGC GCLine   `json:"last_gc"`
	Scav   ScavLine `json:"scav"`
}

// GCLine is one "gc N @Ts ...: ... A->B->C MB, G MB goal, ..." line of
// GODEBUG=gctrace=1 (runtime/mgc.go); the runtime prints MiB, truncated.
type GCLine struct {
	N         int     `json:"n"`
	AtS       float64 `json:"at_s"`
	StartMiB  int     `json:"start_mib"` // heap at the start of the cycle
	EndMiB    int     `json:"end_mib"`   // heap at mark termination
	LiveMiB   int     `json:"live_mib"`  // marked live heap
	GoalMiB   int     `json:"goal_mib"`
	StacksMiB int     `json:"stacks_mib"`
	Forced    bool    `json:"forced"`
}

// ScavLine is one "scav ... KiB now, U% util" line of
// GODEBUG=scavtrace=1 (runtime/mgcscavenge.go): heap memory released to
// the OS so far, and the share of the retained heap in use.
type ScavLine struct {
	ReleasedKiB int64 `json:"released_kib"`
	UtilPct     int   `json:"util_pct"`
}

var (
	gcRe   = regexp.MustCompile(`^gc (\d+) @([0-9.]+)s .* (\d+)->(\d+)->(\d+) MB, (\d+) MB goal, (\d+) MB stacks`)
	scavRe = regexp.MustCompile(`^scav \d+ KiB work \(bg\), \d+ KiB work \(eager\), (\d+) KiB now, (\d+)% util`)
)

// add counts one line of a carpd log: a JSON log line or a runtime
// trace line.
func (c *SoakCounts) add(line string) {
	switch {
	case strings.HasPrefix(line, "gc "):
		m := gcRe.FindStringSubmatch(line)
		if m == nil {
			return
		}
		at, _ := strconv.ParseFloat(m[2], 64)
		c.GC++
		c.LastGC = GCLine{N: atoi(m[1]), AtS: at, StartMiB: atoi(m[3]), EndMiB: atoi(m[4]), LiveMiB: atoi(m[5]),
			GoalMiB: atoi(m[6]), StacksMiB: atoi(m[7]), Forced: strings.HasSuffix(line, "(forced)")}
	case strings.HasPrefix(line, "scav "):
		if m := scavRe.FindStringSubmatch(line); m != nil {
			kib, _ := strconv.ParseInt(m[1], 10, 64)
			c.Scav = ScavLine{ReleasedKiB: kib, UtilPct: atoi(m[2])}
		}
	case strings.Contains(line, `"msg":"transition"`), strings.Contains(line, `"msg":"transition done with failures"`):
		// A transition with a failed step still happened: count it
		// where it went, and the failure apart.
		if strings.Contains(line, `"msg":"transition done`) {
			c.Failed++
		}
		switch {
		case strings.Contains(line, `"to":"MASTER"`):
			c.ToMaster++
			c.State = "MASTER"
		case strings.Contains(line, `"to":"BACKUP"`):
			c.ToBackup++
			c.State = "BACKUP"
		default:
			c.State = "other"
		}
	case strings.Contains(line, `"msg":"broker restarted"`):
		c.Restarted++
	case strings.Contains(line, `"msg":"broker not restarted`):
		c.NotRestarted++
	}
}

func atoi(s string) int {
	v, _ := strconv.Atoi(s)
	return v
}

// logReader counts a growing log incrementally, so that polling it every
// few hundred milliseconds for an hour stays cheap.
type logReader struct {
	partial string
	SoakCounts
}

// feed adds the bytes appended since the last call; a line without its
// newline waits for the next.
func (r *logReader) feed(b []byte) {
	text := r.partial + string(b)
	i := strings.LastIndexByte(text, '\n')
	if i < 0 {
		r.partial = text
		return
	}
	for _, line := range strings.Split(text[:i], "\n") {
		r.add(line)
	}
	r.partial = text[i+1:]
}

// parseMetrics reads the samples of a Prometheus text exposition, keyed
// by the series as written ("go_goroutines", `x{router="r"}`).
func parseMetrics(text string) map[string]float64 {
	m := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m
}

// Verdict is the soak's judgement, over the second half of the run.
type Verdict struct {
	// Half is the sample the growth is measured from: the last one at or
	// before half the duration.
	HalfMinute float64 `json:"half_minute"`
	// RSSGrowthKiB and AnonGrowthKiB per node: the largest sample after
	// Half minus Half's.
	RSSGrowthKiB  [2]int64 `json:"rss_growth_kib"`
	AnonGrowthKiB [2]int64 `json:"anon_growth_kib"`
	// GoroutineRange and FDRange per node: min and max from Half on.
	GoroutineRange [2][2]int `json:"goroutine_range"`
	FDRange        [2][2]int `json:"fd_range"`
	// Expected and Counted transitions over the demote phase, both nodes.
	Expected int `json:"expected_transitions"`
	Counted  int `json:"counted_transitions"`
	Lost     int `json:"lost_transitions"`
	// Failures lists what failed; empty means the soak passed.
	Failures []string `json:"failures"`
	Pass     bool     `json:"pass"`
}

// Limits of the verdict: memory may grow by at most maxGrowthKiB over
// the second half; goroutines and fds may vary by flatSlack there (an
// MQTT health check or a scrape in flight at the sample).
const (
	maxGrowthKiB = 1024
	flatSlack    = 2
)

// judgeSoak judges a finished run: memory levels off, goroutines and fds
// stay flat, no transition is lost, nothing is left behind.
func judgeSoak(run SoakRun) Verdict {
	var v Verdict
	fail := func(format string, args ...any) { v.Failures = append(v.Failures, fmt.Sprintf(format, args...)) }
	demote := run.Samples
	if len(demote) > 0 {
		demote = demote[1:] // minute 0 is before the first demote
	}
	if len(demote) < 2 {
		fail("only %d samples of the demote phase: too short to judge", len(demote))
	} else {
		half := run.DurationS / 60 / 2
		h := 0
		for i, s := range demote {
			if s.Minute <= half {
				h = i
			}
		}
		v.HalfMinute = demote[h].Minute
		tail := demote[h:]
		for n := range 2 {
			base := tail[0].Nodes[n]
			gr := [2]int{base.Goroutines, base.Goroutines}
			fr := [2]int{base.FDs, base.FDs}
			for _, s := range tail[1:] {
				p := s.Nodes[n]
				v.RSSGrowthKiB[n] = max(v.RSSGrowthKiB[n], p.RSSKiB-base.RSSKiB)
				v.AnonGrowthKiB[n] = max(v.AnonGrowthKiB[n], p.AnonKiB-base.AnonKiB)
				gr = [2]int{min(gr[0], p.Goroutines), max(gr[1], p.Goroutines)}
				fr = [2]int{min(fr[0], p.FDs), max(fr[1], p.FDs)}
			}
			v.GoroutineRange[n], v.FDRange[n] = gr, fr
			name := fmt.Sprintf("n%d", n+1)
			if v.RSSGrowthKiB[n] > maxGrowthKiB {
				fail("%s RSS grew %d KiB after minute %g", name, v.RSSGrowthKiB[n], v.HalfMinute)
			}
			if v.AnonGrowthKiB[n] > maxGrowthKiB {
				fail("%s RssAnon grew %d KiB after minute %g", name, v.AnonGrowthKiB[n], v.HalfMinute)
			}
			if gr[1]-gr[0] > flatSlack {
				fail("%s goroutines %d..%d after minute %g", name, gr[0], gr[1], v.HalfMinute)
			}
			if fr[1]-fr[0] > flatSlack {
				fail("%s fds %d..%d after minute %g", name, fr[0], fr[1], v.HalfMinute)
			}
		}
	}
	// n1 is demoted and preempts back: each demote moves n1 to BACKUP
	// and n2 to MASTER, each undo the reverse.
	want := [2]SoakCounts{{ToBackup: run.Demotes, ToMaster: run.Undos}, {ToMaster: run.Demotes, ToBackup: run.Undos}}
	for n := range 2 {
		got := [2]int{run.Final[n].ToMaster - run.Baseline[n].ToMaster, run.Final[n].ToBackup - run.Baseline[n].ToBackup}
		exp := [2]int{want[n].ToMaster, want[n].ToBackup}
		for k, dir := range []string{"MASTER", "BACKUP"} {
			v.Expected += exp[k]
			v.Counted += got[k]
			if got[k] < exp[k] {
				v.Lost += exp[k] - got[k]
			}
			if got[k] != exp[k] {
				fail("n%d: %d transitions to %s, expected %d", n+1, got[k], dir, exp[k])
			}
		}
		if f := run.Final[n].Failed - run.Baseline[n].Failed; f > 0 {
			fail("n%d: %d transitions done with failures", n+1, f)
		}
	}
	if run.MissedHandovers+run.MissedPreemptions > 0 {
		fail("%d handovers and %d preemptions not seen within their half cycle", run.MissedHandovers,
			run.MissedPreemptions)
	}
	for _, l := range run.Leftovers {
		fail("left behind: %s", l)
	}
	for _, e := range run.ExitErrors {
		fail("exit: %s", e)
	}
	v.Pass = len(v.Failures) == 0
	return v
}

// soakMarkdown is docs/bench/soak.md, generated from the run.
func soakMarkdown(run SoakRun) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	if run.Idle {
		p("# carpd soak, idle control: no demotes\n\n")
	} else {
		p("# carpd soak: a demote every 10 s\n\n")
	}
	p("Generated by `TestSoak` (scripts/bench/soak_test.go) from soak.json; do not edit.\n\n")
	p("Two carpd nodes (CARP vhid %d, advbase 1, advskew %d and %d, preempt) supervise Mosquitto with "+
		"`on_promote: restart` and `nat: dnat`, n1's broker bridged to n2's. %s"+
		"Each carpd runs with `%s` in its environment. Samples are of the carpd processes only (not "+
		"Mosquitto), once a minute just before that minute's demote; minute 0 is the settled pair before "+
		"the first demote.\n\n", run.VHID, run.Advskew[0], run.Advskew[1], moves(run.Idle), strings.Join(run.CarpdEnv, " "))
	p("- command: `%s`\n", run.Command)
	p("- started %s, finished %s; demote phase %s\n", run.Started, orDash(run.Finished), fmtMinutes(run.DurationS))
	p("- load average (1, 5, 15 min) at start: %s; at end: %s\n", run.LoadStart, orDash(run.LoadEnd))
	for _, m := range run.Machine {
		p("- %s\n", m)
	}
	p("\n| min | demotes | node | RSS MiB | RssAnon MiB | RssFile MiB | anon: heap / binary / other MiB | fds | goroutines | threads | heap alloc MiB | Go sys MiB | GCs | last GC live→goal MiB | released MiB | util %% | →MASTER | →BACKUP | broker crash restarts |\n")
	p("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range run.Samples {
		for n, q := range s.Nodes {
			p("| %g | %d | n%d | %s | %s | %s | %s / %s / %s | %d | %d | %d | %.2f | %.1f | %d | %d→%d | %s | %d | %d | %d | %d |\n",
				s.Minute, s.Demotes, n+1, mib(q.RSSKiB), mib(q.AnonKiB), mib(q.FileKiB),
				mib(q.Anon.HeapKiB), mib(q.Anon.BinaryKiB), mib(q.Anon.OtherKiB), q.FDs,
				q.Goroutines, q.Threads, float64(q.HeapAllocBytes)/(1<<20), float64(q.SysBytes)/(1<<20), q.GC,
				q.LastGC.LiveMiB, q.LastGC.GoalMiB, mib(q.Scav.ReleasedKiB), q.Scav.UtilPct, q.ToMaster,
				q.ToBackup, q.CrashRestarts)
		}
	}
	p("\nDemotes %d, undos %d. Handover (demote command returned → both nodes logged the transition, the "+
		"promoted node after restarting its broker): median %.0f ms, max %.0f ms over %d; preemption back: "+
		"median %.0f ms, max %.0f ms over %d. Missed within the half cycle: %d handovers, %d preemptions.\n\n",
		run.Demotes, run.Undos, run.HandoverMS.Median, run.HandoverMS.Max, run.HandoverMS.N, run.PreemptMS.Median,
		run.PreemptMS.Max, run.PreemptMS.N, run.MissedHandovers, run.MissedPreemptions)
	for n := range 2 {
		f, base := run.Final[n], run.Baseline[n]
		p("- n%d over the demote phase: %d →MASTER, %d →BACKUP, %d with failures; broker restarted %d times, "+
			"not restarted %d times (`broker not restarted: started since this node last served as master`)\n",
			n+1, f.ToMaster-base.ToMaster, f.ToBackup-base.ToBackup, f.Failed-base.Failed,
			f.Restarted-base.Restarted, f.NotRestarted-base.NotRestarted)
	}
	p("\nLeft behind after SIGTERM to both carpd (VIP, nft table `ip carpd`, processes in the node "+
		"namespaces): %s.\n", leftText(run))
	if len(run.ExitErrors) > 0 {
		p("\nExit errors: %s.\n", strings.Join(run.ExitErrors, "; "))
	}
	p("\n## Verdict\n\n")
	v := run.Verdict
	if v == nil {
		p("None: the run did not finish.\n")
		return b.String()
	}
	p("Levels off means: over the second half (from minute %g), RSS and RssAnon of each carpd grow by at "+
		"most 1 MiB (largest later sample minus minute %g's), goroutines and fds vary by at most %d; zero "+
		"lost transitions; nothing left behind.\n\n", v.HalfMinute, v.HalfMinute, flatSlack)
	for n := range 2 {
		p("- n%d: RSS +%d KiB, RssAnon +%d KiB, goroutines %d..%d, fds %d..%d\n", n+1, v.RSSGrowthKiB[n],
			v.AnonGrowthKiB[n], v.GoroutineRange[n][0], v.GoroutineRange[n][1], v.FDRange[n][0], v.FDRange[n][1])
	}
	p("- transitions: %d expected, %d counted, %d lost\n\n", v.Expected, v.Counted, v.Lost)
	if v.Pass {
		p("**Pass**: levels off, nothing lost, nothing left behind.\n")
	} else {
		p("**Fail**:\n\n")
		for _, f := range v.Failures {
			p("- %s\n", f)
		}
	}
	return b.String()
}

func leftText(run SoakRun) string {
	switch {
	case run.Finished == "":
		return "not checked yet (run not finished)"
	case len(run.Leftovers) == 0:
		return "nothing"
	}
	return strings.Join(run.Leftovers, "; ")
}

func moves(idle bool) string {
	if idle {
		return "This is the idle control: the master never moves (no demotes, counted as such below). "
	}
	return "Every 10 s the master gets `carpd demote -n 100 mqtt`, undone 5 s later with `-n -100`; n2 " +
		"takes over, then n1 preempts back. "
}

// mib shows KiB as MiB with one decimal.
func mib(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }

func fmtMinutes(s float64) string {
	return strconv.FormatFloat(s/60, 'f', -1, 64) + " min"
}
