//go:build linux

package link

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

var (
	src4  = netip.MustParseAddr("198.18.0.1")
	peer4 = netip.MustParseAddr("198.18.0.2")
	src6  = netip.MustParseAddr("fe80::1")
	peer6 = netip.MustParseAddr("fe80::2")
)

// addrCmp compares netip.Addr by value (it has unexported fields).
var addrCmp = cmp.Comparer(func(x, y netip.Addr) bool { return x == y })

// ipBytes compares net.IP byte for byte, where its Equal method takes the
// 4- and 16-byte forms of an IPv4 address for equal.
var ipBytes = cmp.Comparer(func(x, y net.IP) bool { return string(x) == string(y) })

// ip4 and ip6 are packets as the kernel reports them on interface index.
func ip4(payload string, src, dst string, ttl, index int) fakeRead[ipv4.ControlMessage] {
	return fakeRead[ipv4.ControlMessage]{
		payload: []byte(payload),
		cm:      &ipv4.ControlMessage{TTL: ttl, Src: net.ParseIP(src), Dst: net.ParseIP(dst), IfIndex: index},
		src:     &net.IPAddr{IP: net.ParseIP(src)},
	}
}

func ip6(payload string, src, dst string, hops, index int) fakeRead[ipv6.ControlMessage] {
	return fakeRead[ipv6.ControlMessage]{
		payload: []byte(payload),
		cm:      &ipv6.ControlMessage{HopLimit: hops, Src: net.ParseIP(src), Dst: net.ParseIP(dst), IfIndex: index},
		src:     &net.IPAddr{IP: net.ParseIP(src), Zone: "eth0"},
	}
}

// readAll reads c until the fake runs dry.
func readAll(t *testing.T, c *Conn, bufLen int) []Packet {
	t.Helper()
	var got []Packet
	for range 100 {
		p, err := c.ReadPacket(make([]byte, bufLen))
		if errors.Is(err, net.ErrClosed) {
			return got
		}
		if err != nil {
			t.Fatalf("ReadPacket: %v", err)
		}
		got = append(got, p)
	}
	t.Fatal("ReadPacket: the fake did not run dry")
	return nil
}

// readCase is a Conn's options and what it should keep of, and drop from,
// a fixed set of reads.
type readCase struct {
	name        string
	opt         Options
	want        []Packet
	wantDropped uint64
}

// checkReads opens a Conn for each case and reads it until the fake runs
// dry.
func checkReads(t *testing.T, tests []readCase, open func(Options) (*Conn, error)) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := open(tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, readAll(t, c, 1500), addrCmp); diff != "" {
				t.Errorf("packets read (-want +got):\n%s", diff)
			}
			if got := c.Dropped(); got != tt.wantDropped {
				t.Errorf("Dropped() = %d, want %d", got, tt.wantDropped)
			}
		})
	}
}

// TestConnReadPacket4 checks what an IPv4 Conn keeps of what the kernel
// hands it: packets to its group or to a unicast address on its interface,
// with the TTL they came with (the caller drops those not 255), and
// nothing from another interface or to another group, counted in Dropped.
func TestConnReadPacket4(t *testing.T) {
	in := []fakeRead[ipv4.ControlMessage]{
		ip4("group", "198.18.0.2", "224.0.0.18", 255, 2),
		ip4("other interface", "198.18.0.2", "224.0.0.18", 255, 3),
		ip4("foreign group", "198.18.0.2", "224.0.0.19", 255, 2),
		ip4("unicast, ttl 64", "198.18.0.2", "198.18.0.1", 64, 2),
		ip4("custom group", "198.18.0.2", "224.0.0.20", 255, 2),
	}
	group, unicast := Packet{Src: peer4, Dst: DefaultGroup(IPv4), TTL: 255, IfIndex: 2, Payload: []byte("group")},
		Packet{Src: peer4, Dst: src4, TTL: 64, IfIndex: 2, Payload: []byte("unicast, ttl 64")}
	tests := []readCase{
		{"multicast", Options{Src: src4}, []Packet{group, unicast}, 3},
		{"unicast mode", Options{Src: src4, Unicast: true}, []Packet{unicast}, 4},
		{"custom group", Options{Src: src4, Group: netip.MustParseAddr("224.0.0.20")}, []Packet{unicast,
			{Src: peer4, Dst: netip.MustParseAddr("224.0.0.20"), TTL: 255, IfIndex: 2, Payload: []byte("custom group")}}, 3},
	}
	checkReads(t, tests, func(opt Options) (*Conn, error) {
		return newConn4(testIfi, opt, &fakeIP[ipv4.ControlMessage]{in: in})
	})
}

// TestConnReadPacket6 is TestConnReadPacket4 for IPv6: the TTL is the hop
// limit, the addresses lose their zone, and a unicast-mode Conn drops the
// multicast the kernel delivers to a wildcard-bound raw socket anyway.
func TestConnReadPacket6(t *testing.T) {
	in := []fakeRead[ipv6.ControlMessage]{
		ip6("group", "fe80::2", "ff02::12", 255, 2),
		ip6("other interface", "fe80::2", "ff02::12", 255, 3),
		ip6("foreign group", "fe80::2", "ff02::13", 255, 2),
		ip6("unicast, hop limit 1", "fe80::2", "fe80::1", 1, 2),
	}
	group, unicast := Packet{Src: peer6, Dst: DefaultGroup(IPv6), TTL: 255, IfIndex: 2, Payload: []byte("group")},
		Packet{Src: peer6, Dst: src6, TTL: 1, IfIndex: 2, Payload: []byte("unicast, hop limit 1")}
	tests := []readCase{
		{"multicast", Options{Src: src6}, []Packet{group, unicast}, 2},
		{"unicast mode", Options{Src: src6, Unicast: true}, []Packet{unicast}, 3},
	}
	checkReads(t, tests, func(opt Options) (*Conn, error) {
		return newConn6(testIfi, opt, &fakeIP[ipv6.ControlMessage]{in: in})
	})
}

// TestConnReadPacketEdges: a payload longer than the buffer is truncated
// to it, an IPv4-mapped source is unmapped, and a packet without control
// message (the socket was not set up) is an error, not a packet from
// nowhere.
func TestConnReadPacketEdges(t *testing.T) {
	f4 := &fakeIP[ipv4.ControlMessage]{in: []fakeRead[ipv4.ControlMessage]{
		ip4("0123456789", "::ffff:198.18.0.2", "224.0.0.18", 255, 2),
		{payload: []byte("no cm"), src: &net.IPAddr{IP: net.ParseIP("198.18.0.2")}},
	}}
	c4, err := newConn4(testIfi, Options{Src: src4}, f4)
	if err != nil {
		t.Fatal(err)
	}
	p, err := c4.ReadPacket(make([]byte, 4))
	if err != nil || string(p.Payload) != "0123" || p.Src != peer4 {
		t.Errorf("ReadPacket = %q from %v, %v; want %q from %v", p.Payload, p.Src, err, "0123", peer4)
	}
	if _, err := c4.ReadPacket(make([]byte, 64)); err == nil || !strings.Contains(err.Error(), "no control message") {
		t.Errorf("IPv4 ReadPacket without control message: %v, want an error saying so", err)
	}
	f6 := &fakeIP[ipv6.ControlMessage]{in: []fakeRead[ipv6.ControlMessage]{{payload: []byte("no cm")}}}
	c6, err := newConn6(testIfi, Options{Src: src6}, f6)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c6.ReadPacket(make([]byte, 64)); err == nil || !strings.Contains(err.Error(), "no control message") {
		t.Errorf("IPv6 ReadPacket without control message: %v, want an error saying so", err)
	}
	if err := c6.Close(); err != nil || !f6.closed || f4.closed {
		t.Errorf("Close = %v; closed IPv6 %v, IPv4 %v; want the IPv6 socket closed only", err, f6.closed, f4.closed)
	}
}

// TestConnWriteTo4 checks what an IPv4 Conn asks the kernel to send: from
// Src, on its interface (the TTL is the socket's, 255), to the destination
// unmapped; another family's destination is refused unsent.
func TestConnWriteTo4(t *testing.T) {
	f := &fakeIP[ipv4.ControlMessage]{}
	c, err := newConn4(testIfi, Options{Src: src4}, f)
	if err != nil {
		t.Fatal(err)
	}
	for _, dst := range []string{"224.0.0.18", "::ffff:198.18.0.2"} {
		if err := c.WriteTo([]byte(dst), netip.MustParseAddr(dst)); err != nil {
			t.Errorf("WriteTo(%s): %v", dst, err)
		}
	}
	if err := c.WriteTo([]byte("v6"), peer6); err == nil {
		t.Error("WriteTo an IPv6 address on an IPv4 Conn succeeded")
	}
	cm := ipv4.ControlMessage{Src: src4.AsSlice(), IfIndex: 2}
	want := []fakeWrite[ipv4.ControlMessage]{
		{Payload: []byte("224.0.0.18"), CM: cm, Dst: &net.IPAddr{IP: net.IP{224, 0, 0, 18}}},
		{Payload: []byte("::ffff:198.18.0.2"), CM: cm, Dst: &net.IPAddr{IP: peer4.AsSlice()}},
	}
	if diff := cmp.Diff(want, f.out, ipBytes); diff != "" {
		t.Errorf("packets written (-want +got):\n%s", diff)
	}
	f.writeErr = errors.New("no buffer space")
	if err := c.WriteTo(nil, peer4); !errors.Is(err, f.writeErr) || !strings.Contains(err.Error(), "eth0") {
		t.Errorf("WriteTo with the socket failing: %v, want the socket's error, naming eth0", err)
	}
}

// TestConnWriteTo6: an IPv6 Conn sends with hop limit 255 in the control
// message and a numeric zone, which needs no lookup in the calling
// thread's namespace.
func TestConnWriteTo6(t *testing.T) {
	f := &fakeIP[ipv6.ControlMessage]{}
	c, err := newConn6(testIfi, Options{Src: netip.MustParseAddr("fe80::1%eth0")}, f)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteTo([]byte("adv"), DefaultGroup(IPv6)); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteTo([]byte("v4"), peer4); err == nil {
		t.Error("WriteTo an IPv4 address on an IPv6 Conn succeeded")
	}
	want := []fakeWrite[ipv6.ControlMessage]{{
		Payload: []byte("adv"),
		CM:      ipv6.ControlMessage{HopLimit: 255, Src: src6.AsSlice(), IfIndex: 2},
		Dst:     &net.IPAddr{IP: net.ParseIP("ff02::12"), Zone: "2"},
	}}
	if diff := cmp.Diff(want, f.out, ipBytes); diff != "" {
		t.Errorf("packets written (-want +got):\n%s", diff)
	}
}

// TestResolve checks the defaults and the checks of Listen's options that
// need no lookup: the group by family, the TOS, unmapping and zones, and
// the refusals.
func TestResolve(t *testing.T) {
	mapped := netip.MustParseAddr("::ffff:198.18.0.1")
	tests := []struct {
		name    string
		family  Family
		opt     Options
		want    Options
		wantErr string
	}{
		{"IPv4 defaults", IPv4, Options{Src: src4}, Options{Src: src4, Group: DefaultGroup(IPv4), TOS: DefaultTOS}, ""},
		{"IPv6 defaults", IPv6, Options{Src: netip.MustParseAddr("fe80::1%eth0"), Unicast: true, TOS: 0x10},
			Options{Src: src6, Group: DefaultGroup(IPv6), Unicast: true, TOS: 0x10}, ""},
		{"mapped source and group", IPv4, Options{Src: mapped, Group: netip.MustParseAddr("::ffff:224.0.0.20")},
			Options{Src: src4, Group: netip.MustParseAddr("224.0.0.20"), TOS: DefaultTOS}, ""},
		{"source of the wrong family", IPv4, Options{Src: src6}, Options{}, "source address fe80::1 is not IPv4"},
		{"unicast group", IPv6, Options{Src: src6, Group: netip.MustParseAddr("2001:2::2")}, Options{},
			"group 2001:2::2 is not an IPv6 multicast address"},
		{"group of the wrong family", IPv6, Options{Src: src6, Group: DefaultGroup(IPv4)}, Options{},
			"group 224.0.0.18 is not an IPv6 multicast address"},
	}
	for _, tt := range tests {
		got, err := resolve(testIfi, tt.family, tt.opt)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%s: error %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, addrCmp); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
		if again, err := resolve(testIfi, tt.family, got); err != nil || again != got {
			t.Errorf("%s: resolving the result again gives %+v, %v", tt.name, again, err)
		}
	}
	if _, err := newConn4(testIfi, Options{Src: src6}, &fakeIP[ipv4.ControlMessage]{}); err == nil {
		t.Error("newConn4 with an IPv6 source succeeded")
	}
	if _, err := Listen("nosuch0", Family(5), Options{}); err == nil || !strings.Contains(err.Error(), "invalid family") {
		t.Errorf("Listen with Family(5): %v, want an invalid family error", err)
	}
}

func TestFamily(t *testing.T) {
	tests := []struct {
		addr string
		want Family
		name string
	}{
		{"198.18.0.1", IPv4, "IPv4"},
		{"::ffff:198.18.0.1", IPv4, "IPv4"},
		{"2001:2::1", IPv6, "IPv6"},
		{"fe80::1%eth0", IPv6, "IPv6"},
	}
	for _, tt := range tests {
		f := FamilyOf(netip.MustParseAddr(tt.addr))
		if f != tt.want || f.String() != tt.name || !f.valid() {
			t.Errorf("FamilyOf(%s) = %v (%q, valid %v), want %v", tt.addr, f, f.String(), f.valid(), tt.want)
		}
	}
	if f := Family(5); f.valid() || f.String() != "Family(5)" {
		t.Errorf("Family(5): valid %v, String %q; want invalid, \"Family(5)\"", f.valid(), f.String())
	}
}
