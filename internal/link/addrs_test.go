//go:build linux

package link

import (
	"net/netip"
	"testing"

	"github.com/carpd/carpd/internal/lab"
	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestLabel(t *testing.T) {
	tests := []struct {
		ifname, proto string
		id            uint8
		want          string
		wantErr       bool
	}{
		{"eth0", "carp", 7, "eth0:carp7", false},
		{"eth0", "vrrp", 255, "eth0:vrrp255", false},
		{"enp0s31f6", "carp", 1, "enp0s31f6:carp1", false},       // 15 bytes exactly
		{"enp0s31f6", "carp", 12, "enp0s31f6:c12", false},        // 16 shortened
		{"wlp0s20f3abc", "vrrp", 200, "wlp0s20f3abc:v200", true}, // 17 even short
		{"", "carp", 1, "", true},
		{"eth0", "", 1, "", true},
	}
	for _, tt := range tests {
		got, err := Label(tt.ifname, tt.proto, tt.id)
		if (err != nil) != tt.wantErr {
			t.Errorf("Label(%q, %q, %d) error = %v, want error %v", tt.ifname, tt.proto, tt.id, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Label(%q, %q, %d) (-want +got):\n%s", tt.ifname, tt.proto, tt.id, diff)
		}
		if len(got) > 15 {
			t.Errorf("Label(%q, %q, %d) = %q, longer than 15 bytes", tt.ifname, tt.proto, tt.id, got)
		}
	}
}

// vipState is what TestAddrs checks of an address as the kernel lists it.
type vipState struct {
	Prefix           string
	Label            string
	NoDAD, NoPrefix  bool
	Preferred, Valid int
}

// listVIP returns the kernel's view of vip on n's eth0, or nil.
func listVIP(t *testing.T, n *lab.Node, vip netip.Prefix) []vipState {
	t.Helper()
	var list []netlink.Addr
	var err error
	in(t, n, func() {
		var lk netlink.Link
		if lk, err = netlink.LinkByName("eth0"); err == nil {
			list, err = netlink.AddrList(lk, nlFamily(FamilyOf(vip.Addr())))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []vipState
	for _, a := range list {
		if ipAddr(a.IP) != vip.Addr() {
			continue
		}
		bits, _ := a.Mask.Size()
		got = append(got, vipState{
			Prefix: netip.PrefixFrom(ipAddr(a.IP), bits).String(), Label: a.Label,
			NoDAD: a.Flags&unix.IFA_F_NODAD != 0, NoPrefix: a.Flags&unix.IFA_F_NOPREFIXROUTE != 0,
			Preferred: a.PreferedLft, Valid: a.ValidLft,
		})
	}
	return got
}

func TestAddrs(t *testing.T) {
	l := lab.New(t, 1)
	n1 := l.Nodes[0]
	var a *Addrs
	var err error
	in(t, n1, func() { a, err = NewAddrs("eth0") })
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	const forever = 0xffffffff
	tests := []struct {
		vip   string
		label string
		want  []vipState
	}{
		{"198.18.0.100/32", "eth0:carp7", []vipState{{Prefix: "198.18.0.100/32", Label: "eth0:carp7", Valid: forever, Preferred: forever}}},
		{"198.19.5.1/24", "eth0:vrrp9", []vipState{{Prefix: "198.19.5.1/24", Label: "eth0:vrrp9", NoPrefix: true, Valid: forever, Preferred: forever}}},
		{"2001:2::100/128", "", []vipState{{Prefix: "2001:2::100/128", NoDAD: true, Valid: forever, Preferred: 0}}},
	}
	for _, tt := range tests {
		vip := netip.MustParsePrefix(tt.vip)
		for range 2 { // AddrReplace: adding twice leaves one address
			if err := a.Add(vip, tt.label); err != nil {
				t.Fatalf("Add(%s): %v", vip, err)
			}
		}
		if diff := cmp.Diff(tt.want, listVIP(t, n1, vip)); diff != "" {
			t.Errorf("after Add(%s) (-want +got):\n%s", vip, diff)
		}
		if has, err := a.Has(vip.Addr()); err != nil || !has {
			t.Errorf("Has(%s) = %v, %v after Add; want true", vip.Addr(), has, err)
		}
	}
	// The /24 VIP added no prefix route.
	if r := routeTo(t, n1, "198.19.5.0/24"); r != "" {
		t.Errorf("route %s exists, want none (IFA_F_NOPREFIXROUTE)", r)
	}
	// The VIPs are not primaries, although a /32 VIP is not secondary.
	for f, want := range map[Family]netip.Addr{IPv4: netip.MustParseAddr("198.18.0.1"), IPv6: n1.LinkLocal} {
		if got, err := a.Primary(f); err != nil || got != want {
			t.Errorf("Primary(%v) = %v, %v; want %v", f, got, err, want)
		}
	}
	for _, tt := range tests {
		vip := netip.MustParsePrefix(tt.vip)
		for range 2 { // removing an absent VIP succeeds
			if err := a.Remove(vip); err != nil {
				t.Errorf("Remove(%s): %v", vip, err)
			}
		}
		if got := listVIP(t, n1, vip); len(got) != 0 {
			t.Errorf("after Remove(%s): %v still there", vip, got)
		}
		if has, err := a.Has(vip.Addr()); err != nil || has {
			t.Errorf("Has(%s) = %v, %v after Remove; want false", vip.Addr(), has, err)
		}
	}
}

// TestAddrsPrimaryAfterCrash: a VIP left by a crashed run (not added
// through this Addrs) and holding the only primary slot is recognised by
// its label and is not taken for the node's address.
func TestAddrsPrimaryAfterCrash(t *testing.T) {
	l := lab.New(t, 1)
	n1 := l.Nodes[0]
	// The stale VIP is added first, so that it takes the primary slot.
	run(t, n1, "ip", "-4", "addr", "flush", "dev", "eth0")
	run(t, n1, "ip", "addr", "add", "198.18.0.100/32", "dev", "eth0", "label", "eth0:carp3")
	run(t, n1, "ip", "addr", "add", "198.18.0.1/24", "dev", "eth0")
	var got netip.Addr
	var err error
	in(t, n1, func() {
		var a *Addrs
		if a, err = NewAddrs("eth0"); err == nil {
			got, err = a.Primary(IPv4)
			a.Close()
		}
	})
	if want := netip.MustParseAddr("198.18.0.1"); err != nil || got != want {
		t.Errorf("Primary(IPv4) = %v, %v; want %v", got, err, want)
	}
}

func TestIsVIPLabel(t *testing.T) {
	tests := map[string]bool{
		"eth0:carp7": true, "eth0:vrrp255": true, "enp0s31f6:c12": true, "eth0:v1": true,
		"eth0": false, "eth0:1": false, "eth0:carp": false, "eth0:carp256": false,
		"eth0:carp07": false, "eth0:vip": false, "": false,
	}
	for label, want := range tests {
		if got := isVIPLabel(label); got != want {
			t.Errorf("isVIPLabel(%q) = %v, want %v", label, got, want)
		}
	}
}

// routeTo returns the route to dst in n's main table, or "".
func routeTo(t *testing.T, n *lab.Node, dst string) string {
	t.Helper()
	var routes []netlink.Route
	var err error
	in(t, n, func() { routes, err = netlink.RouteList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() == dst {
			return r.String()
		}
	}
	return ""
}

// TestInterfaceAddrs checks that the VIPs Add leaves behind are told apart
// from the interface's own addresses, for IPv4 (by label) and IPv6 (by
// NODAD + deprecated).
func TestInterfaceAddrs(t *testing.T) {
	l := lab.New(t, 1)
	n := l.Nodes[0]
	v4 := netip.MustParsePrefix("198.18.0.100/32")
	v6 := netip.MustParsePrefix("2001:2::100/128")
	var got []netip.Prefix
	in(t, n, func() {
		a, err := NewAddrs(n.Iface)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		for _, vip := range []netip.Prefix{v4, v6} {
			label, _ := Label(n.Iface, "carp", 1)
			if err := a.Add(vip, label); err != nil {
				t.Fatal(err)
			}
		}
		if got, err = InterfaceAddrs(n.Iface); err != nil {
			t.Fatal(err)
		}
	})
	want := map[netip.Prefix]bool{n.IP4: true, n.IP6: true, netip.PrefixFrom(n.LinkLocal, 64): true}
	for _, a := range got {
		if a.Addr() == v4.Addr() || a.Addr() == v6.Addr() {
			t.Errorf("InterfaceAddrs lists the VIP %v", a)
		}
		delete(want, a)
	}
	if len(want) != 0 {
		t.Errorf("InterfaceAddrs = %v, missing %v", got, want)
	}
}

// TestPickPrimary checks the choice of the source address among the
// addresses netlink lists, without a kernel: for IPv4 the first that is
// neither secondary, nor labelled as a VIP, nor added as one; for IPv6 the
// link-local address, a tentative one only when there is no other, and
// never one that failed DAD.
func TestPickPrimary(t *testing.T) {
	labelled := func(prefix, label string, flags int) netlink.Addr {
		a := linkAddr(prefix, flags)
		a.Label = label
		return a
	}
	added := map[netip.Addr]bool{netip.MustParseAddr("198.18.0.100"): true}
	tests := []struct {
		name    string
		family  Family
		list    []netlink.Addr
		want    string
		wantErr string
	}{
		{"first IPv4", IPv4, []netlink.Addr{linkAddr("198.18.0.1/24", 0), linkAddr("198.18.0.9/24", 0)}, "198.18.0.1", ""},
		{"added VIP skipped", IPv4, []netlink.Addr{linkAddr("198.18.0.100/32", 0), linkAddr("198.18.0.1/24", 0)}, "198.18.0.1", ""},
		{"labelled VIP skipped", IPv4, []netlink.Addr{labelled("198.18.0.101/32", "eth0:carp3", 0), labelled("198.18.0.1/24", "eth0", 0)},
			"198.18.0.1", ""},
		{"secondary skipped", IPv4, []netlink.Addr{linkAddr("198.18.0.5/24", unix.IFA_F_SECONDARY), linkAddr("198.18.1.1/24", 0)},
			"198.18.1.1", ""},
		{"only VIPs", IPv4, []netlink.Addr{linkAddr("198.18.0.100/32", 0)}, "", "eth0 has no primary IPv4 address"},
		{"link-local, not global", IPv6, []netlink.Addr{linkAddr("2001:2::1/64", 0), linkAddr("fe80::1/64", 0)}, "fe80::1", ""},
		{"tentative as fallback", IPv6, []netlink.Addr{linkAddr("fe80::9/64", unix.IFA_F_TENTATIVE), linkAddr("fe80::1/64", 0)},
			"fe80::1", ""},
		{"tentative only", IPv6, []netlink.Addr{linkAddr("fe80::9/64", unix.IFA_F_TENTATIVE)}, "fe80::9", ""},
		{"DAD failed", IPv6, []netlink.Addr{linkAddr("fe80::1/64", unix.IFA_F_DADFAILED)}, "", "eth0 has no IPv6 link-local address"},
		{"wrong family listed", IPv6, []netlink.Addr{linkAddr("198.18.0.1/24", 0)}, "", "eth0 has no IPv6 link-local address"},
	}
	for _, tt := range tests {
		got, err := pickPrimary("eth0", tt.family, tt.list, added)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%s: pickPrimary = %v, %v; want error %q", tt.name, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != netip.MustParseAddr(tt.want) {
			t.Errorf("%s: pickPrimary = %v, %v; want %s", tt.name, got, err, tt.want)
		}
	}
}

// TestNLAddr checks the netlink address Add asks for: no prefix route for
// a prefix shorter than the host length, and IPv6 VIPs without DAD,
// deprecated, the label only on IPv4.
func TestNLAddr(t *testing.T) {
	type state struct {
		IPNet            string
		Label            string
		NoDAD, NoPrefix  bool
		Preferred, Valid int
	}
	tests := []struct {
		vip  string
		want state
	}{
		{"198.18.0.100/32", state{IPNet: "198.18.0.100/32", Label: "eth0:carp7"}},
		{"198.19.5.1/24", state{IPNet: "198.19.5.1/24", Label: "eth0:carp7", NoPrefix: true}},
		{"2001:2::100/128", state{IPNet: "2001:2::100/128", NoDAD: true, Valid: 0xffffffff}},
		{"2001:2::100/64", state{IPNet: "2001:2::100/64", NoDAD: true, NoPrefix: true, Valid: 0xffffffff}},
	}
	for _, tt := range tests {
		na := nlAddr(netip.MustParsePrefix(tt.vip), "eth0:carp7")
		got := state{IPNet: na.IPNet.String(), Label: na.Label, NoDAD: na.Flags&unix.IFA_F_NODAD != 0,
			NoPrefix: na.Flags&unix.IFA_F_NOPREFIXROUTE != 0, Preferred: na.PreferedLft, Valid: na.ValidLft}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("nlAddr(%s) (-want +got):\n%s", tt.vip, diff)
		}
	}
	for in, want := range map[string]string{
		"::ffff:198.18.0.100/128": "198.18.0.100/32", "::ffff:198.19.5.0/120": "198.19.5.0/24", "2001:2::1/64": "2001:2::1/64",
	} {
		if got, err := unmap(netip.MustParsePrefix(in)); err != nil || got.String() != want {
			t.Errorf("unmap(%s) = %v, %v; want %s", in, got, err, want)
		}
	}
	if _, err := unmap(netip.Prefix{}); err == nil {
		t.Error("unmap of the invalid prefix succeeded")
	}
}
