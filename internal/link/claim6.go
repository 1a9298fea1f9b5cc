//go:build linux

package link

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// The IPv6 half of the claim watch. NDP stands where ARP does for IPv4:
// the new master's unsolicited neighbour advertisement (Override set,
// Solicited clear, RFC 4861 §7.2.6) is its gratuitous ARP, the one packet
// that moves the neighbours' caches; a neighbour solicitation for the VIP
// is the probe, and the holder's solicited advertisement back to us is the
// probe's answer, which says the VIP is held, not announced.

// claimFilter keeps ARP frames and ICMPv6 neighbour advertisements
// without extension headers (NDP carries none, RFC 4861 §7.1.2 requires a
// hop limit of 255 that routers would have lowered anyway), so that the
// one socket of a ClaimWatch sees both families and nothing else.
func claimFilter() ([]bpf.RawInstruction, error) {
	const (
		ethHeader    = 14 // no VLAN tag: the kernel strips it before packet sockets
		offEtherType = 12
		offNextHdr   = ethHeader + 6              // IPv6 next header
		offICMPType  = ethHeader + ipv6.HeaderLen // ICMPv6 type
	)
	return bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: offEtherType, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(ethernet.EtherTypeARP), SkipTrue: 5},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(ethernet.EtherTypeIPv6), SkipFalse: 5},
		bpf.LoadAbsolute{Off: offNextHdr, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.IPPROTO_ICMPV6, SkipFalse: 3},
		bpf.LoadAbsolute{Off: offICMPType, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(ipv6.ICMPTypeNeighborAdvertisement), SkipFalse: 1},
		bpf.RetConstant{Val: claimSnap},
		bpf.RetConstant{Val: 0},
	})
}

// claimSnap is how much of a frame the watch reads: an ARP packet or an
// advertisement with its target link-layer address option fit, and
// whatever follows is not needed.
const claimSnap = 256

// naVerdict is what one received frame says about the watched VIPs.
type naVerdict uint8

const (
	naNone  naVerdict = iota // not about a watched VIP, or ours
	naHeld                   // the holder's answer to our solicitation
	naClaim                  // an announcement: the neighbours moved
)

// judgeNA reads f as an IPv6 neighbour advertisement about one of vips.
// Our own advertisements (the kernel's and our Announcer's, which a packet
// socket sees going out) are skipped by their Ethernet source. A solicited
// one updates only the cache of the node that asked (RFC 4861 §7.2.5), so
// it is the answer to our probe when it is addressed to us and nothing
// otherwise; one without Override leaves existing entries alone, so it
// claims nothing either.
func judgeNA(f *ethernet.Frame, ours net.HardwareAddr, vips []netip.Addr) naVerdict {
	if f.EtherType != ethernet.EtherTypeIPv6 || slices.Equal(f.Source, ours) {
		return naNone
	}
	h, err := ipv6.ParseHeader(f.Payload)
	if err != nil || h.Version != 6 || h.NextHeader != unix.IPPROTO_ICMPV6 || h.HopLimit != ndp.HopLimit ||
		ipv6.HeaderLen+h.PayloadLen > len(f.Payload) {
		return naNone
	}
	m, err := ndp.ParseMessage(f.Payload[ipv6.HeaderLen : ipv6.HeaderLen+h.PayloadLen])
	na, ok := m.(*ndp.NeighborAdvertisement)
	if err != nil || !ok || !slices.Contains(vips, na.TargetAddress) {
		return naNone
	}
	switch {
	case na.Solicited && slices.Equal(f.Destination, ours):
		return naHeld
	case na.Solicited || !na.Override:
		return naNone
	}
	return naClaim
}

// sendNS sends a neighbour solicitation for vip from our link-local src
// to the VIP's solicited-node group (RFC 4861 §7.2.2), with our
// link-layer address so the holder can answer at once. Unlike a DAD probe
// (source ::), whose answer goes to all nodes and looks like an
// announcement, this one is answered by a solicited advertisement to us
// (§7.2.4), which the watch tells apart.
func sendNS(c frameWriter, mac net.HardwareAddr, src, vip netip.Addr) error {
	dst := solicitedNode(vip)
	body, err := ndp.MarshalMessage(&ndp.NeighborSolicitation{
		TargetAddress: vip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: mac}},
	})
	if err != nil {
		return err
	}
	binary.BigEndian.PutUint16(body[2:], icmp6Checksum(src, dst, body))
	ip := make([]byte, ipv6.HeaderLen, ipv6.HeaderLen+len(body))
	ip[0] = 6 << 4
	binary.BigEndian.PutUint16(ip[4:], uint16(len(body)))
	ip[6], ip[7] = unix.IPPROTO_ICMPV6, ndp.HopLimit
	s, d := src.As16(), dst.As16()
	copy(ip[8:], s[:])
	copy(ip[24:], d[:])
	// RFC 2464 §7: a multicast group's Ethernet address is 33:33 and its
	// last four bytes.
	ethDst := net.HardwareAddr{0x33, 0x33, d[12], d[13], d[14], d[15]}
	fb, err := (&ethernet.Frame{Destination: ethDst, Source: mac, EtherType: ethernet.EtherTypeIPv6,
		Payload: append(ip, body...)}).MarshalBinary()
	if err != nil {
		return err
	}
	_, err = c.WriteTo(fb, &packet.Addr{HardwareAddr: ethDst})
	return err
}

// solicitedNode returns the solicited-node multicast address of a
// (RFC 4291 §2.7.1): ff02::1:ff and its last three bytes.
func solicitedNode(a netip.Addr) netip.Addr {
	b := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 0x01, 12: 0xff, 13: b[13], 14: b[14], 15: b[15]})
}

// icmp6Checksum is the ICMPv6 checksum of msg (its checksum field zero)
// sent from src to dst: RFC 4443 §2.3 over the RFC 8200 §8.1 pseudo-header.
// A packet socket sends the frame as built, so nobody else fills it in.
func icmp6Checksum(src, dst netip.Addr, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	var tail [8]byte
	binary.BigEndian.PutUint32(tail[:4], uint32(len(msg)))
	tail[7] = unix.IPPROTO_ICMPV6
	add(tail[:])
	add(msg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// linkLocal returns the address our solicitations come from.
func (w *ClaimWatch) linkLocal() (netip.Addr, error) {
	if w.h == nil {
		return netip.Addr{}, fmt.Errorf("%s: no netlink handle to find the link-local address", w.ifi.Name)
	}
	list, err := w.h.AddrList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: w.ifi.Index}}, netlink.FAMILY_V6)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("listing IPv6 addresses: %w", err)
	}
	return pickPrimary(w.ifi.Name, IPv6, list, nil)
}
