package inspect

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/carpd/carpd/internal/pcapfile"
	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket/layers"
)

// withOptions inserts IPv4 options (a multiple of 4 bytes) after the
// 20-byte header of the IPv4 packet at off in frame, fixing IHL and total
// length.
func withOptions(frame []byte, off int, opts ...byte) []byte {
	b := append(bytes.Clone(frame[:off+20]), opts...)
	b = append(b, frame[off+20:]...)
	b[off] = 0x40 | byte((20+len(opts))/4)
	binary.BigEndian.PutUint16(b[off+2:], binary.BigEndian.Uint16(frame[off+2:])+uint16(len(opts)))
	return b
}

// TestFrameIP: ip finds the protocol-112 packet in every link type inspect
// reads, with gopacket's checks, and agrees with the gopacket-based parser
// it replaced wherever that one was well defined.
func TestFrameIP(t *testing.T) {
	// Without the Ethernet padding gopacket adds up to 60 bytes.
	base4 := build(t, eth(layers.EthernetTypeIPv4), v4(112), advert)[:14+20+12]
	base6 := build(t, eth(layers.EthernetTypeIPv6), v6(112), advert)
	ip4 := base4[14:]
	outer4 := v4(layers.IPProtocolIPv4)
	outer4.SrcIP = net.IP{198, 18, 9, 1}
	outer6 := v6(layers.IPProtocolIPv6)
	outer6.SrcIP = net.ParseIP("2001:2::1")
	sll := append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}, ip4...)
	sll2 := append([]byte{0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}, ip4...)

	good4 := ipPacket{src: netip.MustParseAddr("198.18.0.1"), dst: netip.MustParseAddr("224.0.0.18"), ttl: 255, payload: advert}
	good6 := ipPacket{src: netip.MustParseAddr("fe80::1"), dst: netip.MustParseAddr("ff02::12"), ttl: 255, payload: advert}
	cut := func(p ipPacket, n int) ipPacket { p.payload = p.payload[:n]; return p }
	tests := []struct {
		name string
		lt   pcapfile.LinkType
		data []byte
		want ipPacket
		ok   bool
	}{
		{"ethernet ipv4", pcapfile.LinkTypeEthernet, base4, good4, true},
		{"ethernet padding cut", pcapfile.LinkTypeEthernet, append(bytes.Clone(base4), make([]byte, 14)...), good4, true},
		{"802.1Q", pcapfile.LinkTypeEthernet, build(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 29, Type: layers.EthernetTypeIPv4}, v4(112), advert), good4, true},
		{"QinQ", pcapfile.LinkTypeEthernet, build(t, eth(layers.EthernetTypeQinQ), &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 29, Type: layers.EthernetTypeIPv4}, v4(112), advert), good4, true},
		{"802.1Q cut", pcapfile.LinkTypeEthernet, build(t, eth(layers.EthernetTypeDot1Q))[:16], ipPacket{}, false},
		{"802.3 length", pcapfile.LinkTypeEthernet, patch(base4, 12, 0, 13, 32), ipPacket{}, false},
		{"ethernet short", pcapfile.LinkTypeEthernet, base4[:13], ipPacket{}, false},
		{"arp", pcapfile.LinkTypeEthernet, patch(base4, 12, 0x08, 13, 0x06), ipPacket{}, false},
		{"udp", pcapfile.LinkTypeEthernet, patch(base4, 14+9, 17), ipPacket{}, false},
		{"more fragments", pcapfile.LinkTypeEthernet, patch(base4, 14+6, 0x20), ipPacket{}, false},
		{"fragment offset", pcapfile.LinkTypeEthernet, patch(base4, 14+7, 1), ipPacket{}, false},
		{"don't fragment", pcapfile.LinkTypeEthernet, patch(base4, 14+6, 0x40), good4, true},
		{"IHL 4", pcapfile.LinkTypeEthernet, patch(base4, 14, 0x44), ipPacket{}, false},
		{"IHL over total", pcapfile.LinkTypeEthernet, patch(base4, 14, 0x4f), ipPacket{}, false},
		{"total 0 (TSO)", pcapfile.LinkTypeEthernet, patch(base4, 14+2, 0, 14+3, 0), good4, true},
		{"total 19", pcapfile.LinkTypeEthernet, patch(base4, 14+2, 0, 14+3, 19), ipPacket{}, false},
		{"capture cut in payload", pcapfile.LinkTypeEthernet, base4[:len(base4)-4], cut(good4, 8), true},
		{"capture cut in header", pcapfile.LinkTypeEthernet, base4[:14+19], ipPacket{}, false},
		{"capture cut in options", pcapfile.LinkTypeEthernet, withOptions(base4, 14, 1, 1, 1, 0)[:14+22], ipPacket{}, false},
		{"options nop eol", pcapfile.LinkTypeEthernet, withOptions(base4, 14, 1, 1, 1, 0), good4, true},
		{"option router alert", pcapfile.LinkTypeEthernet, withOptions(base4, 14, 0x94, 4, 0, 0), good4, true},
		{"option length 2", pcapfile.LinkTypeEthernet, withOptions(base4, 14, 0x44, 2, 0, 0), ipPacket{}, false},
		{"option past header", pcapfile.LinkTypeEthernet, withOptions(base4, 14, 0x07, 7, 0, 0), ipPacket{}, false},
		{"ipv6", pcapfile.LinkTypeEthernet, base6, good6, true},
		{"ipv6 padding cut", pcapfile.LinkTypeEthernet, append(bytes.Clone(base6), 0, 0, 0, 0), good6, true},
		{"ipv6 capture cut", pcapfile.LinkTypeEthernet, base6[:len(base6)-4], cut(good6, 8), true},
		{"ipv6 hop-by-hop", pcapfile.LinkTypeEthernet, patch(base6, 14+6, 0), ipPacket{}, false},
		{"ipv6 length 0", pcapfile.LinkTypeEthernet, patch(base6, 14+4, 0, 14+5, 0), ipPacket{}, false},
		{"ipv6 short", pcapfile.LinkTypeEthernet, base6[:14+39], ipPacket{}, false},
		{"linux sll", pcapfile.LinkTypeLinuxSLL, sll, good4, true},
		{"linux sll short", pcapfile.LinkTypeLinuxSLL, sll[:15], ipPacket{}, false},
		{"linux sll2", pcapfile.LinkTypeLinuxSLL2, sll2, good4, true},
		{"linux sll2 short", pcapfile.LinkTypeLinuxSLL2, sll2[:19], ipPacket{}, false},
		{"raw ipv4", pcapfile.LinkTypeRaw, ip4, good4, true},
		{"raw ipv6", pcapfile.LinkTypeRaw, base6[14:], good6, true},
		{"ipv4 link type, version 6", pcapfile.LinkTypeIPv4, base6[14:], good6, true},
		{"ipv6 link type", pcapfile.LinkTypeIPv6, base6[14:], good6, true},
		{"raw version 5", pcapfile.LinkTypeRaw, patch(ip4, 0, 0x55), ipPacket{}, false},
		{"raw empty", pcapfile.LinkTypeRaw, nil, ipPacket{}, false},
		{"unknown link type", 105, base4, ipPacket{}, false},
		{"ipv4 in ipv4: inner decides", pcapfile.LinkTypeEthernet, build(t, eth(layers.EthernetTypeIPv4), outer4, v4(112), advert), good4, true},
		{"ipv6 in ipv6: inner decides", pcapfile.LinkTypeEthernet, build(t, eth(layers.EthernetTypeIPv6), outer6, v6(112), advert), good6, true},
		{"ipv6 in ipv4", pcapfile.LinkTypeEthernet, build(t, eth(layers.EthernetTypeIPv4), v4(layers.IPProtocolIPv6), v6(112), advert), ipPacket{}, false},
	}
	in := &Inspector{}
	for _, tt := range tests {
		got, ok := in.ip(tt.lt, tt.data)
		if ok != tt.ok {
			t.Errorf("%s: ok = %v, want %v", tt.name, ok, tt.ok)
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(ipPacket{}), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); ok && diff != "" {
			t.Errorf("%s: packet (-want +got):\n%s", tt.name, diff)
		}
		old, oldOK, tunnel, panicked := gopacketIP(tt.lt, tt.data)
		if tunnel || panicked {
			continue
		}
		if ok != oldOK || ok && !samePacket(got, old) {
			t.Errorf("%s: ip = %+v, %v; the gopacket parser gave %+v, %v", tt.name, got, ok, old, oldOK)
		}
	}
}

func samePacket(a, b ipPacket) bool {
	return a.src == b.src && a.dst == b.dst && a.ttl == b.ttl && bytes.Equal(a.payload, b.payload)
}

// FuzzFrameIP: on any frame of any supported link type, ip agrees with the
// gopacket-based parser it replaced, except where that one was undefined
// (tunnels it decoded into one shared struct, decoder panics).
func FuzzFrameIP(f *testing.F) {
	f.Add(uint16(1), build(f, eth(layers.EthernetTypeIPv4), v4(112), advert))
	f.Add(uint16(1), build(f, eth(layers.EthernetTypeQinQ), &layers.Dot1Q{Type: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{Type: layers.EthernetTypeIPv6}, v6(112), advert))
	f.Add(uint16(113), append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}, build(f, v4(112), advert)...))
	f.Add(uint16(276), append(make([]byte, 20), build(f, v6(112), advert)...))
	f.Add(uint16(101), withOptions(build(f, v4(112), advert), 0, 0x94, 4, 0, 0))
	in := &Inspector{}
	f.Fuzz(func(t *testing.T, lt uint16, data []byte) {
		got, ok := in.ip(pcapfile.LinkType(lt), data)
		old, oldOK, tunnel, panicked := gopacketIP(pcapfile.LinkType(lt), data)
		if tunnel || panicked {
			return
		}
		if ok != oldOK || ok && !samePacket(got, old) {
			t.Fatalf("ip = %+v, %v; the gopacket parser gave %+v, %v", got, ok, old, oldOK)
		}
	})
}
