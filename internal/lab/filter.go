//go:build linux

package lab

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
)

// The lab degrades the network with nftables rules in a "bridge carpdlab"
// table in the switch namespace, on frames the bridge forwards to a node's
// port. Dropping on the switch, rather than with an input hook in the node,
// also hides the frames from packet sockets (AF_PACKET, tcpdump) in the node,
// which see traffic before any netfilter hook there. There is no netem on
// the kernels the tests run on.

// lossRule drops pct % of the frames to a node, of the given IP protocols
// only when protos is not empty.
type lossRule struct {
	pct    int
	protos []uint8
}

// filterState is what the rules express; every change rewrites the table
// from it in one nft transaction.
type filterState struct {
	loss       map[*Node]lossRule
	partitions [][2]*Node
	noMcast    map[*Node]bool
	oneWay     []oneWayRule
}

// oneWayRule drops frames forwarded from one node's port to another's, of
// the given IP protocols only when protos is not empty.
type oneWayRule struct {
	from, to *Node
	protos   []uint8
}

// Loss drops pct % (0..100, chosen at random per frame) of the frames the
// switch forwards to n, or of its IPv4 and IPv6 packets of the given
// protocols only, such as 112 for CARP and VRRP. Loss(n, 0) removes it; a
// new call replaces the previous one for n. It fails the lab's test on error
// and skips it when nft is missing.
func (l *Lab) Loss(n *Node, pct int, protos ...uint8) {
	l.tb.Helper()
	l.checkPort(n)
	if pct < 0 || pct > 100 {
		l.tb.Fatalf("lab: loss %d%%, want 0..100", pct)
	}
	l.mu.Lock()
	if l.filter.loss == nil {
		l.filter.loss = make(map[*Node]lossRule)
	}
	if pct == 0 {
		delete(l.filter.loss, n)
	} else {
		l.filter.loss[n] = lossRule{pct: pct, protos: slices.Clone(protos)}
	}
	l.mu.Unlock()
	l.applyFilter()
}

// Partition drops every frame between a and b, both ways (ARP and neighbour
// discovery included), while both still reach everyone else. Heal undoes all
// partitions.
func (l *Lab) Partition(a, b *Node) {
	l.tb.Helper()
	l.checkPort(a)
	l.checkPort(b)
	l.mu.Lock()
	l.filter.partitions = append(l.filter.partitions, [2]*Node{a, b})
	l.mu.Unlock()
	l.applyFilter()
}

// OneWay drops every frame from `from` to `to`, or only their IPv4 and
// IPv6 packets of the given protocols (112: CARP and VRRP adverts), while
// frames from `to` to `from` and to everyone else pass: the asymmetric
// faults (a half-broken cable or switch port, a filter on one side) where
// one node still hears the other but not the reverse. Heal undoes it.
func (l *Lab) OneWay(from, to *Node, protos ...uint8) {
	l.tb.Helper()
	l.checkPort(from)
	l.checkPort(to)
	l.mu.Lock()
	l.filter.oneWay = append(l.filter.oneWay, oneWayRule{from: from, to: to, protos: slices.Clone(protos)})
	l.mu.Unlock()
	l.applyFilter()
}

// Heal removes all partitions and one-way drops; loss and multicast blocks
// stay.
func (l *Lab) Heal() {
	l.tb.Helper()
	l.mu.Lock()
	l.filter.partitions = nil
	l.filter.oneWay = nil
	l.mu.Unlock()
	l.applyFilter()
}

// BlockMulticast drops frames to n addressed to the CARP/VRRP groups
// 224.0.0.18 and ff02::12, so that only unicast advertisements reach it.
func (l *Lab) BlockMulticast(n *Node) { l.setMulticast(n, true) }

// AllowMulticast undoes BlockMulticast.
func (l *Lab) AllowMulticast(n *Node) { l.setMulticast(n, false) }

func (l *Lab) setMulticast(n *Node, block bool) {
	l.tb.Helper()
	l.checkPort(n)
	l.mu.Lock()
	if l.filter.noMcast == nil {
		l.filter.noMcast = make(map[*Node]bool)
	}
	if block {
		l.filter.noMcast[n] = true
	} else {
		delete(l.filter.noMcast, n)
	}
	l.mu.Unlock()
	l.applyFilter()
}

func (l *Lab) checkPort(n *Node) {
	l.tb.Helper()
	if n == nil || n.lab != l || n.port == "" {
		l.tb.Fatalf("lab: %v is not a node or client of this lab", n)
	}
}

// applyFilter replaces the table with one built from the current state. The
// "table; delete table; table {...}" sequence is one atomic transaction that
// works whether or not the table exists yet.
func (l *Lab) applyFilter() {
	l.tb.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		l.tb.Skip("lab: nft (nftables) not found: ", err)
	}
	l.mu.Lock()
	script := l.filterScript()
	l.mu.Unlock()
	if err := runTool([]byte(script), "ip", "netns", "exec", l.Switch.NS, "nft", "-f", "-"); err != nil {
		l.tb.Fatalf("lab: loading rules:\n%s\n%v", script, err)
	}
}

// filterScript renders the table; l.mu must be held. Rules are in node order
// so the same state always gives the same script.
func (l *Lab) filterScript() string {
	var rules []string
	for _, p := range l.filter.partitions {
		rules = append(rules,
			fmt.Sprintf("iifname %q oifname %q counter drop", p[0].port, p[1].port),
			fmt.Sprintf("iifname %q oifname %q counter drop", p[1].port, p[0].port))
	}
	for _, o := range l.filter.oneWay {
		if len(o.protos) == 0 {
			rules = append(rules, fmt.Sprintf("iifname %q oifname %q counter drop", o.from.port, o.to.port))
		}
		for _, proto := range o.protos {
			rules = append(rules,
				fmt.Sprintf("iifname %q oifname %q ip protocol %d counter drop", o.from.port, o.to.port, proto),
				fmt.Sprintf("iifname %q oifname %q ip6 nexthdr %d counter drop", o.from.port, o.to.port, proto))
		}
	}
	for _, n := range append(slices.Clone(l.Nodes), l.Client) {
		if l.filter.noMcast[n] {
			rules = append(rules,
				fmt.Sprintf("oifname %q ip daddr 224.0.0.18 counter drop", n.port),
				fmt.Sprintf("oifname %q ip6 daddr ff02::12 counter drop", n.port))
		}
		if loss, ok := l.filter.loss[n]; ok {
			rules = append(rules, lossRules(n.port, loss)...)
		}
	}
	var b strings.Builder
	b.WriteString("table bridge carpdlab\ndelete table bridge carpdlab\n")
	if len(rules) == 0 {
		return b.String()
	}
	b.WriteString("table bridge carpdlab {\n\tchain forward {\n")
	b.WriteString("\t\ttype filter hook forward priority filter; policy accept;\n")
	for _, r := range rules {
		b.WriteString("\t\t" + r + "\n")
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// lossRules renders a loss rule for the port.
func lossRules(port string, loss lossRule) []string {
	random := ""
	// nft rejects "< 100" as out of range for "mod 100"; 100 % is no
	// condition at all.
	if loss.pct < 100 {
		random = fmt.Sprintf("numgen random mod 100 < %d ", loss.pct)
	}
	if len(loss.protos) == 0 {
		return []string{fmt.Sprintf("oifname %q %scounter drop", port, random)}
	}
	var rules []string
	for _, proto := range loss.protos {
		rules = append(rules,
			fmt.Sprintf("oifname %q ip protocol %d %scounter drop", port, proto, random),
			fmt.Sprintf("oifname %q ip6 nexthdr %d %scounter drop", port, proto, random))
	}
	return rules
}
