//go:build linux

package main

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/control"
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
// once at the cut and once at the heal, not flip between the two; and
// not at all when the brokers' path survives the cut.
func TestLabCutClientView(t *testing.T) {
	t.Parallel()
	t.Run("vrrp3", func(t *testing.T) { cutClientView(t, brokerSetup{vrid: 61}, 4*time.Second) })
	t.Run("carp", func(t *testing.T) { cutClientView(t, brokerSetup{vrid: 62, carp: true}, 8*time.Second) })
	t.Run("carp-default-garp", func(t *testing.T) {
		cutClientView(t, brokerSetup{vrid: 63, carp: true, defaultGARP: true}, 10*time.Second)
	})
	// With the bridge and the probe on a second path, the heartbeat
	// outlives the cut: n2 keeps hearing that n1 is alive and MASTER, so
	// it stays BACKUP and the clients never move.
	t.Run("carp-second-path", func(t *testing.T) {
		cutClientView(t, brokerSetup{vrid: 64, carp: true, secondPath: true}, 10*time.Second)
	})
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
	if setup.defaultGARP {
		// The default announcements of n1's promotion (5 packets 1.1 s
		// apart, the same again 5 s after the promotion) last 9.4 s; a
		// cut within them has both masters announcing and the client's
		// entry following whichever spoke last. A cut that comes later
		// is the case the test is about.
		time.Sleep(10 * time.Second)
	}

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
	masters := func() int { return strings.Count(readLog(t, n2.carpd), `"to":"MASTER","state":"MASTER"`) }
	n2Masters := masters()
	l.Partition(n1.n, n2.n)
	if os.Getenv("CARPD_CUT_DUMP") != "" {
		watch(2 * time.Second)
		for i, b := range nodes {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			resp, err := control.Call(ctx, b.carpd.dir, control.Request{Op: "status"})
			cancel()
			if err == nil {
				js, _ := json.Marshal(resp.Status)
				t.Logf("n%d status 2 s into the cut: %s", i+1, js)
			}
		}
	}
	watch(cut)
	n2Masters = masters() - n2Masters
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
	if os.Getenv("CARPD_CUT_DUMP") != "" {
		for i, b := range nodes {
			for _, line := range strings.Split(readLog(t, b.carpd), "\n") {
				if strings.Contains(line, `"msg":"transition"`) || strings.Contains(line, "heartbeat") ||
					strings.Contains(line, "split") || strings.Contains(line, "adverts") || strings.Contains(line, "probe") {
					t.Logf("n%d: %s", i+1, line)
				}
			}
		}
	}
	want := 1
	if setup.secondPath {
		want = 0
		if n2Masters != 0 {
			t.Errorf("n2 became MASTER %d times during the cut, want never: the heartbeat on the second path shows n1 alive", n2Masters)
		}
	}
	if atCut != want || atHeal != want {
		t.Errorf("the client's view changed %d times during the cut and %d after the heal, want %d each", atCut, atHeal, want)
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
