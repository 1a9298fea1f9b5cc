//go:build linux

package link

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/carpd/carpd/internal/lab"
	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// TestLabAddrProto: the kernel keeps the mark Add sets on VIPs of both
// families, with and without a label, and Marked finds exactly them: not
// the node's own addresses nor ones added by hand (`ip addr add`), nor a
// marked address of another interface.
func TestLabAddrProto(t *testing.T) {
	l := lab.New(t, 1)
	n := l.Nodes[0]
	run(t, n, "ip", "link", "add", "dummy0", "type", "veth", "peer", "name", "dummy1")
	var a, other *Addrs
	var err error
	in(t, n, func() {
		if a, err = NewAddrs("eth0"); err == nil {
			other, err = NewAddrs("dummy0")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer other.Close()
	run(t, n, "ip", "addr", "add", "198.18.0.150/32", "dev", n.Iface)
	run(t, n, "ip", "-6", "addr", "add", "2001:2::150/128", "dev", n.Iface, "nodad")
	vips := []string{"198.18.0.100/32", "198.19.5.1/24", "2001:2::100/128"}
	for i, v := range vips {
		label := ""
		if i == 0 {
			label = "eth0:vrrp7"
		}
		if err := a.Add(netip.MustParsePrefix(v), label); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.Add(netip.MustParsePrefix("2001:2::200/128"), ""); err != nil {
		t.Fatal(err)
	}
	got, err := a.Marked()
	if err != nil {
		t.Fatal(err)
	}
	var gotS []string
	for _, p := range got {
		gotS = append(gotS, p.String())
	}
	slices.Sort(gotS)
	if diff := cmp.Diff(vips, gotS); diff != "" {
		t.Errorf("Marked (-want +got):\n%s", diff)
	}
	// Add refreshes an address that is already there (a VIP added by
	// hand, or by a carpd that did not mark it) and marks it then.
	for _, v := range []string{"198.18.0.150/32", "2001:2::150/128"} {
		if err := a.Add(netip.MustParsePrefix(v), ""); err != nil {
			t.Fatal(err)
		}
	}
	got, err = a.Marked()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(vips)+2 {
		t.Errorf("after replacing the addresses added by hand, marked: %v, want those too", got)
	}
}

// TestMarked: marked keeps the messages of the link asked for with
// IFA_PROTO AddrProto, reading IFA_LOCAL before IFA_ADDRESS, and the
// request addrRequest builds for a VIP parses back to it.
func TestMarked(t *testing.T) {
	msg := func(index int, prefix string, proto int, localOnly bool) []byte {
		p := netip.MustParsePrefix(prefix)
		m := nl.NewIfAddrmsg(unix.AF_INET6)
		m.Index, m.Prefixlen = uint32(index), uint8(p.Bits())
		b := m.Serialize()
		if !localOnly {
			b = append(b, nl.NewRtAttr(unix.IFA_ADDRESS, netip.MustParseAddr("2001:2::9").AsSlice()).Serialize()...)
		}
		b = append(b, nl.NewRtAttr(unix.IFA_LOCAL, p.Addr().AsSlice()).Serialize()...)
		if proto >= 0 {
			b = append(b, nl.NewRtAttr(ifaProto, []byte{byte(proto)}).Serialize()...)
		}
		return b
	}
	req := func(index int, vip, label string) []byte {
		var b []byte
		for _, d := range addrRequest(index, nlAddr(netip.MustParsePrefix(vip), label)) {
			b = append(b, d.Serialize()...)
		}
		return b
	}
	msgs := [][]byte{
		msg(2, "2001:2::100/128", AddrProto, true),
		msg(2, "2001:2::1/64", -1, true),
		msg(2, "2001:2::101/128", 3, true),
		msg(3, "2001:2::102/128", AddrProto, true),
		msg(2, "198.18.0.100/32", AddrProto, false),
		req(2, "198.19.5.1/24", "eth0:vrrp7"),
		req(2, "2001:2::103/128", ""),
	}
	got, err := marked(msgs, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("2001:2::100/128"), netip.MustParsePrefix("198.18.0.100/32"),
		netip.MustParsePrefix("198.19.5.1/24"), netip.MustParsePrefix("2001:2::103/128")}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("marked (-want +got):\n%s", diff)
	}
	if _, err := marked([][]byte{{1, 2}}, 2); err == nil {
		t.Error("a message shorter than ifaddrmsg: no error")
	}
}
