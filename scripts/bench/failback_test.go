//go:build linux

package bench

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
)

// runFailback kills n1 as in node death, waits for n2 to serve, then
// brings n1 back as after a reboot (link up, no VIP, no nft rules, its
// broker and daemon started afresh) and measures from that restart: the
// takeover is n1 answering ARP again, the outage the longest gap of a
// fresh stream. Both nodes preempt (CARP does not by default; this is the
// transition a CARP pair with preemption makes when its preferred node
// returns).
func runFailback(t *testing.T, sys system) Trial {
	l, nodes := startPair(t, sys, true)
	r := Trial{System: sys.name, Timer: sys.timer, Scenario: "failback", TakeoverMS: -1, OutageMS: -1}
	faults()[0].inject(t, nodes[0])
	vip := netip.MustParseAddr(benchVIP)
	lab.Wait(t, 15*time.Second, "n2 answering ARP", func() bool {
		mac, err := l.ARPOwner(vip, 100*time.Millisecond)
		return err == nil && mac.String() == l.Nodes[1].MAC.String()
	})
	s := startStream(t, l)
	n1 := l.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A reboot forgets the VIP and the DNAT rules.
	for _, argv := range [][]string{{"nft", "flush", "ruleset"}, {"ip", "addr", "flush", "dev", n1.Iface},
		{"ip", "addr", "add", n1.IP4.String(), "dev", n1.Iface}} {
		if out, err := n1.Run(ctx, argv...); err != nil {
			t.Fatalf("rebooting n1: %v: %s", err, out)
		}
	}
	n1.LinkUp()
	start := time.Now()
	back := sys.start(t, l, n1, role{master: true, preempt: true})
	w, err := l.WatchTakeover(vip, n1.MAC, start, 2*sys.bound+time.Second, probeEvery, settleAfter)
	if err != nil {
		t.Fatalf("probing ARP: %v", err)
	}
	if w.Took > 0 {
		r.TakeoverMS = ms(w.Took)
	} else {
		r.Error = fmt.Sprintf("n1 did not take the VIP back within %v", 2*sys.bound+time.Second)
	}
	r.Flaps = w.Flaps()
	wctx, wcancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer wcancel()
	resumed := s.WaitResumed(wctx)
	res := s.Stop(time.Second)
	r.Entries = back.masterEntries()
	r.Sent, r.Lost, r.Dups = res.Sent, res.Lost, res.Dups
	if resumed == nil {
		r.OutageMS = ms(res.Gap)
	} else {
		r.Error = "stream did not resume within 15s"
	}
	logEvents(t, s, start)
	if os.Getenv("CARPD_BENCH_DUMP") == "1" {
		t.Logf("n1 daemon log:\n%s\nn2 daemon log:\n%s", back.daemon.Output(), nodes[1].daemon.Output())
	}
	t.Logf("%s %s failback: takeover %.0f ms, outage %.0f ms, sent %d lost %d dups %d, n1 entries %d flaps %d %s",
		sys.name, sys.timer, r.TakeoverMS, r.OutageMS, r.Sent, r.Lost, r.Dups, r.Entries, r.Flaps, r.Error)
	return r
}
