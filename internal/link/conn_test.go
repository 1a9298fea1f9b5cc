//go:build linux

package link

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// listen opens a Conn in n, closed by t.Cleanup.
func listen(t *testing.T, n *lab.Node, ifname string, f Family, opt Options) *Conn {
	t.Helper()
	var c *Conn
	var err error
	in(t, n, func() { c, err = Listen(ifname, f, opt) })
	if err != nil {
		t.Fatalf("Listen(%s, %v) in %s: %v", ifname, f, n.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// read reads one packet from c within a second.
func read(t *testing.T, c *Conn) Packet {
	t.Helper()
	type result struct {
		p   Packet
		err error
	}
	done := make(chan result, 1)
	go func() {
		buf := make([]byte, 1500)
		p, err := c.ReadPacket(buf)
		done <- result{p, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("ReadPacket: %v", r.err)
		}
		return r.p
	case <-time.After(time.Second):
		c.Close() // unblocks the reader; the Conn is useless after a lost packet anyway
		<-done
		t.Fatal("ReadPacket: nothing within 1s")
	}
	return Packet{}
}

func TestConnExchange(t *testing.T) {
	for _, f := range []Family{IPv4, IPv6} {
		t.Run(f.String(), func(t *testing.T) {
			l := lab.New(t, 2)
			n1, n2 := l.Nodes[0], l.Nodes[1]
			a := listen(t, n1, "eth0", f, Options{})
			b := listen(t, n2, "eth0", f, Options{})
			bIndex := iface(t, n2, "eth0").Index
			wantSrc := netip.MustParseAddr("198.18.0.1")
			if f == IPv6 {
				wantSrc = n1.LinkLocal
			}
			if a.Src() != wantSrc {
				t.Fatalf("Src() = %s, want %s (primary address)", a.Src(), wantSrc)
			}
			for _, dst := range []netip.Addr{a.Group(), b.Src()} {
				payload := []byte{0x31, 7, 100, 1, 0, 100, 0, 0, byte(dst.BitLen())}
				if err := a.WriteTo(payload, dst); err != nil {
					t.Fatal(err)
				}
				got := read(t, b)
				want := Packet{Src: a.Src(), Dst: dst, TTL: 255, IfIndex: bIndex, Payload: payload}
				if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
					t.Errorf("%s to %s: packet (-want +got):\n%s", f, dst, diff)
				}
			}
			// Multicast loopback is off: a's first packet is b's, not
			// its own advertisement sent before.
			if err := a.WriteTo([]byte{1}, a.Group()); err != nil {
				t.Fatal(err)
			}
			if err := b.WriteTo([]byte{2}, b.Group()); err != nil {
				t.Fatal(err)
			}
			if got := read(t, a); got.Src != b.Src() || string(got.Payload) != "\x02" {
				t.Errorf("a read %v from %s, want b's packet from %s", got.Payload, got.Src, b.Src())
			}
		})
	}
}

// TestConnHeader checks the IP header of an advertisement on the wire:
// TTL (hop limit) 255 and TOS (traffic class) 0xc0, for multicast and
// unicast, as a packet socket on the receiver sees it.
func TestConnHeader(t *testing.T) {
	for _, f := range []Family{IPv4, IPv6} {
		t.Run(f.String(), func(t *testing.T) {
			l := lab.New(t, 2)
			n1, n2 := l.Nodes[0], l.Nodes[1]
			a := listen(t, n1, "eth0", f, Options{})
			b := listen(t, n2, "eth0", f, Options{Unicast: true})
			ethType := unix.ETH_P_IP
			if f == IPv6 {
				ethType = unix.ETH_P_IPV6
			}
			var pc *packet.Conn
			var err error
			ifi := iface(t, n2, "eth0")
			in(t, n2, func() { pc, err = packet.Listen(ifi, packet.Datagram, ethType, nil) })
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			for _, dst := range []netip.Addr{a.Group(), b.Src()} {
				if err := a.WriteTo([]byte{0x21, 1}, dst); err != nil {
					t.Fatal(err)
				}
				got, err := captureHeader(pc, f)
				if err != nil {
					t.Fatalf("to %s: %v", dst, err)
				}
				want := ipHeader{TOS: DefaultTOS, TTL: 255, Proto: ProtoNumber, Src: a.Src(), Dst: dst}
				if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y netip.Addr) bool { return x == y })); diff != "" {
					t.Errorf("%s header to %s (-want +got):\n%s", f, dst, diff)
				}
			}
		})
	}
}

// ipHeader is what TestConnHeader checks of an IPv4 or IPv6 header.
type ipHeader struct {
	TOS, TTL, Proto int
	Src, Dst        netip.Addr
}

// captureHeader reads from pc until a protocol 112 packet arrives, within a
// second and 50 packets.
func captureHeader(pc *packet.Conn, f Family) (ipHeader, error) {
	if err := pc.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
		return ipHeader{}, err
	}
	buf := make([]byte, 1500)
	for range 50 {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			return ipHeader{}, err
		}
		var h ipHeader
		if f == IPv4 {
			ih, err := ipv4.ParseHeader(buf[:n])
			if err != nil {
				return ipHeader{}, err
			}
			h = ipHeader{TOS: ih.TOS, TTL: ih.TTL, Proto: ih.Protocol, Src: ipAddr(ih.Src), Dst: ipAddr(ih.Dst)}
		} else {
			ih, err := ipv6.ParseHeader(buf[:n])
			if err != nil {
				return ipHeader{}, err
			}
			h = ipHeader{TOS: ih.TrafficClass, TTL: ih.HopLimit, Proto: ih.NextHeader, Src: ipAddr(ih.Src), Dst: ipAddr(ih.Dst)}
		}
		if h.Proto == ProtoNumber {
			return h, nil
		}
	}
	return ipHeader{}, errors.New("no protocol 112 packet among 50")
}

// TestConnIsolation: a Conn on eth0 sees nothing that arrives on eth1 of
// the same node, although a Conn there joined the same group
// (SO_BINDTODEVICE, IP_MULTICAST_ALL=0), and a unicast-mode Conn sees no
// multicast at all although its interface is in the group. n1's eth1 and
// n3's eth1 are on a second segment, 198.18.1.0/24; n3's eth0 stays silent.
func TestConnIsolation(t *testing.T) {
	for _, f := range []Family{IPv4, IPv6} {
		t.Run(f.String(), func(t *testing.T) {
			l := lab.New(t, 3)
			n1, n2, n3 := l.Nodes[0], l.Nodes[1], l.Nodes[2]
			n1.Attach(1)
			n3.Attach(1)
			a0 := listen(t, n1, "eth0", f, Options{})
			a1 := listen(t, n1, "eth1", f, Options{})
			u1 := listen(t, n1, "eth1", f, Options{Unicast: true})
			b := listen(t, n2, "eth0", f, Options{})
			c := listen(t, n3, "eth1", f, Options{})

			if err := c.WriteTo([]byte("from eth1"), c.Group()); err != nil {
				t.Fatal(err)
			}
			if got := read(t, a1); string(got.Payload) != "from eth1" {
				t.Fatalf("eth1 Conn read %q, want %q", got.Payload, "from eth1")
			}
			// Sentinels: the first packet each Conn reads must be the
			// one meant for it.
			if err := b.WriteTo([]byte("from eth0"), b.Group()); err != nil {
				t.Fatal(err)
			}
			if got := read(t, a0); string(got.Payload) != "from eth0" {
				t.Errorf("eth0 Conn read %q first, want %q", got.Payload, "from eth0")
			}
			if err := c.WriteTo([]byte("unicast"), u1.Src()); err != nil {
				t.Fatal(err)
			}
			if got := read(t, u1); string(got.Payload) != "unicast" {
				t.Errorf("unicast-mode Conn read %q first, want %q", got.Payload, "unicast")
			}
			if n := a0.Dropped() + a1.Dropped(); n != 0 {
				t.Errorf("Dropped() = %d, want 0: the kernel filters by device", n)
			}
			// IPv4 filters the group in the kernel; IPv6 does not, and
			// ReadPacket drops the packet.
			t.Logf("%v unicast-mode Conn dropped %d multicast packets", f, u1.Dropped())
		})
	}
}

func TestConnClose(t *testing.T) {
	l := lab.New(t, 1)
	a := listen(t, l.Nodes[0], "eth0", IPv4, Options{})
	errc := make(chan error, 1)
	go func() {
		_, err := a.ReadPacket(make([]byte, 64))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	a.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadPacket after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Close did not unblock ReadPacket within 1s")
	}
}

func TestListenErrors(t *testing.T) {
	l := lab.New(t, 2)
	n1, bare := l.Nodes[0], l.Nodes[1]
	strip(t, bare)
	disableIPv6(t, bare)
	tests := []struct {
		name   string
		node   *lab.Node
		family Family
		opt    Options
	}{
		{"no IPv4 address", bare, IPv4, Options{}},
		{"no link-local", bare, IPv6, Options{}},
		{"source of the wrong family", n1, IPv4, Options{Src: netip.MustParseAddr("2001:2::1")}},
		{"unicast group", n1, IPv6, Options{Group: netip.MustParseAddr("2001:2::2")}},
		{"no such interface", n1, IPv4, Options{}},
	}
	for _, tt := range tests {
		ifname := "eth0"
		if tt.name == "no such interface" {
			ifname = "nosuch0"
		}
		var err error
		in(t, tt.node, func() {
			var c *Conn
			if c, err = Listen(ifname, tt.family, tt.opt); err == nil {
				c.Close()
			}
		})
		if err == nil {
			t.Errorf("%s: Listen succeeded, want an error", tt.name)
		} else {
			t.Logf("%s: %v", tt.name, err)
		}
	}
}

// TestConnAllocs checks that a packet sent and received costs no
// allocation once the Conn is open: at fast timers every advert would
// otherwise feed the garbage collector (docs/daemon.md, "Cost of an
// advertisement").
func TestConnAllocs(t *testing.T) {
	for _, f := range []Family{IPv4, IPv6} {
		t.Run(f.String(), func(t *testing.T) {
			l := lab.New(t, 2)
			a := listen(t, l.Nodes[0], "eth0", f, Options{})
			b := listen(t, l.Nodes[1], "eth0", f, Options{})
			payload := []byte{0x31, 7, 100, 1, 0, 100, 0, 0}
			buf := make([]byte, 1500)
			// Each run reads the packet it just sent: the socket
			// buffer has it by then (veth delivers synchronously), and
			// a lost one would block, so the first is read with a
			// timeout.
			if err := a.WriteTo(payload, a.Group()); err != nil {
				t.Fatal(err)
			}
			read(t, b)
			// A lost packet would block ReadPacket: closing b ends it.
			watchdog := time.AfterFunc(10*time.Second, func() { b.Close() })
			defer watchdog.Stop()
			var err error
			allocs := testing.AllocsPerRun(100, func() {
				if err = a.WriteTo(payload, a.Group()); err != nil {
					return
				}
				_, err = b.ReadPacket(buf)
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %.1f allocations per packet sent and received", f, allocs)
			if allocs != 0 {
				t.Errorf("%s: %.1f allocations per packet sent and received, want 0", f, allocs)
			}
		})
	}
}

// TestConnCloseWriter checks the writer's own descriptor: packets leave
// through it, Close closes it with the socket, and a write after Close
// fails as on a closed socket instead of reaching whatever file took the
// descriptor's number.
func TestConnCloseWriter(t *testing.T) {
	l := lab.New(t, 2)
	a := listen(t, l.Nodes[0], "eth0", IPv4, Options{})
	b := listen(t, l.Nodes[1], "eth0", IPv4, Options{})
	sc := a.p4.(sys4).sysConn
	wfd := sc.wfd
	if wfd < 0 {
		t.Fatal("no writer descriptor")
	}
	if err := a.WriteTo([]byte{0x31, 7, 100, 1, 0, 100, 0, 0}, a.Group()); err != nil {
		t.Fatal(err)
	}
	read(t, b)
	if _, err := unix.FcntlInt(uintptr(wfd), unix.F_GETFD, 0); err != nil {
		t.Fatalf("writer descriptor %d before Close: %v", wfd, err)
	}
	a.Close()
	if sc.wfd != -1 {
		t.Errorf("writer descriptor %d after Close, want -1", sc.wfd)
	}
	if _, err := unix.FcntlInt(uintptr(wfd), unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
		t.Errorf("writer descriptor %d after Close: %v, want EBADF", wfd, err)
	}
	if err := a.WriteTo([]byte{0x31, 7, 100, 1, 0, 100, 0, 0}, a.Group()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteTo after Close: %v, want net.ErrClosed", err)
	}
}
