//go:build linux

package nat

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
)

// openConn connects from n to addr, reads the greeting and returns the
// connection, open until the test ends.
func openConn(t *testing.T, n *lab.Node, addr netip.AddrPort) net.Conn {
	t.Helper()
	var c net.Conn
	if err := n.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", addr.String(), 3*time.Second)
		return err
	}); err != nil {
		t.Fatalf("%s dialling %s: %v", n.Name, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	buf := make([]byte, 64)
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Read(buf); err != nil {
		t.Fatalf("reading the greeting of %s: %v", addr, err)
	}
	return c
}

// TestLabResetClients checks that ResetClients resets exactly the
// connections that came in through the VIP's DNAT, with a reset the client
// sees at once, and leaves a direct connection to the same broker alone:
// through the ip table for an IPv4 VIP, the ip6 one for an IPv6 VIP.
func TestLabResetClients(t *testing.T) {
	for _, tt := range []struct {
		name string
		vip  netip.Addr
	}{
		{"IPv4", netip.MustParseAddr("198.18.0.100")},
		{"IPv6", netip.MustParseAddr("2001:2::100")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var opts []lab.Option
			if tt.vip.Is4() {
				opts = append(opts, lab.WithoutIPv6())
			}
			l := lab.New(t, 1, opts...)
			n := l.Nodes[0]
			vip := tt.vip
			tab, ns := labTable(t, n)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			static, bits := n.IP4.Addr(), 32
			if vip.Is6() {
				static, bits = n.IP6.Addr(), 128
			}
			argv := []string{"ip", "addr", "add", netip.PrefixFrom(vip, bits).String(), "dev", n.Iface}
			if vip.Is6() {
				argv = append(argv, "nodad") // as carpd adds it (link.Addrs)
			}
			if out, err := n.Run(ctx, argv...); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			mqtt := netip.AddrPortFrom(static, 1883)
			greeter(t, n, mqtt)
			if err := tab.Apply([]Rule{{VIP: vip, Port: 1883, To: mqtt}}); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			viaVIP := [2]net.Conn{openConn(t, l.Client, netip.AddrPortFrom(vip, 1883)), openConn(t, l.Client, netip.AddrPortFrom(vip, 1883))}
			direct := openConn(t, l.Client, mqtt)

			reset, err := ResetClients(vip, []uint16{1883, 8883}, static, WithNetNS(ns))
			if err != nil {
				t.Fatalf("ResetClients: %v", err)
			}
			if reset != 2 {
				t.Errorf("ResetClients reset %d sockets, want the 2 clients that came through the VIP", reset)
			}
			for i, c := range viaVIP {
				start := time.Now()
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				_, err := c.Read(make([]byte, 1))
				t.Logf("client connection %d through the VIP: %v after %v", i, err, time.Since(start))
				if !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("client connection %d through the VIP: read %v, want connection reset", i, err)
				}
			}
			_ = direct.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := direct.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("direct connection to %s: read %v, want it open (deadline exceeded)", mqtt, err)
			}
			if reset, err := ResetClients(vip, []uint16{1883}, static, WithNetNS(ns)); err != nil || reset != 0 {
				t.Errorf("second ResetClients: %d, %v; want 0, nil", reset, err)
			}
			if err := tab.Remove(); err != nil {
				t.Fatalf("Remove: %v", err)
			}
		})
	}
}

func TestResetClientsArgs(t *testing.T) {
	if _, err := ResetClients(netip.MustParseAddr("2001:2::1"), []uint16{1883}, netip.MustParseAddr("198.18.0.2")); err == nil {
		t.Error("VIP and target of different families: no error")
	}
	if _, err := ResetClients(netip.Addr{}, []uint16{1883}, netip.MustParseAddr("198.18.0.1")); err == nil {
		t.Error("invalid VIP: no error")
	}
}
