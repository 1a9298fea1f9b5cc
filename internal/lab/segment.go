//go:build linux

package lab

import (
	"fmt"
	"net"
	"net/netip"
)

// maxSegment is the highest further segment: the segment number is the third
// byte of its IPv4 subnet.
const maxSegment = 255

// Attach connects the node to a further Ethernet segment seg (1..255) and
// returns the name of its new interface there, "eth<seg>". It is for tests of
// hosts with several interfaces, such as a daemon that must keep segments
// apart.
//
// Segment seg is bridge "br<seg>" in the switch namespace, created on first
// use, with its own subnets 198.18.<seg>.0/24 and 2001:2:0:<seg>::/64. On it
// the node keeps its host number N: the interface gets 198.18.<seg>.N/24,
// 2001:2:0:<seg>::N/64 (both numbers in decimal; none without IPv6) and MAC
// 02:ca:4d:SS:00:NN (SS and NN in hex), and its switch port is the node's
// port with "s<seg>" appended ("p1s2"). The lab's own segment, br0, is
// segment 0: Loss, Partition, BlockMulticast and LinkDown act on it only,
// and traffic on further segments is never filtered.
//
// Attach fails the lab's test on error, also when the node is on seg already
// or is the switch.
func (n *Node) Attach(seg int) string {
	l := n.lab
	l.tb.Helper()
	if n.port == "" {
		l.tb.Fatalf("lab: %s has no switch port to attach", n.Name)
	}
	if seg < 1 || seg > maxSegment {
		l.tb.Fatalf("lab: segment %d, want 1..%d", seg, maxSegment)
	}
	num := n.IP4.Addr().As4()[3]
	iface := fmt.Sprintf("eth%d", seg)
	bridge := fmt.Sprintf("br%d", seg)
	addrs := []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(seg), num}), 24)}
	if l.ipv6 {
		addrs = append(addrs, netip.MustParsePrefix(fmt.Sprintf("2001:2:0:%d::%d/64", seg, num)))
	}
	mac := net.HardwareAddr{0x02, 0xca, 0x4d, byte(seg), 0x00, num}

	// Held while the bridge is created, so that concurrent Attach calls
	// cannot both create it.
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.segments[seg] {
		if err := runTools(bridgeCmds(l.Switch.NS, bridge)...); err != nil {
			l.tb.Fatalf("lab: building segment %d: %v", seg, err)
		}
		if l.segments == nil {
			l.segments = make(map[int]bool)
		}
		l.segments[seg] = true
	}
	cmds := plugCmds(l.Switch.NS, n.NS, fmt.Sprintf("%ss%d", n.port, seg), bridge, iface, mac, addrs)
	if err := runTools(cmds...); err != nil {
		l.tb.Fatalf("lab: attaching %s to segment %d: %v", n.Name, seg, err)
	}
	return iface
}
