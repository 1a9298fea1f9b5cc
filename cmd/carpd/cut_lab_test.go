//go:build linux

package main

import (
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
	"github.com/vishvananda/netlink"
)

// neighMAC is the MAC of the client's neighbour entry for addr, "" when
// it has none (or an incomplete one).
func neighMAC(t *testing.T, c *lab.Node, addr netip.Addr) string {
	t.Helper()
	var mac string
	err := c.Do(func() error {
		ifi, err := net.InterfaceByName(c.Iface)
		if err != nil {
			return err
		}
		ns, err := netlink.NeighList(ifi.Index, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, n := range ns {
			if n.IP.Equal(addr.AsSlice()) && len(n.HardwareAddr) > 0 {
				mac = n.HardwareAddr.String()
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

// TestLabCutClientView cuts every frame between the two nodes of the
// broker lab for a few seconds while the client reaches both, with an MQTT
// stream on the VIP, and counts the changes of the client's ARP entry for
// the VIP: both nodes are MASTER during a cut (no two-node system can
// tell which side should serve), but the client's view should change
// once at the cut and once at the heal, not flip between the two.
func TestLabCutClientView(t *testing.T) {
	t.Run("vrrp3", func(t *testing.T) { cutClientView(t, brokerSetup{vrid: 61}, 4*time.Second) })
	t.Run("carp", func(t *testing.T) { cutClientView(t, brokerSetup{vrid: 62, carp: true}, 8*time.Second) })
}

// cutClientView runs one cut of TestLabCutClientView.
func cutClientView(t *testing.T, setup brokerSetup, cut time.Duration) {
	l, vip, nodes := newBrokerLab(t, setup)
	n1, n2 := nodes[0], nodes[1]
	var dump *lab.Proc
	if os.Getenv("CARPD_CUT_DUMP") != "" {
		dump = l.Client.Start(t, "tcpdump", "-l", "-n", "-e", "-tt", "-i", l.Client.Iface, "arp or icmp")
	}
	s := startStream(t, l.Client, vip.String()+":1883")
	time.Sleep(500 * time.Millisecond)

	type change struct {
		at  time.Duration
		mac string
	}
	var changes []change
	start := time.Now()
	last := neighMAC(t, l.Client, vip)
	watch := func(until time.Duration) {
		for time.Since(start) < until {
			if m := neighMAC(t, l.Client, vip); m != last && m != "" {
				changes = append(changes, change{time.Since(start), m})
				last = m
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	l.Partition(n1.n, n2.n)
	watch(cut)
	l.Heal()
	healAt := time.Since(start)
	watch(cut + 6*time.Second)
	// The heal gap: the longest gap between arrivals that ends after the
	// heal, with the stream resumed.
	s.waitResumed(t, 15*time.Second)
	var healGap time.Duration
	got := s.Arrivals()
	for i := 1; i < len(got); i++ {
		if got[i].At.Sub(start) > healAt {
			healGap = max(healGap, got[i].At.Sub(got[i-1].At))
		}
	}
	t.Logf("longest gap after the heal: %v", healGap.Round(time.Millisecond))
	names := map[string]string{n1.n.MAC.String(): "n1", n2.n.MAC.String(): "n2"}
	var atCut, atHeal int
	var seen []string
	for _, c := range changes {
		seen = append(seen, c.at.Round(time.Millisecond).String()+" "+names[c.mac])
		if c.at < healAt {
			atCut++
		} else {
			atHeal++
		}
	}
	t.Logf("client's ARP entry for %v: %s (cut %v, heal at %v)", vip, strings.Join(seen, ", "), cut, healAt.Round(time.Millisecond))
	t.Logf("stream: received %d", s.Received())
	if dump != nil {
		time.Sleep(200 * time.Millisecond)
		t.Logf("client capture:\n%s", dump.Output())
	}
	if atCut != 1 || atHeal != 1 {
		t.Errorf("the client's view changed %d times during the cut and %d after the heal, want once each", atCut, atHeal)
	}
	if last != n1.n.MAC.String() {
		t.Errorf("after the heal the client's ARP entry for %v is %s, want n1's %v", vip, last, n1.n.MAC)
	}
	// After the heal n2 hears n1 within one advert interval, steps down
	// with a last advert that makes n1 re-announce; the clients then
	// reconnect to n1 (paho's retry). Bound: the interval plus 2 s.
	interval := brokerAdvert
	if setup.carp {
		interval = time.Second
	}
	if bound := interval + 2*time.Second; healGap > bound {
		t.Errorf("longest gap after the heal %v, want at most %v", healGap.Round(time.Millisecond), bound)
	}
}
