//go:build linux

package lab

import (
	"net"

	"golang.org/x/net/ipv4"
)

// Proto112 opens, in n's namespace, a raw IPv4 protocol 112 socket that
// sends to multicast on n's interface with the given TTL: how tests forge
// CARP and VRRP adverts. The socket keeps its namespace, so it may be
// written from any goroutine; the caller closes it.
func (n *Node) Proto112(ttl int) (*ipv4.PacketConn, error) {
	var p *ipv4.PacketConn
	err := n.Do(func() error {
		c, err := net.ListenPacket("ip4:112", "0.0.0.0")
		if err != nil {
			return err
		}
		ifi, err := net.InterfaceByName(n.Iface)
		if err == nil {
			p = ipv4.NewPacketConn(c)
			err = p.SetMulticastInterface(ifi)
		}
		if err == nil {
			err = p.SetMulticastTTL(ttl)
		}
		if err != nil {
			c.Close()
		}
		return err
	})
	return p, err
}
