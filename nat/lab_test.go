//go:build linux

package nat

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netns"
)

// labTable returns a Table working inside node n's namespace through a
// namespace file descriptor, without switching any thread.
func labTable(t *testing.T, n *lab.Node, opts ...Option) (*Table, int) {
	t.Helper()
	ns, err := netns.GetFromName(n.NS)
	if err != nil {
		t.Fatalf("opening namespace of %s: %v", n.Name, err)
	}
	t.Cleanup(func() { ns.Close() })
	return New(append([]Option{WithNetNS(int(ns))}, opts...)...), int(ns)
}

// nft runs nft(8) in n's namespace and returns its output.
func nft(t *testing.T, n *lab.Node, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft(8) not found: ", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := n.Run(ctx, append([]string{"nft"}, args...)...)
	if err != nil {
		t.Fatalf("nft %v in %s: %v", args, n.Name, err)
	}
	return string(out)
}

// tables lists the tables in n's namespace, one "family name" per entry.
func tables(t *testing.T, n *lab.Node) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(nft(t, n, "list", "tables"), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "table" {
			out = append(out, f[1]+" "+f[2])
		}
	}
	return out
}

// wantListing is what "nft list table ip carpd" must print for labRules.
const wantListing = `table ip carpd {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr 198.18.0.100 tcp dport 1883 dnat to 198.18.0.1:1883 comment "carpd:198.18.0.100:1883"
		ip daddr 198.18.0.100 tcp dport 8883 dnat to 198.18.0.1:8883 comment "carpd:198.18.0.100:8883"
		ip daddr 198.18.0.100 tcp dport 9001 dnat to 198.18.0.1:9001 comment "carpd:198.18.0.100:9001"
		ip daddr 198.18.0.101 tcp dport 1883 dnat to 198.18.0.1:1883 comment "carpd:198.18.0.101:1883"
	}

	chain output {
		type nat hook output priority -100; policy accept;
		ip daddr 198.18.0.100 tcp dport 1883 dnat to 198.18.0.1:1883 comment "carpd:198.18.0.100:1883"
		ip daddr 198.18.0.100 tcp dport 8883 dnat to 198.18.0.1:8883 comment "carpd:198.18.0.100:8883"
		ip daddr 198.18.0.100 tcp dport 9001 dnat to 198.18.0.1:9001 comment "carpd:198.18.0.100:9001"
		ip daddr 198.18.0.101 tcp dport 1883 dnat to 198.18.0.1:1883 comment "carpd:198.18.0.101:1883"
	}
}
`

const wantListing6 = `table ip6 carpd {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip6 daddr 2001:2::100 tcp dport 1883 dnat to [2001:2::1]:1883 comment "carpd:[2001:2::100]:1883"
	}

	chain output {
		type nat hook output priority -100; policy accept;
		ip6 daddr 2001:2::100 tcp dport 1883 dnat to [2001:2::1]:1883 comment "carpd:[2001:2::100]:1883"
	}
}
`

// labRules are deliberately out of order; Apply sorts them.
func labRules() []Rule {
	return []Rule{
		rule("2001:2::100", 1883, "[2001:2::1]:1883"),
		rule("198.18.0.101", 1883, "198.18.0.1:1883"),
		rule("198.18.0.100", 9001, "198.18.0.1:9001"),
		rule("198.18.0.100", 1883, "198.18.0.1:1883"),
		rule("198.18.0.100", 8883, "198.18.0.1:8883"),
	}
}

func TestLabApply(t *testing.T) {
	l := lab.New(t, 1)
	n := l.Nodes[0]
	tab, _ := labTable(t, n)

	if got, err := tab.Rules(); err != nil || len(got) != 0 {
		t.Fatalf("Rules before Apply = %v, %v; want none, nil", got, err)
	}
	if err := tab.Remove(); err != nil {
		t.Fatalf("Remove with no table: %v", err)
	}
	for i := range 2 { // the second Apply must change nothing
		if err := tab.Apply(labRules()); err != nil {
			t.Fatalf("Apply #%d: %v", i+1, err)
		}
		if diff := cmp.Diff(wantListing, nft(t, n, "list", "table", "ip", "carpd")); diff != "" {
			t.Errorf("after Apply #%d, nft list table ip carpd (-want +got):\n%s", i+1, diff)
		}
		if diff := cmp.Diff(wantListing6, nft(t, n, "list", "table", "ip6", "carpd")); diff != "" {
			t.Errorf("after Apply #%d, nft list table ip6 carpd (-want +got):\n%s", i+1, diff)
		}
		got, err := tab.Rules()
		if err != nil {
			t.Fatalf("Rules: %v", err)
		}
		want, want6, _ := split(labRules())
		if diff := cmp.Diff(append(want, want6...), got, ruleCmp); diff != "" {
			t.Errorf("Rules after Apply #%d (-want +got):\n%s", i+1, diff)
		}
	}

	// A changed set replaces the old one; the ip6 table goes with its rules.
	changed := []Rule{rule("198.18.0.102", 1883, "198.18.0.1:11883")}
	if err := tab.Apply(changed); err != nil {
		t.Fatalf("Apply changed: %v", err)
	}
	if got, err := tab.Rules(); err != nil || !cmp.Equal(changed, got, ruleCmp) {
		t.Errorf("Rules after changed Apply = %v, %v; want %v", got, err, changed)
	}
	if diff := cmp.Diff([]string{"ip carpd"}, tables(t, n)); diff != "" {
		t.Errorf("tables after changed Apply (-want +got):\n%s", diff)
	}

	if err := tab.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if got := tables(t, n); len(got) != 0 {
		t.Errorf("tables after Remove = %v, want none", got)
	}
	if got, err := tab.Rules(); err != nil || len(got) != 0 {
		t.Errorf("Rules after Remove = %v, %v; want none, nil", got, err)
	}
}

func TestLabDrift(t *testing.T) {
	l := lab.New(t, 1, lab.WithoutIPv6())
	n := l.Nodes[0]
	tab, _ := labTable(t, n)
	rules := []Rule{rule("198.18.0.100", 1883, "198.18.0.1:1883")}
	for _, tt := range []struct {
		name   string
		tamper []string // nft arguments
	}{
		{"foreign rule", []string{"add", "rule", "ip", "carpd", "output", "tcp", "dport", "22", "accept"}},
		{"rule deleted from one chain", []string{"flush", "chain", "ip", "carpd", "output"}},
		{"foreign chain", []string{"add", "chain", "ip", "carpd", "extra"}},
		{"chain deleted", []string{"delete", "chain", "ip", "carpd", "output"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tab.Apply(rules); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			nft(t, n, tt.tamper...)
			if _, err := tab.Rules(); !errors.Is(err, ErrDrift) {
				t.Errorf("Rules after %s: error %v, want ErrDrift", tt.name, err)
			}
			if err := tab.Apply(rules); err != nil {
				t.Fatalf("Apply to repair: %v", err)
			}
			if got, err := tab.Rules(); err != nil || !cmp.Equal(rules, got, ruleCmp) {
				t.Errorf("Rules after repair = %v, %v; want %v", got, err, rules)
			}
		})
	}
}

// foreignRuleset is what iptables-nft (Docker's DNAT), firewalld and Docker's
// filter chains create, plus a table of carpd's name in another family, which
// is not carpd's either.
const foreignRuleset = `
table ip nat {
	chain PREROUTING {
		type nat hook prerouting priority dstnat; policy accept;
		fib daddr type local counter jump DOCKER
	}
	chain OUTPUT {
		type nat hook output priority -100; policy accept;
		ip daddr != 127.0.0.0/8 fib daddr type local counter jump DOCKER
	}
	chain DOCKER {
		iifname != "docker0" tcp dport 8080 counter dnat to 172.17.0.2:80
	}
}
table ip filter {
	chain FORWARD {
		type filter hook forward priority filter; policy drop;
		counter jump DOCKER
	}
	chain DOCKER {
		ip daddr 172.17.0.2 iifname != "docker0" oifname "docker0" tcp dport 80 counter accept
	}
}
table inet firewalld {
	chain filter_INPUT {
		type filter hook input priority filter + 10; policy accept;
		ct state established,related accept
		iifname "lo" accept
		tcp dport { 22, 1883, 8883 } accept
	}
}
table inet carpd {
	chain keep {
		type filter hook input priority 0; policy accept;
	}
}
`

func TestLabCoexistence(t *testing.T) {
	l := lab.New(t, 1)
	n := l.Nodes[0]
	tab, _ := labTable(t, n)
	path := t.TempDir() + "/foreign.nft"
	if err := os.WriteFile(path, []byte(foreignRuleset), 0o644); err != nil {
		t.Fatal(err)
	}
	nft(t, n, "-f", path)
	foreign := []string{"ip nat", "ip filter", "inet firewalld", "inet carpd"}
	snapshot := func() map[string]string {
		m := make(map[string]string)
		for _, ft := range foreign {
			m[ft] = nft(t, n, append([]string{"list", "table"}, strings.Fields(ft)...)...)
		}
		return m
	}
	before := snapshot()
	steps := []struct {
		name string
		do   func() error
	}{
		{"Apply", func() error { return tab.Apply(labRules()) }},
		{"Apply again", func() error { return tab.Apply(labRules()) }},
		{"Apply changed", func() error { return tab.Apply(labRules()[1:2]) }},
		{"Remove", tab.Remove},
		{"Remove again", tab.Remove},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if diff := cmp.Diff(before, snapshot()); diff != "" {
			t.Errorf("foreign tables after %s (-before +after):\n%s", s.name, diff)
		}
	}
	if diff := cmp.Diff(foreign, tables(t, n)); diff != "" {
		t.Errorf("tables at the end (-want +got):\n%s", diff)
	}
}
