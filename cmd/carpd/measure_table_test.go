//go:build linux

package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
	"github.com/google/go-cmp/cmp"
)

// measureCell holds the trials of one system and fault; results has only
// the trials that saw a takeover.
type measureCell struct {
	system, fault string
	trials        int
	results       []trialResult
}

// durationStats is the median, minimum and maximum of ds; the median of an
// even count is the mean of the middle two. All are zero for no ds.
func durationStats(ds []time.Duration) (median, lo, hi time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	m := len(s) / 2
	median = s[m]
	if len(s)%2 == 0 {
		median = (s[m-1] + s[m]) / 2
	}
	return median, s[0], s[len(s)-1]
}

func TestDurationStats(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name string
		in   []time.Duration
		want [3]time.Duration
	}{
		{"none", nil, [3]time.Duration{}},
		{"one", []time.Duration{5 * ms}, [3]time.Duration{5 * ms, 5 * ms, 5 * ms}},
		{"odd unsorted", []time.Duration{30 * ms, 10 * ms, 20 * ms}, [3]time.Duration{20 * ms, 10 * ms, 30 * ms}},
		{"even", []time.Duration{40 * ms, 10 * ms, 20 * ms, 30 * ms}, [3]time.Duration{25 * ms, 10 * ms, 40 * ms}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			med, lo, hi := durationStats(tc.in)
			if diff := cmp.Diff(tc.want, [3]time.Duration{med, lo, hi}); diff != "" {
				t.Errorf("durationStats(%v) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

// measureRow is one line of the table.
func measureRow(c measureCell) string {
	var took, since []time.Duration
	var all, entries, flaps []string
	for _, r := range c.results {
		took = append(took, r.took)
		since = append(since, r.sinceAdvert)
		all = append(all, fmt.Sprint(r.took.Milliseconds()))
		entries = append(entries, fmt.Sprint(r.entries))
		flaps = append(flaps, fmt.Sprint(r.flaps))
	}
	med, lo, hi := durationStats(took)
	sinceMed, _, _ := durationStats(since)
	sec := func(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
	return fmt.Sprintf("| %s | %s | %d/%d | %s | %s | %s | %s | %s | %s | %s |", c.system, c.fault,
		len(c.results), c.trials, sec(med), sec(lo), sec(hi), strings.Join(all, " "), sec(sinceMed),
		strings.Join(entries, " "), strings.Join(flaps, " "))
}

func TestMeasureRow(t *testing.T) {
	ms := time.Millisecond
	c := measureCell{system: "ucarp", fault: "kill", trials: 3, results: []trialResult{
		{took: 3210 * ms, sinceAdvert: 3300 * ms, entries: 1},
		{took: 3190 * ms, sinceAdvert: 3500 * ms, entries: 2, flaps: 1},
	}}
	want := "| ucarp | kill | 2/3 | 3.200 | 3.190 | 3.210 | 3210 3190 | 3.400 | 1 2 | 0 1 |"
	if diff := cmp.Diff(want, measureRow(c)); diff != "" {
		t.Errorf("measureRow (-want +got):\n%s", diff)
	}
}

// measureReport is the Markdown report: the set-up, the machine and the
// table.
func measureReport(cells []measureCell, trials int, started time.Time, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Takeover times in the carpd lab\n\n")
	fmt.Fprintf(&b, "Measured on %s, from the repository's root, as root (the run took %v):\n\n"+
		"```sh\n%s=%d %s=$PWD/docs/takeover-lab.md \\\n  go test -count=1 -timeout 30m -run '^TestMeasureTakeover$' "+
		"-v ./cmd/carpd/\n```\n\n", started.UTC().Format(time.DateOnly), took.Round(time.Second),
		measureTrialsEnv, trials, measureOutEnv)
	b.WriteString("This is the protocol-level takeover only; the side-by-side benchmark with the MQTT " +
		"clients' outage is scripts/bench (docs/BENCHMARKS.md).\n\n")
	fmt.Fprintf(&b, "Two nodes and a client on a bridge in network namespaces (veth). Timers: CARP advbase 1 s, "+
		"master advskew 0, backup advskew 50; VRRP advert_int 1 s, master priority 150, backup 100. "+
		"%d trials per row, each in a fresh lab. Takeover = from the fault to the first answer from the "+
		"backup's MAC to an ARP request for the VIP, probed from the client every %v.\n\n", trials, probeEvery)
	fmt.Fprintf(&b, "- kill: the master's switch port down, then SIGKILL of the daemon and everything in its namespace\n")
	fmt.Fprintf(&b, "- term: SIGTERM of the master daemon\n\n")
	for _, line := range lab.Machine(versionString()) {
		fmt.Fprintf(&b, "- %s\n", line)
	}
	b.WriteString("\n| system | fault | ok/trials | median s | min s | max s | trials ms | " +
		"median s from last advert | backup MASTER entries | flaps |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range cells {
		b.WriteString(measureRow(c) + "\n")
	}
	b.WriteString("\nfrom last advert: takeover plus the time from the master's last advertisement (seen by the " +
		"client) to the fault; the backup's timer runs from that advertisement, so after a kill this is " +
		"its master-down interval plus reaction time, free of the fault's phase within the 1 s interval. " +
		"ucarp's reaction time includes its poll: a backup ucarp looks at its master-down timer only when " +
		"poll() returns, which with nothing arriving is every advbase + advskew/256 s (`strace -e poll` " +
		"shows poll(…, 1195) for -b 1 -k 50), so it notices the expiry up to that much late.\n")
	b.WriteString("\nbackup MASTER entries: how often the backup entered MASTER up to " + settleAfter.String() +
		" after the takeover (1 = clean). flaps: changes of the MAC answering ARP after the backup's first " +
		"answer (0 = clean).\n")
	return b.String()
}
