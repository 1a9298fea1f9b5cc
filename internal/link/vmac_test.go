//go:build linux

package link

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
)

var testVMAC = net.HardwareAddr{0, 0, 0x5e, 0, 1, 7}

// TestVMACLifecycle creates, reuses, refuses and deletes a vmac child.
func TestVMACLifecycle(t *testing.T) {
	l := lab.New(t, 1, lab.WithoutIPv6())
	n := l.Nodes[0]
	in(t, n, func() {
		reused, err := EnsureVMAC(n.Iface, "vrrp.7", testVMAC)
		if err != nil || reused {
			t.Fatalf("EnsureVMAC: reused %v, %v", reused, err)
		}
		lk, err := netlink.LinkByName("vrrp.7")
		if err != nil {
			t.Fatal(err)
		}
		mv, ok := lk.(*netlink.Macvlan)
		if !ok || mv.Mode != netlink.MACVLAN_MODE_VEPA || !bytes.Equal(lk.Attrs().HardwareAddr, testVMAC) ||
			lk.Attrs().Flags&net.FlagUp != 0 {
			t.Fatalf("child: %T mode %v mac %v flags %v", lk, mv.Mode, lk.Attrs().HardwareAddr, lk.Attrs().Flags)
		}
		// A run killed while MASTER leaves it up: the next one reuses it, down.
		if err := SetLinkUp("vrrp.7", true); err != nil {
			t.Fatal(err)
		}
		if reused, err = EnsureVMAC(n.Iface, "vrrp.7", testVMAC); err != nil || !reused {
			t.Fatalf("second EnsureVMAC: reused %v, %v", reused, err)
		}
		if lk, _ = netlink.LinkByName("vrrp.7"); lk.Attrs().Flags&net.FlagUp != 0 {
			t.Error("reused child is still up")
		}
		// Another address (another vrid's leftover) is replaced.
		other := net.HardwareAddr{0, 0, 0x5e, 0, 1, 8}
		if reused, err = EnsureVMAC(n.Iface, "vrrp.7", other); err != nil || reused {
			t.Fatalf("EnsureVMAC with another MAC: reused %v, %v", reused, err)
		}
		if lk, _ = netlink.LinkByName("vrrp.7"); !bytes.Equal(lk.Attrs().HardwareAddr, other) {
			t.Errorf("MAC %v, want %v", lk.Attrs().HardwareAddr, other)
		}
		if err := DeleteVMAC(n.Iface, "vrrp.7"); err != nil {
			t.Fatal(err)
		}
		if _, err := netlink.LinkByName("vrrp.7"); err == nil {
			t.Error("child still there after DeleteVMAC")
		}
		if err := DeleteVMAC(n.Iface, "vrrp.7"); err != nil {
			t.Errorf("DeleteVMAC of a missing child: %v", err)
		}
	})
	run(t, n, "ip", "link", "add", "vrrp.9", "type", "bridge")
	in(t, n, func() {
		if _, err := EnsureVMAC(n.Iface, "vrrp.9", testVMAC); !errors.Is(err, ErrNotOurs) {
			t.Errorf("EnsureVMAC over a bridge: %v, want ErrNotOurs", err)
		}
		if err := DeleteVMAC(n.Iface, "vrrp.9"); !errors.Is(err, ErrNotOurs) {
			t.Errorf("DeleteVMAC of a bridge: %v, want ErrNotOurs", err)
		}
	})
}

// TestInetConf sets devconf values over rtnetlink and reads them back,
// both ways and against /proc/sys.
func TestInetConf(t *testing.T) {
	l := lab.New(t, 1, lab.WithoutIPv6())
	n := l.Nodes[0]
	proc := func(name string) string {
		var b []byte
		in(t, n, func() {
			var err error
			if b, err = os.ReadFile("/proc/sys/net/ipv4/conf/" + n.Iface + "/" + name); err != nil {
				t.Fatal(err)
			}
		})
		return strings.TrimSpace(string(b))
	}
	for _, v := range []uint32{1, 0, 2} {
		in(t, n, func() {
			if err := SetInetConf(n.Iface, map[int]uint32{ConfARPIgnore: v, ConfARPFilter: v % 2, ConfRPFilter: v}); err != nil {
				t.Fatal(err)
			}
			got, err := InetConf(n.Iface, ConfARPIgnore, ConfARPFilter, ConfRPFilter)
			if err != nil {
				t.Fatal(err)
			}
			if got[ConfARPIgnore] != v || got[ConfARPFilter] != v%2 || got[ConfRPFilter] != v {
				t.Errorf("InetConf = %v after setting %d", got, v)
			}
		})
		if p := proc("arp_ignore"); p != string(rune('0'+v)) {
			t.Errorf("/proc arp_ignore = %s, want %d", p, v)
		}
		if p := proc("rp_filter"); p != string(rune('0'+v)) {
			t.Errorf("/proc rp_filter = %s, want %d", p, v)
		}
	}
}

// TestSenderFromVMAC sends an advert on a vmac child and checks on the
// other node that it left with the virtual MAC and the parent's address.
func TestSenderFromVMAC(t *testing.T) {
	l := lab.New(t, 2, lab.WithoutIPv6())
	n1, n2 := l.Nodes[0], l.Nodes[1]
	var c *Conn
	in(t, n1, func() {
		if _, err := EnsureVMAC(n1.Iface, "vrrp.7", testVMAC); err != nil {
			t.Fatal(err)
		}
		if err := SetLinkUp("vrrp.7", true); err != nil {
			t.Fatal(err)
		}
		var err error
		if c, err = NewSender("vrrp.7", IPv4, Options{Src: n1.IP4.Addr()}); err != nil {
			t.Fatal(err)
		}
	})
	defer c.Close()
	ifi := iface(t, n2, n2.Iface)
	var pc *packet.Conn
	in(t, n2, func() {
		var err error
		if pc, err = packet.Listen(ifi, packet.Raw, int(ethernet.EtherTypeIPv4), nil); err != nil {
			t.Fatal(err)
		}
	})
	defer pc.Close()
	payload := []byte{0x31, 7, 100, 1, 0, 100, 0, 0, 198, 18, 0, 7}
	buf := make([]byte, 1500)
	for i := 0; i < 20; i++ {
		if err := c.WriteTo(payload, DefaultGroup(IPv4)); err != nil {
			t.Fatal(err)
		}
		_ = pc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		for {
			nr, _, err := pc.ReadFrom(buf)
			if err != nil {
				break
			}
			var f ethernet.Frame
			if f.UnmarshalBinary(buf[:nr]) != nil || len(f.Payload) < 20 || f.Payload[9] != ProtoNumber {
				continue
			}
			src := netip.AddrFrom4([4]byte(f.Payload[12:16]))
			if !bytes.Equal(f.Source, testVMAC) || src != n1.IP4.Addr() || f.Payload[8] != TTL {
				t.Fatalf("advert from MAC %v, IP %v, TTL %d; want %v, %v, %d", f.Source, src, f.Payload[8], testVMAC, n1.IP4.Addr(), TTL)
			}
			return
		}
	}
	t.Fatal("no advert seen on n2")
}
