package inspect

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/carpd/carpd/internal/pcapfile"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// gopacketIP is the frame parser inspect used before it stopped linking
// gopacket/layers, kept as the reference for ip: gopacket's decoders with
// one struct per layer type. tunnel reports that more than one IP header
// was decoded; the old parser then reused one struct for both, so what it
// returned depended on how far the inner decode got, and the comparison
// skips such frames. panicked reports a decoder panic (gopacket's
// LinuxSLL slices by the address length field).
func gopacketIP(lt pcapfile.LinkType, data []byte) (p ipPacket, ok, tunnel, panicked bool) {
	var (
		eth     layers.Ethernet
		dot1q   layers.Dot1Q
		sll     layers.LinuxSLL
		ip4     layers.IPv4
		ip6     layers.IPv6
		decoded []gopacket.LayerType
	)
	var first gopacket.LayerType
	switch lt {
	case pcapfile.LinkTypeEthernet:
		first = layers.LayerTypeEthernet
	case pcapfile.LinkTypeLinuxSLL:
		first = layers.LayerTypeLinuxSLL
	case pcapfile.LinkTypeLinuxSLL2, pcapfile.LinkTypeRaw, pcapfile.LinkTypeIPv4, pcapfile.LinkTypeIPv6:
		if lt == pcapfile.LinkTypeLinuxSLL2 {
			if len(data) < 20 {
				return p, false, false, false
			}
			data = data[20:]
		}
		if len(data) == 0 {
			return p, false, false, false
		}
		switch data[0] >> 4 {
		case 4:
			first = layers.LayerTypeIPv4
		case 6:
			first = layers.LayerTypeIPv6
		default:
			return p, false, false, false
		}
	default:
		return p, false, false, false
	}
	parser := gopacket.NewDecodingLayerParser(first, &eth, &dot1q, &sll, &ip4, &ip6)
	parser.IgnoreUnsupported = true
	err := parser.DecodeLayers(data, &decoded)
	panicked = err != nil && strings.Contains(err.Error(), "panic")
	nIP := 0
	for _, t := range decoded {
		if t == layers.LayerTypeIPv4 || t == layers.LayerTypeIPv6 {
			nIP++
		}
	}
	// A decode that failed after an IP layer may have overwritten it too.
	tunnel = nIP > 1 || nIP == 1 && err != nil
	for _, t := range decoded {
		switch t {
		case layers.LayerTypeIPv4:
			if ip4.Protocol != protoCARPVRRP || ip4.Flags&layers.IPv4MoreFragments != 0 || ip4.FragOffset != 0 {
				return p, false, tunnel, panicked
			}
			p.src, _ = netip.AddrFromSlice(ip4.SrcIP.To4())
			p.dst, _ = netip.AddrFromSlice(ip4.DstIP.To4())
			p.ttl, p.payload = ip4.TTL, ip4.Payload
			return p, true, tunnel, panicked
		case layers.LayerTypeIPv6:
			if ip6.NextHeader != protoCARPVRRP {
				return p, false, tunnel, panicked
			}
			p.src, _ = netip.AddrFromSlice(ip6.SrcIP)
			p.dst, _ = netip.AddrFromSlice(ip6.DstIP)
			p.ttl, p.payload = ip6.HopLimit, ip6.Payload
			return p, true, tunnel, panicked
		}
	}
	return p, false, tunnel, panicked
}

var (
	src4, dst4 = net.IP{198, 18, 0, 1}, net.IP{224, 0, 0, 18}
	src6, dst6 = net.ParseIP("fe80::1"), net.ParseIP("ff02::12")
	advert     = gopacket.Payload{0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0xa8, 0x5a, 0xc0, 0xa8, 0x01, 0x64}
)

// build serializes layers (lengths fixed, checksums computed).
func build(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(buf.Bytes())
}

func eth(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{1, 0, 0x5e, 0, 0, 0x12}, EthernetType: et}
}

func v4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 255, Protocol: proto, SrcIP: src4, DstIP: dst4}
}

func v6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: next, SrcIP: src6, DstIP: dst6}
}

// patch returns a copy of b with b[i] = v for each pair.
func patch(b []byte, iv ...int) []byte {
	b = bytes.Clone(b)
	for k := 0; k+1 < len(iv); k += 2 {
		b[iv[k]] = byte(iv[k+1])
	}
	return b
}
