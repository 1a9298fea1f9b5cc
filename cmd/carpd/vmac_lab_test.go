//go:build linux

package main

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
)

// advertMACs returns the source MACs of the protocol 112 frames the lab's
// client sees within wait, at most max of them.
func advertMACs(t *testing.T, l *lab.Lab, wait time.Duration, max int) []string {
	t.Helper()
	var macs []string
	err := l.Client.Do(func() error {
		ifi, err := net.InterfaceByName(l.Client.Iface)
		if err != nil {
			return err
		}
		c, err := packet.Listen(ifi, packet.Raw, int(ethernet.EtherTypeIPv4), nil)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
			return err
		}
		buf := make([]byte, 1500)
		for len(macs) < max {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				return nil // the deadline
			}
			var f ethernet.Frame
			if f.UnmarshalBinary(buf[:n]) == nil && len(f.Payload) >= 20 && f.Payload[9] == 112 {
				macs = append(macs, f.Source.String())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return macs
}

// arpAnswers sends one ARP request for vip from the lab's client and
// returns every MAC that answered within wait, so that a second answer
// (a backup answering too) shows.
func arpAnswers(t *testing.T, l *lab.Lab, vip netip.Addr, wait time.Duration) []string {
	t.Helper()
	var macs []string
	err := l.Client.Do(func() error {
		ifi, err := net.InterfaceByName(l.Client.Iface)
		if err != nil {
			return err
		}
		c, err := arp.Dial(ifi)
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Request(vip); err != nil {
			return err
		}
		if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
			return err
		}
		for range 16 {
			p, _, err := c.Read()
			if err != nil {
				return nil // the deadline
			}
			if p.Operation == arp.OperationReply && p.SenderIP == vip {
				macs = append(macs, p.SenderHardwareAddr.String())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return macs
}

// linkState returns whether name exists in n and whether it is up.
func linkState(t *testing.T, n *lab.Node, name string) (exists, up bool) {
	t.Helper()
	out, err := n.Run(t.Context(), "ip", "-o", "link", "show", "dev", name)
	if err != nil {
		return false, false
	}
	flags := strings.SplitN(string(out), "<", 2)
	return true, len(flags) == 2 && strings.Contains(strings.SplitN(flags[1], ">", 2)[0], ",UP")
}

// ipv4Conf reads /proc/sys/net/ipv4/conf/IFACE/NAME in n.
func ipv4Conf(t *testing.T, n *lab.Node, iface, name string) string {
	t.Helper()
	var b []byte
	err := n.Do(func() error {
		var err error
		b, err = os.ReadFile("/proc/sys/net/ipv4/conf/" + iface + "/" + name)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// fdbPort returns the switch port the bridge has learnt mac on, "" when
// none.
func fdbPort(t *testing.T, l *lab.Lab, mac string) string {
	t.Helper()
	out, err := l.Switch.Run(t.Context(), "bridge", "fdb", "show", "br", l.Switch.Iface)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == mac && f[1] == "dev" {
			return f[2]
		}
	}
	return ""
}

// portOf is the switch port of node n (lab: n1 on p1, ...).
func portOf(n *lab.Node) string { return "p" + strings.TrimPrefix(n.Name, "n") }

// TestLabVMAC: with --vmac the master holds the VIP on vrrp.7, up, and
// answers ARP with 00:00:5e:00:01:07; the backup's vrrp.7 is down and
// answers nothing; the switch learns the virtual MAC on the master's
// port from its adverts, and on the new master's after a handover. A
// SIGTERM deletes the child and restores the parent's ARP settings; after
// a SIGKILL the next run reuses the child it finds, still up with the VIP.
func TestLabVMAC(t *testing.T) {
	t.Parallel()
	l := lab.New(t, 2, lab.WithoutIPv6())
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := netip.MustParseAddr("198.18.0.7")
	const vmac = "00:00:5e:00:01:07"
	origIgnore, origFilter := ipv4Conf(t, n1, n1.Iface, "arp_ignore"), ipv4Conf(t, n1, n1.Iface, "arp_filter")
	a := startCarpd(t, n1, "", vrrpArgs(n1, "7", "200", vip.String(), "--vmac")...)
	a.waitState(t, "MASTER", 10*time.Second)
	b := startCarpd(t, n2, "", vrrpArgs(n2, "7", "100", vip.String(), "--vmac")...)
	b.waitState(t, "BACKUP", 5*time.Second)

	for _, c := range []struct {
		n      *lab.Node
		up     bool
		hasVIP bool
	}{{n1, true, true}, {n2, false, false}} {
		ex, up := linkState(t, c.n, "vrrp.7")
		if !ex || up != c.up {
			t.Errorf("%s: vrrp.7 exists %v up %v, want up %v", c.n.Name, ex, up, c.up)
		}
		if got := c.n.HasAddr(vip); got != c.hasVIP {
			t.Errorf("%s holds the VIP: %v, want %v", c.n.Name, got, c.hasVIP)
		}
		for _, kv := range [][3]string{{c.n.Iface, "arp_ignore", "1"}, {c.n.Iface, "arp_filter", "1"},
			{"vrrp.7", "arp_ignore", "1"}, {"vrrp.7", "rp_filter", "0"}, {"vrrp.7", "arp_filter", "0"}} {
			if got := ipv4Conf(t, c.n, kv[0], kv[1]); got != kv[2] {
				t.Errorf("%s: %s %s = %s, want %s", c.n.Name, kv[0], kv[1], got, kv[2])
			}
		}
	}
	if got := arpAnswers(t, l, vip, 300*time.Millisecond); !slices.Equal(got, []string{vmac}) {
		t.Errorf("ARP answers for %v: %v, want only %s", vip, got, vmac)
	}
	lab.Wait(t, 2*time.Second, "switch learning "+vmac+" on n1's port", func() bool { return fdbPort(t, l, vmac) == portOf(n1) })
	// RFC 5798 §7.3: the adverts carry the virtual MAC.
	if got := advertMACs(t, l, time.Second, 3); len(got) == 0 || slices.ContainsFunc(got, func(m string) bool { return m != vmac }) {
		t.Errorf("adverts from %v, want all from %s", got, vmac)
	}

	start := time.Now()
	if err := a.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	b.waitState(t, "MASTER", 5*time.Second)
	lab.Wait(t, 2*time.Second, "switch learning "+vmac+" on n2's port", func() bool { return fdbPort(t, l, vmac) == portOf(n2) })
	t.Logf("handover to n2 and the switch learning its port: %v", time.Since(start).Round(time.Millisecond))
	if err := a.Wait(t.Context()); err != nil {
		t.Errorf("n1 carpd: %v", err)
	}
	if ex, _ := linkState(t, n1, "vrrp.7"); ex {
		t.Error("n1's vrrp.7 is still there after SIGTERM")
	}
	if i, f := ipv4Conf(t, n1, n1.Iface, "arp_ignore"), ipv4Conf(t, n1, n1.Iface, "arp_filter"); i != origIgnore || f != origFilter {
		t.Errorf("n1 eth0 arp_ignore %s arp_filter %s after exit, want %s %s as before", i, f, origIgnore, origFilter)
	}
	if got := arpAnswers(t, l, vip, 300*time.Millisecond); !slices.Equal(got, []string{vmac}) {
		t.Errorf("ARP answers for %v after the handover: %v, want only %s", vip, got, vmac)
	}

	// SIGKILL leaves the child up with the VIP, the parent's settings
	// changed; the next run takes them over and restores the settings
	// saved by the first.
	if err := b.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = b.Wait(t.Context())
	if ex, up := linkState(t, n2, "vrrp.7"); !ex || !up || !n2.HasAddr(vip) {
		t.Fatalf("after SIGKILL n2's vrrp.7 exists %v up %v VIP %v: the leftover test needs it", ex, up, n2.HasAddr(vip))
	}
	b2 := startCarpd(t, n2, b.dir, vrrpArgs(n2, "7", "100", vip.String(), "--vmac")...)
	b2.waitState(t, "MASTER", 5*time.Second)
	if out := readLog(t, b2); !strings.Contains(out, "reusing the vmac interface") || !strings.Contains(out, "restoring from the settings an earlier run saved") {
		t.Errorf("restarted carpd did not log the reuse; log:\n%s", out)
	}
	if err := b2.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := b2.Wait(t.Context()); err != nil {
		t.Errorf("n2 carpd: %v", err)
	}
	if ex, _ := linkState(t, n2, "vrrp.7"); ex {
		t.Error("n2's vrrp.7 is still there after SIGTERM")
	}
	if i := ipv4Conf(t, n2, n2.Iface, "arp_ignore"); i != origIgnore {
		t.Errorf("n2 eth0 arp_ignore %s after exit, want %s as before the first run", i, origIgnore)
	}
}
