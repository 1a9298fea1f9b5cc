package inspect

import (
	"encoding/binary"
	"net/netip"

	"github.com/carpd/carpd/internal/pcapfile"
)

// EtherTypes and IP protocol numbers the frame parser follows (IANA).
const (
	etherTypeIPv4  = 0x0800
	etherTypeARP   = 0x0806
	etherTypeDot1Q = 0x8100 // IEEE 802.1Q VLAN tag
	etherTypeQinQ  = 0x88a8 // IEEE 802.1ad service tag
	etherTypeIPv6  = 0x86dd

	protoIPIP     = 4  // IPv4 in IPv4
	protoIPv6     = 41 // IPv6 in IPv6
	protoCARPVRRP = 112
)

// ipPacket is the part of an IP packet the protocol-112 decoders need.
type ipPacket struct {
	src, dst netip.Addr
	ttl      uint8
	payload  []byte
}

// ip finds the IP packet in a frame of the given link type. ok is false
// for anything that is not IPv4 or IPv6 carrying protocol 112. The frame is
// parsed by hand rather than with gopacket/layers, which the daemon binary
// must not link (see package carp/carplayers); the checks are those of
// gopacket's Ethernet, Dot1Q, LinuxSLL, IPv4 and IPv6 decoders, which
// inspect used before.
func (in *Inspector) ip(lt pcapfile.LinkType, data []byte) (p ipPacket, ok bool) {
	var et uint16
	switch lt {
	case pcapfile.LinkTypeEthernet:
		if len(data) < 14 {
			return p, false
		}
		et, data = binary.BigEndian.Uint16(data[12:]), data[14:]
	case pcapfile.LinkTypeLinuxSLL:
		// 16-byte header, protocol type last.
		if len(data) < 16 {
			return p, false
		}
		et, data = binary.BigEndian.Uint16(data[14:]), data[16:]
	case pcapfile.LinkTypeLinuxSLL2:
		// 20-byte header, protocol type first.
		if len(data) < 20 {
			return p, false
		}
		data = data[20:]
		et = rawIPType(data)
	case pcapfile.LinkTypeRaw, pcapfile.LinkTypeIPv4, pcapfile.LinkTypeIPv6:
		et = rawIPType(data)
	default:
		return p, false
	}
	// VLAN tags, any number (802.1Q, QinQ): TCI, then the next EtherType.
	for et == etherTypeDot1Q || et == etherTypeQinQ {
		if len(data) < 4 {
			return p, false
		}
		et, data = binary.BigEndian.Uint16(data[2:]), data[4:]
	}
	switch et {
	case etherTypeIPv4:
		return ipv4Packet(data)
	case etherTypeIPv6:
		return ipv6Packet(data)
	}
	return p, false
}

// rawIPType picks the EtherType for a packet that starts with its IP
// header, by the version nibble; 0 for neither.
func rawIPType(data []byte) uint16 {
	if len(data) == 0 {
		return 0
	}
	switch data[0] >> 4 {
	case 4:
		return etherTypeIPv4
	case 6:
		return etherTypeIPv6
	}
	return 0
}

// ipv4Packet returns the protocol-112 packet in data, an IPv4 header and
// what follows. Like gopacket's decoder it takes a total length of 0 as the
// captured length (TSO), cuts trailing padding at the total length, keeps
// a payload cut short by the snapshot length, and refuses an IHL under 5 or
// beyond the total length or capture, and malformed options. Fragments are
// refused. IPv4-in-IPv4 is followed to the innermost header, which is what
// decides.
func ipv4Packet(data []byte) (p ipPacket, ok bool) {
	for {
		if len(data) < 20 {
			return p, false
		}
		total := binary.BigEndian.Uint16(data[2:])
		if total == 0 {
			total = uint16(len(data))
		}
		hl := int(data[0]&0x0f) * 4
		if total < 20 || hl < 20 || hl > int(total) {
			return p, false
		}
		if len(data) > int(total) {
			data = data[:total]
		} else if hl > len(data) {
			return p, false
		}
		if !ipv4OptionsOK(data[20:hl]) {
			return p, false
		}
		if frag := binary.BigEndian.Uint16(data[6:]); frag&0x2000 != 0 || frag&0x1fff != 0 {
			return p, false // more fragments, or not the first
		}
		switch data[9] {
		case protoIPIP:
			data = data[hl:]
			continue
		case protoCARPVRRP:
		default:
			return p, false
		}
		p.src = netip.AddrFrom4([4]byte(data[12:16]))
		p.dst = netip.AddrFrom4([4]byte(data[16:20]))
		p.ttl = data[8]
		p.payload = data[hl:]
		return p, true
	}
}

// ipv4OptionsOK checks the option list's lengths (RFC 791 §3.1): End of
// Option List ends it, No Operation is one byte, every other option has a
// length byte over 2 that fits in the header.
func ipv4OptionsOK(opts []byte) bool {
	for len(opts) > 0 {
		switch opts[0] {
		case 0:
			return true
		case 1:
			opts = opts[1:]
		default:
			if len(opts) < 2 || len(opts) < int(opts[1]) || opts[1] <= 2 {
				return false
			}
			opts = opts[opts[1]:]
		}
	}
	return true
}

// ipv6Packet returns the protocol-112 packet in data, an IPv6 header and
// what follows. The next header must be 112 itself (a Hop-by-Hop header in
// front is refused, as before), the payload length must not be 0
// (jumbograms need Hop-by-Hop), trailing padding is cut at the payload
// length and a payload cut short by the snapshot length is kept.
// IPv6-in-IPv6 is followed to the innermost header.
func ipv6Packet(data []byte) (p ipPacket, ok bool) {
	for {
		if len(data) < 40 {
			return p, false
		}
		n := int(binary.BigEndian.Uint16(data[4:]))
		if n == 0 {
			return p, false
		}
		payload := data[40:]
		payload = payload[:min(n, len(payload))]
		switch data[6] {
		case protoIPv6:
			data = payload
			continue
		case protoCARPVRRP:
		default:
			return p, false
		}
		p.src = netip.AddrFrom16([16]byte(data[8:24]))
		p.dst = netip.AddrFrom16([16]byte(data[24:40]))
		p.ttl = data[7]
		p.payload = payload
		return p, true
	}
}

// learnARP remembers the sender address of gratuitous ARPs: after a
// takeover they name the VIP, which the CARP HMAC covers.
func (in *Inspector) learnARP(lt pcapfile.LinkType, data []byte) {
	if lt != pcapfile.LinkTypeEthernet || len(data) < 14+28 {
		return
	}
	if binary.BigEndian.Uint16(data[12:14]) != etherTypeARP {
		return
	}
	arp := data[14:]
	spa, _ := netip.AddrFromSlice(arp[14:18])
	tpa, _ := netip.AddrFromSlice(arp[24:28])
	if spa == tpa {
		in.seen[spa] = true
	}
}
