//go:build linux

package lab

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// groupPort is where the multicast tests listen. Their sockets set
// SO_REUSEADDR, so a copy held by a forked child does not block the next one.
const groupPort = 9998

// listenUDP opens a UDP socket in n's namespace on addr and a port the
// kernel picks, closed when the test ends. A fixed port failed now and then
// with EADDRINUSE right after the previous probe's Close (TestPartition and
// TestBlockMulticast, once each in a full run): a parallel test forking ip
// or nft lends the child every open descriptor until its execve, so a
// closed socket can hold its port a little longer.
func listenUDP(t *testing.T, n *Node, addr netip.Addr) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := n.Do(func() error {
		var err error
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		return err
	})
	if err != nil {
		t.Fatalf("listening on %s in %s: %v", addr, n.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sendUDP sends count datagrams from n's namespace to the address c listens
// on.
func sendUDP(t *testing.T, n *Node, c *net.UDPConn, count int) {
	t.Helper()
	to := c.LocalAddr().(*net.UDPAddr).AddrPort()
	sendUDPPort(t, n, to.Addr().Unmap(), to.Port(), count)
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
	sendUDP(t, src, c, 1)
	return received(t, c, 1, wait) == 1
}
