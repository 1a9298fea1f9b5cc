//go:build linux

package lab

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// testPort is the UDP port the reachability probes use.
const testPort = 9999

// groupPort is where the multicast tests listen. A socket of
// net.ListenMulticastUDP binds the wildcard address with SO_REUSEADDR, so a
// unicast listener on the same port of the same node failed now and then
// with EADDRINUSE (TestBlockMulticast, once in a full run).
const groupPort = 9998

// listenUDP opens a UDP socket in n's namespace on addr:testPort, closed when
// the test ends.
func listenUDP(t *testing.T, n *Node, addr netip.Addr) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := n.Do(func() error {
		var err error
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, testPort)))
		return err
	})
	if err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, n.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sendUDP sends count datagrams from n's namespace to dst:testPort.
func sendUDP(t *testing.T, n *Node, dst netip.Addr, count int) {
	t.Helper()
	sendUDPPort(t, n, dst, testPort, count)
}

// sendUDPPort sends count datagrams from n's namespace to dst:port.
func sendUDPPort(t *testing.T, n *Node, dst netip.Addr, port uint16, count int) {
	t.Helper()
	err := n.Do(func() error {
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, port)))
		if err != nil {
			return err
		}
		defer c.Close()
		for range count {
			if _, err := c.Write([]byte("lab probe")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("sending from %s to %s: %v", n.Name, dst, err)
	}
}

// received counts datagrams arriving on c, up to most, within wait.
func received(t *testing.T, c net.PacketConn, most int, wait time.Duration) int {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	got := 0
	for got < most {
		if _, _, err := c.ReadFrom(buf); err != nil {
			break
		}
		got++
	}
	return got
}

// reaches reports whether a datagram from src gets to dst's IPv4 address (or
// IPv6 address when v6), waiting up to wait for it.
func reaches(t *testing.T, src, dst *Node, v6 bool, wait time.Duration) bool {
	t.Helper()
	addr := dst.IP4.Addr()
	if v6 {
		addr = dst.IP6.Addr()
	}
	return reachesAddr(t, src, dst, addr, wait)
}

// reachesAddr reports whether a datagram from src gets to addr on dst,
// waiting up to wait for it.
func reachesAddr(t *testing.T, src, dst *Node, addr netip.Addr, wait time.Duration) bool {
	t.Helper()
	c := listenUDP(t, dst, addr)
	defer c.Close()
	sendUDP(t, src, addr, 1)
	return received(t, c, 1, wait) == 1
}
