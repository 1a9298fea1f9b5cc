package bench

import (
	"fmt"
	"slices"
	"strings"
)

// judge states each target of the benchmark (see targets in markdown.go) against the figures of this run.
func judge(run Run, cs []cell) []string {
	var out []string
	takeover := func(r Trial) float64 { return r.TakeoverMS }
	outage := func(r Trial) float64 { return r.OutageMS }
	for _, tm := range run.Timers {
		if c, ok := find(cs, tm.System, tm.Timer, "node death"); ok && tm.System[:5] == "carpd" {
			s := stats(c.values(takeover))
			out = append(out, fmt.Sprintf("Takeover after node death, %s %s: median %.0f ms vs bound %.0f + 20 ms: %s",
				tm.System, tm.Timer, s.Median, tm.BoundMS, verdict(s.N > 0 && s.Median <= tm.BoundMS+20)))
			o := stats(c.values(outage))
			out = append(out, fmt.Sprintf("Client outage after node death, %s %s: median %.0f ms vs takeover "+
				"median + 50 = %.0f ms: %s", tm.System, tm.Timer, o.Median, s.Median+50,
				verdict(o.N > 0 && o.Median <= s.Median+50)))
		}
	}
	ratio := func(sys, timer, other string, want float64) {
		a, ok1 := find(cs, sys, timer, "node death")
		b, ok2 := find(cs, other, timer, "node death")
		if !ok1 || !ok2 {
			return
		}
		sa, sb := stats(a.values(outage)), stats(b.values(outage))
		if sa.N == 0 || sb.N == 0 {
			return
		}
		out = append(out, fmt.Sprintf("Outage after node death %s %s ≤ %.2f × %s: %.0f vs %.0f ms (%.2f ×): %s",
			sys, timer, want, other, sa.Median, sb.Median, sa.Median/sb.Median, verdict(sa.Median <= want*sb.Median)))
	}
	ratio("carpd VRRPv3", "1s", "keepalived VRRPv3", 0.9)
	ratio("carpd CARP", "1s", "ucarp", 0.75)
	for _, tm := range run.Timers {
		if tm.System[:5] != "carpd" || tm.Timer != "1s" {
			continue
		}
		c, ok := find(cs, tm.System, tm.Timer, "planned handover")
		if !ok {
			continue
		}
		o := stats(c.values(outage))
		limit := 250.0
		if tm.System != "carpd CARP" {
			limit += tm.SkewMS
		}
		out = append(out, fmt.Sprintf("Planned handover outage, %s %s: median %.0f ms vs %.0f ms: %s",
			tm.System, tm.Timer, o.Median, limit, verdict(o.N > 0 && o.Median <= limit)))
	}
	for _, s := range run.Steady {
		if s.System[:5] != "carpd" {
			continue
		}
		cpu := "(the 0.1 % target is for 1 s adverts)"
		if s.Timer == "1s" {
			cpu = "vs 0.1 %: " + verdict(s.CPUPercent <= 0.1)
		}
		out = append(out, fmt.Sprintf("carpd %s %s %s, one virtual router: RSS %.1f MiB vs 15 MiB: %s; CPU %.3f %% "+
			"of a core over %.0f s %s", s.System[6:], s.Timer, s.Node, float64(s.RSSKiB)/1024,
			verdict(s.RSSKiB <= 15*1024), s.CPUPercent, s.WindowS, cpu))
	}
	return append(out, judgeLoad(run)...)
}

// judgeLoad judges the scale and flood targets.
func judgeLoad(run Run) []string {
	var out []string
	for _, s := range run.Scale {
		if s.Routers == 255 {
			out = append(out, fmt.Sprintf("carpd with 255 virtual routers, %s: CPU %.2f %% of a core vs 3 %%: %s",
				s.Node, s.CPUPercent, verdict(s.CPUPercent <= 3)))
		}
	}
	if len(run.Scale) == 0 {
		out = append(out, "255 virtual routers ≤ 3 % of a core: not measured in this run.")
	}
	for _, f := range run.Floods {
		// The backup may accept one advert more or fewer than the
		// master sent, from where the counters were read.
		missed := f.OwnSent - f.OwnReceived
		out = append(out, fmt.Sprintf("Forged flood (%s, %.0f pps achieved of %d): %d spurious transitions, "+
			"%d of the master's %d adverts not accepted by the backup: %s", f.Kind, f.AchievedPPS, f.RatePPS,
			f.Transitions, max(missed, 0), f.OwnSent, verdict(f.Transitions == 0 && missed <= 1)))
	}
	if len(run.Floods) == 0 {
		out = append(out, "Forged flood with zero spurious transitions: not measured in this run.")
	}
	out = append(out, judgeSubsecond(run.Subsecond)...)
	return append(out, judgeCost(run.Cost)...)
}

// judgeCost compares carpd's CPU (schedstat medians, the finer figure)
// and RSS at each fast timer with keepalived's at the same timer and
// node: the target is at or below.
func judgeCost(c *Cost) []string {
	if c == nil {
		return []string{"CPU at 1 s, 100 ms and 50 ms at or below keepalived's: not measured in this run."}
	}
	var out []string
	for _, r := range c.Rows {
		if !strings.HasPrefix(r.System, "carpd") {
			continue
		}
		i := slices.IndexFunc(c.Rows, func(k CostRow) bool {
			return strings.HasPrefix(k.System, "keepalived") && k.Timer == r.Timer && k.Node == r.Node
		})
		if i < 0 {
			continue
		}
		k := c.Rows[i]
		out = append(out, fmt.Sprintf("CPU, %s %s %s: %.3f %% vs keepalived's %.3f %% (schedstat medians): %s; "+
			"RSS %.1f vs %.1f MiB: %s", r.System, r.Timer, r.Node, r.Sched.Median, k.Sched.Median,
			verdict(r.Sched.Median <= k.Sched.Median), r.RSSMiB, k.RSSMiB, verdict(r.RSSMiB <= k.RSSMiB)))
	}
	return out
}

// judgeSubsecond judges carpd's sub-second pairs: no spurious
// transition idle or loaded, and a takeover within master-down + 20 ms.
// ucarp's and keepalived's figures are there to compare, without a target.
func judgeSubsecond(s *Subsecond) []string {
	if s == nil {
		return []string{"Sub-second timers without spurious transitions: not measured in this run."}
	}
	var out []string
	for _, r := range s.Stability {
		if strings.HasPrefix(r.System, "carpd") {
			out = append(out, fmt.Sprintf("%s %s %s, %s over %.0f s: %d spurious transitions vs 0: %s", r.System,
				r.Timer, r.Setting, r.Load, r.WindowS, r.Spurious, verdict(r.Spurious == 0)))
		}
	}
	for _, r := range s.Takeovers {
		if strings.HasPrefix(r.System, "carpd") {
			out = append(out, fmt.Sprintf("Takeover after node death, %s %s: %.0f ms vs bound %.1f + 20 ms: %s",
				r.System, r.Timer, r.TakeoverMS, r.BoundMS, verdict(r.TakeoverMS >= 0 && r.TakeoverMS <= r.BoundMS+20)))
		}
	}
	// Send jitter: carpd's p99 gap below keepalived's at the same timer
	// and load.
	for _, j := range s.Jitter {
		if !strings.HasPrefix(j.System, "carpd VRRP") {
			continue
		}
		i := slices.IndexFunc(s.Jitter, func(k Jitter) bool {
			return strings.HasPrefix(k.System, "keepalived") && k.Timer == j.Timer && k.Load == j.Load
		})
		if i < 0 {
			continue
		}
		k := s.Jitter[i]
		out = append(out, fmt.Sprintf("Send jitter, %s %s %s: p99 gap %.1f ms vs keepalived's %.1f ms: %s",
			j.System, j.Timer, j.Load, j.P99MS, k.P99MS, verdict(j.P99MS <= k.P99MS)))
	}
	return out
}

// notMeasured lists the targets this run has no figures for.
func notMeasured(run Run) string {
	var missing []string
	scen := map[string]bool{}
	for _, r := range run.Results {
		scen[r.Scenario] = true
	}
	for _, s := range []string{"node death", "planned handover", "broker crash", "failback"} {
		if !scen[s] {
			missing = append(missing, "the "+s+" scenario")
			continue
		}
		for _, tm := range run.Timers {
			if !slices.ContainsFunc(run.Results, func(r Trial) bool {
				return r.Scenario == s && r.System == tm.System && r.Timer == tm.Timer
			}) {
				missing = append(missing, s+" of "+tm.System+" "+tm.Timer)
			}
		}
	}
	if len(run.Scale) == 0 {
		missing = append(missing, "carpd with 1, 16 and 255 virtual routers")
	}
	if len(run.Floods) == 0 {
		missing = append(missing, "the forged-advert flood")
	}
	if run.Subsecond == nil {
		missing = append(missing, "the sub-second stability and send jitter")
	}
	if run.Cost == nil {
		missing = append(missing, "the CPU at fast timers (run.sh --only cost)")
	}
	if len(missing) == 0 {
		return "Every target was measured."
	}
	return "No figures are claimed for: " + strings.Join(missing, "; ") + "."
}
