//go:build linux

package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/carpd/carpd/internal/lab"
)

// hostileRows are one system's results.
type hostileRows struct {
	system  string
	note    string
	carpd   bool
	bait    []lab.Connect
	results []attackResult
}

// hostileReport is the Markdown attack table.
func hostileReport(rows []hostileRows, started time.Time, took time.Duration) string {
	var b strings.Builder
	b.WriteString("# Attacks from a hostile host on the segment, measured in the carpd lab\n\n")
	fmt.Fprintf(&b, "Measured on %s, from the repository's root, as root (the run took %v):\n\n"+
		"```sh\n%s=$PWD/hostile.md go test -count=1 -timeout 30m -run '^TestMeasureHostile$' -v ./cmd/carpd/\n"+
		"```\n\n", started.UTC().Format(time.DateOnly), took.Round(time.Second), hostileOutEnv)
	for _, line := range lab.Machine(versionString()) {
		fmt.Fprintf(&b, "- %s\n", line)
	}
	fmt.Fprintf(&b, "\nTwo nodes and an attacker (the lab's client, not a member) on a bridge in network "+
		"namespaces. Every system advertises every second; n1 is preferred (CARP advskew 10, VRRP priority "+
		"150), n2 backs up (advskew 50, priority 100). Before each attack the harness waits until one node "+
		"alone has held the VIP for %v; the attacker then captures the next advert of that master from the "+
		"wire and sends it once, or %d a second for %v, from its own address or spoofed from the master's "+
		"(IP_HDRINCL, TTL 255), and watches for %v more. replay = the advert as captured; best = CARP advskew "+
		"0, advbase ≤ 1 / VRRP priority 254; bow-out = CARP advbase 255 advskew 255 / VRRP priority 0; "+
		"checksums recomputed as the capture had them.\n\n", settleStable, floodRate, floodTime, observeAfter)
	b.WriteString("transitions n1/n2: state changes during the attack (carpd: status counter; ucarp: up/down " +
		"script runs; keepalived: \"Entering … STATE\" log lines). VIP: which node held it before → after " +
		"(both = two masters). two masters / no master: time both / neither held the VIP, polled every " +
		holderPoll.String() + ". drops: carpd's drop counters on both nodes, by reason. CONNECTs: connections to the attacker's " +
		"mosquitto with carpd's user name.\n\n")
	for _, r := range rows {
		if r.note != "" {
			fmt.Fprintf(&b, "- %s: %s\n", r.system, r.note)
		}
		if r.carpd {
			fmt.Fprintf(&b, "- %s, probe bait (n1's advert replayed 10/s from the attacker's address while n2 "+
				"starts): %d CONNECTs with carpd's user name%s\n", r.system, len(r.bait), connectList(r.bait))
		}
	}
	b.WriteString("\n| system | attack | sent | transitions n1/n2 | VIP | two masters | no master | drops | " +
		"CONNECTs |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range rows {
		for _, r := range row.results {
			b.WriteString(hostileRow(row, r) + "\n")
		}
	}
	return b.String()
}

func hostileRow(row hostileRows, r attackResult) string {
	if r.err != nil {
		return fmt.Sprintf("| %s | %v | %d | not run: %v | | | | | |", row.system, r.attack, r.sent, r.err)
	}
	two, none := "n", "n"
	if r.twoMasters > 0 {
		two = fmt.Sprintf("y, %.2f s", r.twoMasters.Seconds())
	}
	if r.noMaster > 0 {
		none = fmt.Sprintf("y, %.2f s", r.noMaster.Seconds())
	}
	drops, connects := "n/a", "n/a"
	if row.carpd {
		drops = dropList(sumDrops(r.drops))
		connects = fmt.Sprint(len(r.connects))
	}
	return fmt.Sprintf("| %s | %v | %d | %d/%d | %s → %s | %s | %s | %s | %s |", row.system, r.attack, r.sent,
		r.transitions[0], r.transitions[1], holderName(r.master), holderName(r.after), two, none, drops, connects)
}

func holderName(h int) string {
	switch h {
	case 0, 1:
		return fmt.Sprintf("n%d", h+1)
	case 2:
		return "both"
	}
	return "none"
}

func dropList(d map[string]int) string {
	if len(d) == 0 {
		return "none"
	}
	var keys []string
	for k := range d {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, d[k]))
	}
	return strings.Join(parts, ", ")
}

func connectList(cs []lab.Connect) string {
	if len(cs) == 0 {
		return ""
	}
	var s []string
	for _, c := range cs {
		s = append(s, c.String())
	}
	return " (" + strings.Join(s, "; ") + ")"
}
