package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// FaultRun is the fault matrix as saved to docs/bench/faults.json: the
// passes of faults.sh that measured it (a pass limited with --only or
// --faults replaces only the cells it measured) and every trial.
type FaultRun struct {
	Passes []FaultPass  `json:"passes"`
	Trials []FaultTrial `json:"trials"`
}

// FaultPass is one run of faults.sh.
type FaultPass struct {
	Started   string   `json:"started"`
	Finished  string   `json:"finished,omitempty"`
	Command   string   `json:"command"`
	Quick     bool     `json:"quick"`
	Trials    int      `json:"trials"`
	DurationS float64  `json:"duration_s"` // window of j and k
	Machine   []string `json:"machine"`
	// Shared says what else ran on the machine meanwhile, as the
	// operator gave it (faults.sh --shared).
	Shared  string   `json:"shared,omitempty"`
	Systems []string `json:"systems,omitempty"` // --only; empty: all
	Faults  []string `json:"faults,omitempty"`  // --faults; empty: all
}

// FaultTrial is what one fault did to one pair. Times are in ms;
// negative means no figure (no heal, not restored, failed trial).
type FaultTrial struct {
	System string `json:"system"`
	Timer  string `json:"timer"`
	Fault  string `json:"fault"`
	Trial  int    `json:"trial"`
	Pass   int    `json:"pass"` // index into FaultRun.Passes
	// HoldS is the time between the fault and its heal.
	HoldS float64 `json:"hold_s,omitempty"`
	// DualMS and NoneMS are the time both nodes and no node held the
	// VIP, from the fault to the end of the trial (sampled every 10 ms).
	DualMS float64 `json:"dual_ms"`
	NoneMS float64 `json:"none_ms"`
	// OutageFaultMS is the client stream's longest gap beginning between
	// the fault and the heal; OutageHealMS the longest beginning after
	// the heal.
	OutageFaultMS float64 `json:"outage_fault_ms"`
	OutageHealMS  float64 `json:"outage_heal_ms"`
	Sent          int     `json:"sent"`
	Lost          int     `json:"lost"`
	Dups          int     `json:"dups"`
	// ARPChanges counts the changes of the client's neighbour entry for
	// the VIP from one MAC to another.
	ARPChanges int `json:"arp_changes"`
	// Entries counts both nodes' entries into MASTER after the fault.
	Entries int `json:"entries"`
	// RestoreMS is, for g and h, the time until the DNAT or the VIP was
	// back; negative when it never was within the trial.
	RestoreMS float64 `json:"restore_ms"`
	// Leftovers is what was wrong at the end of the trial.
	Leftovers []string `json:"leftovers,omitempty"`
	// LossPct (j), the window and the spurious entries per hour (j, k).
	LossPct int     `json:"loss_pct,omitempty"`
	WindowS float64 `json:"window_s,omitempty"`
	PerHour float64 `json:"per_hour,omitempty"`
	// Setting, Busy and BackupMasterMS are k's: the pair's timers, the
	// busy loops and n2's time in MASTER.
	Setting        string  `json:"setting,omitempty"`
	Busy           int     `json:"busy,omitempty"`
	BackupMasterMS float64 `json:"backup_master_ms,omitempty"`
	Error          string  `json:"error,omitempty"`
}

// faultInfo names the faults in report order.
var faultInfo = []struct{ id, title, how string }{
	{"a", "a. Cut between the nodes", "Every frame between n1 and n2 dropped at the lab switch, both ways, for 10 s; the client reaches both"},
	{"b", "b. Multicast adverts filtered", "Frames to 224.0.0.18 dropped toward both nodes for 30 s"},
	{"c", "c. One-way loss n1→n2, every frame", "Every frame from n1 to n2 dropped for 10 s (n2→n1 passes)"},
	{"c2", "c2. One-way loss n1→n2, adverts only", "IP protocol 112 from n1 to n2 dropped for 10 s"},
	{"d", "d. SIGKILL of the master's daemon", "SIGKILL of n1's carpd / ucarp / keepalived (parent), restarted 5 s later"},
	{"e", "e. Broker SIGSTOP on the master", "SIGSTOP of n1's mosquitto, SIGCONT 6 s later"},
	{"f", "f. A hook hanging during a handover", "n2's MASTER hook (carpd `hooks.master`; the classic up / notify_master script after its work) runs `sleep 600`; n1's daemon gets SIGTERM (handover to n2) and is restarted 8 s later (preemption back to n1)"},
	{"g1", "g1. DNAT table deleted on the master", "`nft delete table ip carpd` (ucarp, keepalived: `ip classic`, their up script's DNAT) on n1"},
	{"g2", "g2. nft flush ruleset on the master", "`nft flush ruleset` on n1"},
	{"h", "h. VIP deleted on the master", "`ip addr del VIP/32` on n1 behind the daemon's back"},
	{"i", "i. Master's interface down", "`ip link set eth0 down` in n1's namespace, up 5 s later"},
}

// matrixSystems are the 1 s setups of faults a to i, in report order.
var matrixSystems = []string{"carpd CARP resolve", "carpd CARP off", "carpd VRRPv3 resolve", "carpd VRRPv3 off",
	"ucarp", "keepalived VRRPv3"}

// lossCells are j's expected system/timer pairs.
var lossCells = [][2]string{
	{"carpd CARP resolve", "1s"}, {"carpd CARP off", "1s"}, {"carpd VRRPv3 resolve", "1s"}, {"carpd VRRPv3 off", "1s"},
	{"ucarp", "1s"}, {"keepalived VRRPv3", "1s"},
	{"carpd VRRPv3 resolve", "100ms"}, {"carpd VRRPv3 off", "100ms"}, {"keepalived VRRPv3", "100ms"},
}

// starveCells are k's expected system/timer pairs (subsecond_test.go's
// pairs).
var starveCells = [][2]string{
	{"carpd CARP", "advbase 0"}, {"ucarp", "advbase 0"}, {"carpd VRRPv3", "50ms"}, {"keepalived VRRPv3", "50ms"},
}

// keepNames are the hand-written sections the generator places, with
// the text they hold until someone writes them.
var keepNames = []string{"reading", "cpu-starvation", "soak"}

var keepRE = regexp.MustCompile(`(?s)<!-- keep:([a-z0-9-]+) -->\n?(.*?)<!-- /keep:([a-z0-9-]+) -->`)

// keptSections returns the bodies of the keep sections of an earlier
// report, in order of appearance.
func keptSections(old string) (map[string]string, []string) {
	bodies := map[string]string{}
	var order []string
	for _, m := range keepRE.FindAllStringSubmatch(old, -1) {
		if m[1] != m[3] {
			continue
		}
		if _, dup := bodies[m[1]]; !dup {
			order = append(order, m[1])
		}
		bodies[m[1]] = m[2]
	}
	return bodies, order
}

func keepBlock(name, body string) string {
	if body != "" && !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	return "<!-- keep:" + name + " -->\n" + body + "<!-- /keep:" + name + " -->\n"
}

// WriteReliability writes dir/reliability.md from run, keeping the keep
// sections of the file it replaces.
func WriteReliability(dir string, run FaultRun) error {
	path := filepath.Join(dir, "reliability.md")
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	return os.WriteFile(path, []byte(reliability(run, string(old))), 0o644)
}

// reliability renders the report; old is the previous file, whose keep
// sections it carries over (a section the template no longer places is
// appended at the end rather than lost).
func reliability(run FaultRun, old string) string {
	kept, order := keptSections(old)
	keep := func(name string) string {
		body, ok := kept[name]
		if !ok {
			body = "_Not written yet._\n"
		}
		return keepBlock(name, body)
	}
	var b strings.Builder
	b.WriteString("# Reliability: the fault matrix\n\n")
	b.WriteString("<!-- Generated by scripts/bench/faults.sh from docs/bench/faults.json. Edit only inside the keep " +
		"markers: the rest is rewritten. -->\n\n")
	b.WriteString("What carpd, ucarp and keepalived do when the network, a daemon, the broker, a hook or an operator " +
		"goes wrong, on the classic broker setup of [BENCHMARKS.md](BENCHMARKS.md): two nodes in network namespaces " +
		"joined by a bridge (internal/lab), mosquitto on each with the bridge on n1, an MQTT client publishing QoS 1 " +
		"every 10 ms through the VIP from a third namespace and subscribing to it. Regenerate with " +
		"`sudo scripts/bench/faults.sh` (the passes that made these figures are listed under [Runs](#runs); " +
		"`--report-only` rewrites this file from the JSON).\n\n")
	b.WriteString("## Reading\n\n" + keep("reading") + "\n")
	b.WriteString(setupsText)
	for _, f := range faultInfo {
		faultTable(&b, run, f.id, f.title, f.how)
	}
	lossTable(&b, run)
	starveTable(&b, run)
	b.WriteString("\n" + keep("cpu-starvation"))
	b.WriteString("\n## Soak\n\n" + keep("soak"))
	runsSection(&b, run)
	notMeasuredSection(&b, run)
	var extra []string
	for _, name := range order {
		if !slices.Contains(keepNames, name) {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		b.WriteString("\n## Other kept sections\n\n")
		for _, name := range extra {
			b.WriteString(keepBlock(name, kept[name]) + "\n")
		}
	}
	return b.String()
}

const setupsText = `## Setups and measures

| setup | timers | VIP, DNAT and broker | split brain |
|---|---|---|---|
| carpd CARP resolve / off | CARP advbase 1, advskew 0 (n1) / 50 (n2), preempt | carpd: VIP, DNAT (table ` + "`ip carpd`" + `), broker supervised and restarted on promotion; bridge probe to the peer's broker every 1 s | ` + "`split_brain: resolve`" + ` / ` + "`off`" + ` |
| carpd VRRPv3 resolve / off | advert_int 1 s (j: also 100 ms), priority 150 / 100 | as above | as above |
| ucarp | CARP advbase 1, advskew 0 / 50, ` + "`-P -n -z`" + ` | up/down scripts: VIP, DNAT (table ` + "`ip classic`" + `), restart mosquitto | none |
| keepalived VRRPv3 | advert_int 1 s (j: also 100 ms), priority 150 / 100 | keepalived adds the VIP; notify_master/backup/fault/stop scripts: DNAT, restart mosquitto | none |

carpd's health check is at its defaults (5 s interval, 3 failures). k uses the sub-second pairs of
[BENCHMARKS.md](BENCHMARKS.md) (scripts/bench/subsecond_test.go's starters): no broker, so carpd there has no
heartbeat.

Per trial, from the fault to the end (the heal plus 10 s; f: plus 35 s, past carpd's 30 s hook timeout):

- **two MASTERs** / **no MASTER**: time both nodes / neither node held the VIP (` + "`ip addr`" + ` through netlink
  in each namespace every 10 ms);
- **outage at fault** / **at heal**: the subscriber's longest gap between two messages beginning between the fault
  and the heal / after the heal (10 ms is no outage: the publisher's period);
- **lost**: QoS 1 messages published and never received over the whole trial;
- **ARP changes**: changes of the client's neighbour entry for the VIP from one MAC to another (netlink, every
  10 ms);
- **entries**: entries into MASTER of both nodes (carpd's log; the classic up script's runs);
- **restore** (g, h): time until the DNAT rule or the VIP was back on a node (polled every 20 ms), or never;
- **leftovers**: at the end, the VIP anywhere but on n1 alone (both setups preempt), the DNAT anywhere but on n1,
  a daemon not running, a broker count other than one per node, and any other process left in a node's
  namespace (a hung hook's ` + "`sleep`" + `).

Cells show the value, or the median and range over trials.
`

// cellStr is one cell: the value, or the median (min–max); neg is what
// a trial without a figure shows.
func cellStr(vs []float64, neg string) string {
	s := stats(vs)
	if s.N == 0 {
		if len(vs) > 0 {
			return neg
		}
		return "—"
	}
	missing := ""
	if s.N < len(vs) {
		missing = fmt.Sprintf(", %d× %s", len(vs)-s.N, neg)
	}
	if s.Min == s.Max {
		if missing != "" {
			return fmt.Sprintf("%.0f%s", s.Median, missing)
		}
		return fmt.Sprintf("%.0f", s.Median)
	}
	return fmt.Sprintf("%.0f (%.0f–%.0f%s)", s.Median, s.Min, s.Max, missing)
}

func trialsOf(run FaultRun, fault, system, timer string) []FaultTrial {
	var out []FaultTrial
	for _, r := range run.Trials {
		if r.Fault == fault && r.System == system && r.Timer == timer {
			out = append(out, r)
		}
	}
	return out
}

func column(rs []FaultTrial, f func(FaultTrial) float64) []float64 {
	var out []float64
	for _, r := range rs {
		out = append(out, f(r))
	}
	return out
}

// notes joins the leftovers and errors of the trials, each once with
// its count.
func notes(rs []FaultTrial) string {
	count := map[string]int{}
	var order []string
	add := func(s string) {
		if count[s] == 0 {
			order = append(order, s)
		}
		count[s]++
	}
	for _, r := range rs {
		for _, l := range r.Leftovers {
			add(l)
		}
		if r.Error != "" {
			add("error: " + r.Error)
		}
	}
	var parts []string
	for _, s := range order {
		s = strings.ReplaceAll(s, "|", "\\|")
		if len(rs) > 1 {
			s = fmt.Sprintf("%s (%d/%d)", s, count[s], len(rs))
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

func faultTable(b *strings.Builder, run FaultRun, id, title, how string) {
	fmt.Fprintf(b, "\n## %s\n\n%s.\n\n", title, how)
	restore := id == "g1" || id == "g2" || id == "h"
	hdr := "| setup | trials | two MASTERs ms | no MASTER ms | outage at fault ms | outage at heal ms | lost | ARP changes | entries |"
	sep := "|---|---|---|---|---|---|---|---|---|"
	if restore {
		hdr += " restored after ms |"
		sep += "---|"
	}
	b.WriteString(hdr + " leftovers, errors |\n" + sep + "---|\n")
	for _, sys := range matrixSystems {
		rs := trialsOf(run, id, sys, "1s")
		if len(rs) == 0 {
			fmt.Fprintf(b, "| %s | 0 | not measured%s |\n", sys, strings.Repeat(" | —", 7+len(restoreCol(restore))))
			continue
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s |", sys, len(rs),
			cellStr(column(rs, func(r FaultTrial) float64 { return r.DualMS }), "—"),
			cellStr(column(rs, func(r FaultTrial) float64 { return r.NoneMS }), "—"),
			cellStr(column(rs, func(r FaultTrial) float64 { return r.OutageFaultMS }), "—"),
			cellStr(column(rs, func(r FaultTrial) float64 { return r.OutageHealMS }), "—"),
			cellStr(column(rs, func(r FaultTrial) float64 { return float64(r.Lost) }), "—"),
			cellStr(column(rs, func(r FaultTrial) float64 { return float64(r.ARPChanges) }), "—"),
			cellStr(column(rs, func(r FaultTrial) float64 { return float64(r.Entries) }), "—"))
		if restore {
			fmt.Fprintf(b, " %s |", cellStr(column(rs, func(r FaultTrial) float64 { return r.RestoreMS }), "never"))
		}
		fmt.Fprintf(b, " %s |\n", notes(rs))
	}
}

func lossTable(b *strings.Builder, run FaultRun) {
	b.WriteString("\n## j. Random loss on the segment\n\n")
	b.WriteString("Random loss (nft `numgen random` at the lab switch) on the frames to n1, n2 and the client, on a " +
		"settled pair with the stream running, 1 % then 5 % on the same pair (3 s apart). Every entry into MASTER " +
		"in the window is spurious; per hour scales the count to an hour. The longest outage and the losses are " +
		"the stream's in the window.\n\n")
	b.WriteString("| setup | timer | loss | window s | spurious entries | per hour | two MASTERs ms | no MASTER ms | " +
		"longest outage ms | lost | ARP changes | errors |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range lossCells {
		for _, pct := range []int{1, 5} {
			var rs []FaultTrial
			for _, r := range trialsOf(run, "j", c[0], c[1]) {
				if r.LossPct == pct {
					rs = append(rs, r)
				}
			}
			if len(rs) == 0 {
				fmt.Fprintf(b, "| %s | %s | %d %% | not measured%s |\n", c[0], c[1], pct, strings.Repeat(" | —", 8))
				continue
			}
			fmt.Fprintf(b, "| %s | %s | %d %% | %.0f | %s | %s | %s | %s | %s | %s | %s | %s |\n", c[0], c[1], pct,
				rs[0].WindowS,
				cellStr(column(rs, func(r FaultTrial) float64 { return float64(r.Entries) }), "—"),
				cellStr(column(rs, func(r FaultTrial) float64 { return r.PerHour }), "—"),
				cellStr(column(rs, func(r FaultTrial) float64 { return r.DualMS }), "—"),
				cellStr(column(rs, func(r FaultTrial) float64 { return r.NoneMS }), "—"),
				cellStr(column(rs, func(r FaultTrial) float64 { return r.OutageFaultMS }), "—"),
				cellStr(column(rs, func(r FaultTrial) float64 { return float64(r.Lost) }), "—"),
				cellStr(column(rs, func(r FaultTrial) float64 { return float64(r.ARPChanges) }), "—"),
				strings.TrimPrefix(notes(rs), "none"))
		}
	}
}

func starveTable(b *strings.Builder, run FaultRun) {
	b.WriteString("\n## k. CPU starvation\n\n")
	b.WriteString("A busy loop (`sh -c 'while :; do :; done'`) per core in a third namespace, for the window, " +
		"on a settled sub-second pair (no broker, no client). Every entry into MASTER in the window is spurious.\n\n")
	b.WriteString("| setup | timer | setting | busy loops | window s | spurious entries | per hour | n2 MASTER ms | errors |\n" +
		"|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range starveCells {
		rs := trialsOf(run, "k", c[0], c[1])
		if len(rs) == 0 {
			fmt.Fprintf(b, "| %s | %s | not measured%s |\n", c[0], c[1], strings.Repeat(" | —", 6))
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %s | %d | %.0f | %s | %s | %s | %s |\n", c[0], c[1], rs[0].Setting, rs[0].Busy,
			rs[0].WindowS,
			cellStr(column(rs, func(r FaultTrial) float64 { return float64(r.Entries) }), "—"),
			cellStr(column(rs, func(r FaultTrial) float64 { return r.PerHour }), "—"),
			cellStr(column(rs, func(r FaultTrial) float64 { return r.BackupMasterMS }), "—"),
			strings.TrimPrefix(notes(rs), "none"))
	}
}

func runsSection(b *strings.Builder, run FaultRun) {
	b.WriteString("\n## Runs\n\n")
	if len(run.Passes) == 0 {
		b.WriteString("None yet.\n")
		return
	}
	b.WriteString("Each pass replaced the cells it measured; a cell's trials all come from one pass.\n\n")
	for i, p := range run.Passes {
		n := 0
		for _, r := range run.Trials {
			if r.Pass == i {
				n++
			}
		}
		if n == 0 {
			continue
		}
		fmt.Fprintf(b, "- Pass %d: `%s`, %s to %s, %d trial(s) per cell, j/k window %.0f s; %d rows kept.",
			i, p.Command, p.Started, orDash(p.Finished), p.Trials, p.DurationS, n)
		if p.Shared != "" {
			fmt.Fprintf(b, " Also running on the machine: %s.", p.Shared)
		}
		b.WriteString("\n")
		for _, m := range p.Machine {
			fmt.Fprintf(b, "  - %s\n", m)
		}
	}
}

func notMeasuredSection(b *strings.Builder, run FaultRun) {
	var missing []string
	for _, f := range faultInfo {
		for _, sys := range matrixSystems {
			rs := trialsOf(run, f.id, sys, "1s")
			if len(rs) == 0 {
				missing = append(missing, fmt.Sprintf("%s × %s", f.id, sys))
			}
			for _, r := range rs {
				if r.Error != "" {
					missing = append(missing, fmt.Sprintf("%s × %s trial %d failed: %s", f.id, sys, r.Trial, r.Error))
				}
			}
		}
	}
	for _, c := range lossCells {
		for _, pct := range []int{1, 5} {
			found := false
			for _, r := range trialsOf(run, "j", c[0], c[1]) {
				if r.LossPct == pct {
					found = true
					if r.Error != "" {
						missing = append(missing, fmt.Sprintf("j %d %% × %s %s failed: %s", pct, c[0], c[1], r.Error))
					}
				}
			}
			if !found {
				missing = append(missing, fmt.Sprintf("j %d %% × %s %s", pct, c[0], c[1]))
			}
		}
	}
	for _, c := range starveCells {
		rs := trialsOf(run, "k", c[0], c[1])
		if len(rs) == 0 {
			missing = append(missing, fmt.Sprintf("k × %s %s", c[0], c[1]))
		}
		for _, r := range rs {
			if r.Error != "" {
				missing = append(missing, fmt.Sprintf("k × %s %s failed: %s", c[0], c[1], r.Error))
			}
		}
	}
	// The question asks for ten-minute windows of j and k; shorter ones
	// are figures, but not those.
	short := map[string]float64{}
	for _, r := range run.Trials {
		if (r.Fault == "j" || r.Fault == "k") && r.WindowS > 0 && r.WindowS < 600 {
			short[r.Fault] = max(short[r.Fault], r.WindowS)
		}
	}
	for _, id := range []string{"j", "k"} {
		if w, ok := short[id]; ok {
			missing = append(missing, fmt.Sprintf("%s with ten-minute windows: its cells ran %.0f s or less "+
				"(faults.sh --faults %s --duration 10m)", id, w, id))
		}
	}
	missing = append(missing, "k with the broker setups (carpd's heartbeat under starvation): the sub-second pairs run without a broker",
		"j for CARP at sub-second timers (carpd and ucarp run CARP at advbase 0, advskew 26, only in k)")
	b.WriteString("\n## Not measured\n\n")
	for _, m := range missing {
		fmt.Fprintf(b, "- %s\n", strings.ReplaceAll(m, "|", "\\|"))
	}
}

// restoreCol is the restore column's extra cell, when the fault has one.
func restoreCol(restore bool) []string {
	if restore {
		return []string{"restored"}
	}
	return nil
}
