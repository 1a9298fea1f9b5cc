// Package bench is the side-by-side benchmark of carpd, ucarp and
// keepalived setups. The measurements are an opt-in test,
// TestBench, because the netns lab (internal/lab) is built for a
// testing.TB; it skips unless scripts/bench/run.sh sets CARPD_BENCH_OUT.
// The package is a module of its own (replace ../..) so that gonum/plot
// stays out of carpd's go.mod and `go test ./...` at the root never
// builds it. This file and plot.go turn the results into
// docs/BENCHMARKS.md and the plots beside it.
package bench

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/carpd/carpd/internal/lab"
)

// Run is one whole benchmark run, as saved to results.json.
type Run struct {
	Started  string   `json:"started"`
	Finished string   `json:"finished,omitempty"`
	Command  string   `json:"command"`
	Quick    bool     `json:"quick"`
	Trials   int      `json:"trials"`
	WindowS  float64  `json:"window_s"`
	Machine  []string `json:"machine"`
	Client   string   `json:"client"`
	Timers   []Timer  `json:"timers"`
	Steady   []Steady `json:"steady"`
	Results  []Trial  `json:"results"`
	Scale    []Scale  `json:"scale,omitempty"`
	Floods   []Flood  `json:"floods,omitempty"`
	// FailbackPreempt says the failback trials ran CARP with preemption;
	// runs recorded before it existed did not (their CARP rows show no
	// takeover).
	FailbackPreempt bool `json:"failback_preempt,omitempty"`
	// Subsecond is the sub-second timers' run, which run.sh --only
	// subsecond can redo alone: it has its own start and command.
	Subsecond *Subsecond `json:"subsecond,omitempty"`
	// Cost is the CPU of settled pairs at fast timers (TestTimerCost),
	// which run.sh --only cost measures alone.
	Cost *Cost `json:"cost,omitempty"`
}

// Cost is one run of the fast-timer cost pairs: carpd and keepalived
// alone, and carpd with the classic broker section, at 1 s, 100 ms and
// 50 ms.
type Cost struct {
	Started  string    `json:"started"`
	Finished string    `json:"finished,omitempty"`
	Command  string    `json:"command"`
	Windows  int       `json:"windows"`
	WindowS  float64   `json:"window_s"`
	Machine  []string  `json:"machine"`
	Rows     []CostRow `json:"rows"`
}

// CostRow is one node of one pair: CPU in % of a core over the windows
// (utime+stime from /proc/PID/stat, and the threads' schedstat run time),
// median and range, and the median RSS.
type CostRow struct {
	System string  `json:"system"` // "carpd VRRPv3", "keepalived VRRPv3", "carpd+probe VRRPv3"
	Timer  string  `json:"timer"`
	Node   string  `json:"node"` // master, backup
	Stat   Stats   `json:"stat"`
	Sched  Stats   `json:"sched"`
	RSSMiB float64 `json:"rss_mib"`
}

// Subsecond is the stability, takeover and send jitter of pairs at
// sub-second timers (CARP advbase 0, VRRPv3 at 50 and 100 ms).
type Subsecond struct {
	Started  string   `json:"started"`
	Finished string   `json:"finished,omitempty"`
	Command  string   `json:"command"`
	Quick    bool     `json:"quick"`
	WindowS  float64  `json:"window_s"`
	Machine  []string `json:"machine"`
	// Stability has one row per pair and load (idle, loaded).
	Stability []Stability   `json:"stability"`
	Takeovers []SubTakeover `json:"takeovers"`
	Jitter    []Jitter      `json:"jitter"`
	// Reruns are later runs that re-measured some systems' rows in place
	// (run.sh --only subsecond --systems), the others keeping the
	// figures of the run above.
	Reruns []Rerun `json:"reruns,omitempty"`
}

// Rerun is one partial re-measurement of the sub-second pairs.
type Rerun struct {
	Systems  []string `json:"systems"` // name prefixes
	Command  string   `json:"command"`
	Started  string   `json:"started"`
	Finished string   `json:"finished,omitempty"`
	WindowS  float64  `json:"window_s"`
	Machine  []string `json:"machine"`
}

// picked reports whether system is one of the name prefixes; no
// prefixes pick every system.
func picked(prefixes []string, system string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(system, p) {
			return true
		}
	}
	return false
}

// drop removes the rows of the picked systems, to be measured again.
func (s *Subsecond) drop(prefixes []string) {
	s.Stability = slices.DeleteFunc(s.Stability, func(r Stability) bool { return picked(prefixes, r.System) })
	s.Takeovers = slices.DeleteFunc(s.Takeovers, func(r SubTakeover) bool { return picked(prefixes, r.System) })
	s.Jitter = slices.DeleteFunc(s.Jitter, func(r Jitter) bool { return picked(prefixes, r.System) })
}

// Stability is what one window of a settled sub-second pair showed.
type Stability struct {
	System  string  `json:"system"`
	Timer   string  `json:"timer"`
	Setting string  `json:"setting"`
	Load    string  `json:"load"` // idle or loaded
	Busy    int     `json:"busy"` // busy loops in another namespace
	WindowS float64 `json:"window_s"`
	// Entries are n1's and n2's entries into MASTER within the window,
	// all spurious: the election was over before it began.
	Entries  [2]int `json:"entries"`
	Spurious int    `json:"spurious"`
	// BackupMasterMS is how long n2 was MASTER within the window.
	BackupMasterMS float64 `json:"backup_master_ms"`
}

// SubTakeover is the takeover after the death of a sub-second pair's
// master (whichever node answered ARP for the VIP then).
type SubTakeover struct {
	System string `json:"system"`
	Timer  string `json:"timer"`
	Killed string `json:"killed"`
	// TakeoverMS is from the fault to the survivor's first ARP answer;
	// negative when none came.
	TakeoverMS float64 `json:"takeover_ms"`
	BoundMS    float64 `json:"bound_ms"` // the survivor's master-down interval
	Flaps      int     `json:"flaps"`
	Error      string  `json:"error,omitempty"`
}

// Jitter is the gaps between n1's adverts as received on n2, in a window.
type Jitter struct {
	System     string  `json:"system"`
	Timer      string  `json:"timer"`
	Load       string  `json:"load"`
	IntervalMS float64 `json:"interval_ms"` // n1's configured interval
	WindowS    float64 `json:"window_s"`
	Adverts    int     `json:"adverts"`
	MinMS      float64 `json:"min_ms"`
	P50MS      float64 `json:"p50_ms"`
	P99MS      float64 `json:"p99_ms"`
	MaxMS      float64 `json:"max_ms"`
}

// Scale is carpd's resource use with many routers on one interface.
type Scale struct {
	Routers    int     `json:"routers"`
	Node       string  `json:"node"`
	CPUSeconds float64 `json:"cpu_s"`
	CPUPercent float64 `json:"cpu_percent"`
	RSSKiB     int64   `json:"rss_kib"`
	WindowS    float64 `json:"window_s"`
	Masters    int     `json:"masters"` // routers in MASTER at the end
}

// Flood is one forged-advert flood against a carpd pair.
type Flood struct {
	Kind        string  `json:"kind"` // wrong HMAC, wrong vhid
	RatePPS     int     `json:"rate_pps"`
	Seconds     float64 `json:"seconds"`
	Sent        int     `json:"sent"`
	AchievedPPS float64 `json:"achieved_pps"`
	// CPUPercent is the master's then the backup's share of a core.
	CPUPercent []float64         `json:"cpu_percent"`
	Drops      map[string]uint64 `json:"drops"` // both nodes, by reason
	// Transitions counts both nodes' transitions during the flood (0 is
	// the target); OwnSent the master's adverts and OwnReceived those the
	// backup accepted meanwhile.
	Transitions int `json:"transitions"`
	OwnSent     int `json:"own_sent"`
	OwnReceived int `json:"own_received"`
}

// Timer is a system's timer setting and the bounds that follow from it.
type Timer struct {
	System  string  `json:"system"`
	Timer   string  `json:"timer"`
	BoundMS float64 `json:"bound_ms"` // the backup's master-down interval
	SkewMS  float64 `json:"skew_ms"`  // the backup's skew time
}

// Steady is one daemon's resource use over the steady-state window.
type Steady struct {
	System     string  `json:"system"`
	Timer      string  `json:"timer"`
	Node       string  `json:"node"` // master or backup
	Procs      int     `json:"procs"`
	CPUSeconds float64 `json:"cpu_s"`
	CPUPercent float64 `json:"cpu_percent"` // of one core
	RSSKiB     int64   `json:"rss_kib"`
	// AnonKiB is the anonymous part of RSSKiB (RssAnon): the rest is
	// file-backed, the pages of the binary and its libraries, which the
	// page cache shares.
	AnonKiB int64   `json:"rss_anon_kib"`
	WindowS float64 `json:"window_s"`
}

// Trial is what one fault on one pair showed.
type Trial struct {
	System   string `json:"system"`
	Timer    string `json:"timer"`
	Scenario string `json:"scenario"`
	// TakeoverMS is from the fault to the first ARP answer from the new
	// master; negative when none came in time.
	TakeoverMS float64 `json:"takeover_ms"`
	// OutageMS is the longest gap between two arrivals at the
	// subscriber; negative when the stream did not resume.
	OutageMS float64 `json:"outage_ms"`
	Sent     int     `json:"sent"`
	Lost     int     `json:"lost"`
	Dups     int     `json:"dups"`
	// Entries counts the backup's entries into MASTER after the fault
	// (1 is clean); Flaps the changes of the MAC answering ARP after the
	// new master's first answer (0 is clean).
	Entries int    `json:"entries"`
	Flaps   int    `json:"flaps"`
	Error   string `json:"error,omitempty"`
}

// Stats are the order statistics of a cell; N counts the values.
type Stats struct {
	N                     int
	Median, P90, Min, Max float64
}

// stats computes Stats over the non-negative values of vs (negative
// marks a trial without a figure). The median of an even count is the
// mean of the middle two; p90 is the nearest rank.
func stats(vs []float64) Stats {
	var s []float64
	for _, v := range vs {
		if v >= 0 {
			s = append(s, v)
		}
	}
	if len(s) == 0 {
		return Stats{}
	}
	slices.Sort(s)
	m := len(s) / 2
	med := s[m]
	if len(s)%2 == 0 {
		med = (s[m-1] + s[m]) / 2
	}
	rank := (9*len(s) + 9) / 10 // ceil(0.9 n)
	return Stats{N: len(s), Median: med, P90: s[rank-1], Min: s[0], Max: s[len(s)-1]}
}

// cell is the trials of one system, timer and scenario, in run order.
type cell struct {
	system, timer, scenario string
	trials                  []Trial
}

func (c cell) label() string { return c.system + " " + c.timer }

func (c cell) values(f func(Trial) float64) []float64 {
	var out []float64
	for _, r := range c.trials {
		out = append(out, f(r))
	}
	return out
}

// cells groups results by scenario, then system and timer, in the order
// they first appear.
func cells(rs []Trial) []cell {
	var out []cell
	for _, r := range rs {
		i := slices.IndexFunc(out, func(c cell) bool {
			return c.system == r.System && c.timer == r.Timer && c.scenario == r.Scenario
		})
		if i < 0 {
			out = append(out, cell{system: r.System, timer: r.Timer, scenario: r.Scenario})
			i = len(out) - 1
		}
		out[i].trials = append(out[i].trials, r)
	}
	return out
}

// machine describes the machine and the programs measured.
func machine(carpd string) []string {
	return lab.Machine(lab.FirstLine(lab.CommandOutput(carpd, "version")))
}

// WriteReport writes dir/BENCHMARKS.md and the plots under dir/bench.
func WriteReport(dir string, run Run) error {
	cs := cells(run.Results)
	// Plots need trials; a run cut down to the load cases (go test -run)
	// has none, and gonum's nominal axis panics on zero names.
	if len(cs) == 0 {
		return os.WriteFile(filepath.Join(dir, "BENCHMARKS.md"), []byte(markdown(run, cs)), 0o644)
	}
	if err := plotOutage(filepath.Join(dir, "bench", "outage.png"), cs); err != nil {
		return err
	}
	if err := plotTakeover(filepath.Join(dir, "bench", "takeover.png"), cs); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "BENCHMARKS.md"), []byte(markdown(run, cs)), 0o644)
}
