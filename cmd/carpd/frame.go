package main

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// linkTypeLinuxSLL2 is what `tcpdump -i any` writes since libpcap 1.10
// (LINKTYPE_LINUX_SLL2, 276). gopacket v1.1.19 predates it and keeps link
// types in a byte, so pcapgo hands it over truncated to 276 & 0xff = 20,
// a number no other link type uses.
const linkTypeLinuxSLL2 layers.LinkType = 276 & 0xff

const protoCARPVRRP = 112

// timeFormat is RFC 3339 with all nine fractional digits, so lines align
// and sort as text.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// ipPacket is the part of an IP packet the protocol-112 decoders need.
type ipPacket struct {
	src, dst netip.Addr
	ttl      uint8
	payload  []byte
}

// ip finds the IP packet in a frame of the given link type. ok is false
// for anything that is not IPv4 or IPv6 carrying protocol 112.
func (in *inspector) ip(lt layers.LinkType, data []byte) (p ipPacket, ok bool) {
	var first gopacket.LayerType
	switch lt {
	case layers.LinkTypeEthernet:
		first = layers.LayerTypeEthernet
	case layers.LinkTypeLinuxSLL:
		first = layers.LayerTypeLinuxSLL
	case linkTypeLinuxSLL2:
		// 20-byte header, protocol type first.
		if len(data) < 20 {
			return p, false
		}
		data = data[20:]
		first = rawIPType(data)
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		first = rawIPType(data)
	default:
		return p, false
	}
	if first == gopacket.LayerTypeZero {
		return p, false
	}
	parser := in.parsers[first]
	if parser == nil {
		parser = gopacket.NewDecodingLayerParser(first, &in.eth, &in.dot1q, &in.sll, &in.ip4, &in.ip6)
		parser.IgnoreUnsupported = true
		in.parsers[first] = parser
	}
	// Errors past the IP layer are expected: our layers are not in this
	// parser, so it stops at the protocol-112 payload.
	_ = parser.DecodeLayers(data, &in.decoded)
	for _, t := range in.decoded {
		switch t {
		case layers.LayerTypeIPv4:
			if in.ip4.Protocol != protoCARPVRRP || in.ip4.Flags&layers.IPv4MoreFragments != 0 || in.ip4.FragOffset != 0 {
				return p, false
			}
			p.src, _ = netip.AddrFromSlice(in.ip4.SrcIP.To4())
			p.dst, _ = netip.AddrFromSlice(in.ip4.DstIP.To4())
			p.ttl = in.ip4.TTL
			p.payload = in.ip4.Payload
			return p, true
		case layers.LayerTypeIPv6:
			if in.ip6.NextHeader != protoCARPVRRP {
				return p, false
			}
			p.src, _ = netip.AddrFromSlice(in.ip6.SrcIP)
			p.dst, _ = netip.AddrFromSlice(in.ip6.DstIP)
			p.ttl = in.ip6.HopLimit
			p.payload = in.ip6.Payload
			return p, true
		}
	}
	return p, false
}

func rawIPType(data []byte) gopacket.LayerType {
	if len(data) == 0 {
		return gopacket.LayerTypeZero
	}
	switch data[0] >> 4 {
	case 4:
		return layers.LayerTypeIPv4
	case 6:
		return layers.LayerTypeIPv6
	}
	return gopacket.LayerTypeZero
}

// frame decodes and prints one captured frame if it carries protocol 112.
func (in *inspector) frame(ts time.Time, lt layers.LinkType, data []byte) error {
	p, ok := in.ip(lt, data)
	if !ok {
		in.learnARP(lt, data)
		return nil
	}
	in.n++
	in.seen[p.src] = true
	r := in.decode(p)
	r.Time = ts.UTC().Format(timeFormat)
	if in.json != nil {
		return in.json.Encode(r)
	}
	_, err := fmt.Fprintln(in.out, r.text())
	return err
}

// learnARP remembers the sender address of gratuitous ARPs: after a
// takeover they name the VIP, which the CARP HMAC covers.
func (in *inspector) learnARP(lt layers.LinkType, data []byte) {
	if lt != layers.LinkTypeEthernet || len(data) < 14+28 {
		return
	}
	if binary.BigEndian.Uint16(data[12:14]) != uint16(layers.EthernetTypeARP) {
		return
	}
	arp := data[14:]
	spa, _ := netip.AddrFromSlice(arp[14:18])
	tpa, _ := netip.AddrFromSlice(arp[24:28])
	if spa == tpa {
		in.seen[spa] = true
	}
}
