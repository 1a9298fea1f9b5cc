package carp

import (
	"errors"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// frame serializes an Ethernet frame around l with IPv4 (or IPv6 when v6)
// and protocol 112, the way ucarp and keepalived send it. Extra network
// layers in outer go between Ethernet and the innermost IP header.
func frame(t testing.TB, v6 bool, l gopacket.SerializableLayer, outer ...gopacket.SerializableLayer) []byte {
	t.Helper()
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, 0x01},
		DstMAC:       net.HardwareAddr{0x01, 0x00, 0x5e, 0x00, 0x00, 0x12},
		EthernetType: layers.EthernetTypeIPv4,
	}
	var ip gopacket.SerializableLayer = &layers.IPv4{
		Version: 4, TTL: 255, Protocol: layers.IPProtocolVRRP,
		SrcIP: vSrc4.AsSlice(), DstIP: vDst4.AsSlice(),
	}
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip = &layers.IPv6{
			Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolVRRP,
			SrcIP: vSrc6.AsSlice(), DstIP: vDst6.AsSlice(),
		}
	}
	ls := append(append([]gopacket.SerializableLayer{eth}, outer...), ip, l)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serializing frame: %v", err)
	}
	return buf.Bytes()
}

func TestGopacketDecodes(t *testing.T) {
	a := mustAuth(t, "mypassword", 1, addrs("10.1.1.252"), nil)
	carp := &Header{Version: 2, Type: 1, VHID: 1, AuthLen: 7, AdvBase: 1, Counter: 0x0123456789abcdef}
	a.Sign(carp)
	v2 := &VRRP{Version: 2, Type: 1, VRID: 51, Priority: 100, AdvInt: 1, Addrs: addrs("192.168.1.100")}
	v3 := &VRRP{Version: 3, Type: 1, VRID: 51, Priority: 100, AdvInt: 100, Addrs: addrs("192.168.1.100"),
		Src: vSrc4, Dst: vDst4, PseudoHeader: true}
	v3v6 := &VRRP{Version: 3, Type: 1, VRID: 51, Priority: 100, AdvInt: 100, Addrs: addrs("2001:2::100"),
		Src: vSrc6, Dst: vDst6}
	// IP-in-IP: the v3 checksum must use the inner addresses.
	outer := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolIPv4, SrcIP: net.IP{198, 18, 9, 1}, DstIP: net.IP{198, 18, 9, 2}}

	tests := []struct {
		name  string
		frame []byte
		want  gopacket.Layer // with Src/Dst, PseudoHeader, ChecksumChecked as decoded
	}{
		{"carp", frame(t, false, carp), carp},
		{"vrrp2", frame(t, false, v2), &VRRP{Version: 2, Type: 1, VRID: 51, Priority: 100, CountAddrs: 1, AdvInt: 1,
			Checksum: 0xb8bd, Addrs: v2.Addrs, Src: vSrc4, Dst: vDst4, ChecksumChecked: true}},
		{"vrrp3", frame(t, false, v3), &VRRP{Version: 3, Type: 1, VRID: 51, Priority: 100, CountAddrs: 1, AdvInt: 100,
			Checksum: 0x0622, Addrs: v3.Addrs, Src: vSrc4, Dst: vDst4, PseudoHeader: true, ChecksumChecked: true}},
		{"vrrp3 ipv6", frame(t, true, v3v6), &VRRP{Version: 3, Type: 1, VRID: 51, Priority: 100, CountAddrs: 1, AdvInt: 100,
			Checksum: 0x4b45, Addrs: v3v6.Addrs, Src: vSrc6, Dst: vDst6, PseudoHeader: true, ChecksumChecked: true}},
		{"vrrp3 ip-in-ip", frame(t, false, v3, outer), &VRRP{Version: 3, Type: 1, VRID: 51, Priority: 100, CountAddrs: 1, AdvInt: 100,
			Checksum: 0x0622, Addrs: v3.Addrs, Src: vSrc4, Dst: vDst4, PseudoHeader: true, ChecksumChecked: true}},
	}
	for _, tt := range tests {
		for _, opts := range []gopacket.DecodeOptions{gopacket.Default, gopacket.Lazy} {
			p := gopacket.NewPacket(tt.frame, layers.LayerTypeEthernet, opts)
			if el := p.ErrorLayer(); el != nil {
				t.Errorf("%s (lazy %v): error layer %v", tt.name, opts.Lazy, el.Error())
			}
			got := p.Layer(tt.want.LayerType())
			if diff := cmp.Diff(tt.want, got, ignoreBase, eqAddr); diff != "" {
				t.Errorf("%s (lazy %v): layer (-want +got):\n%s", tt.name, opts.Lazy, diff)
			}
		}
	}
}

// TestGopacketErrors: a damaged packet still shows its fields, with the
// error in a DecodeFailure; garbage never panics.
func TestGopacketErrors(t *testing.T) {
	h := vector1Header(t)
	bad := frame(t, false, &h)
	bad[len(bad)-1] ^= 1 // MD, so the CARP checksum no longer holds
	v2 := frame(t, false, &VRRP{Version: 2, Type: 1, VRID: 51, Priority: 100, AdvInt: 1, Addrs: addrs("192.168.1.100")})
	v2[14+20+19] ^= 1 // last auth byte; the frame ends in Ethernet padding

	tests := []struct {
		name      string
		frame     []byte
		wantLayer gopacket.LayerType // 0: neither CARP nor VRRP
		wantErr   error
	}{
		{"carp bad checksum", bad, LayerTypeCARP, ErrChecksum},
		{"vrrp2 bad checksum", v2, LayerTypeVRRP, ErrChecksum},
		{"version 5", frame(t, false, gopacket.Payload{0x51, 1, 2, 3, 4, 5, 6, 7}), 0, ErrVersion},
		{"short", frame(t, false, gopacket.Payload{0x21, 1}), 0, ErrShort},
		{"ambiguous", frame(t, false, gopacket.Payload{0x21, 1, 2, 3, 4, 5, 6, 7, 8}), 0, ErrAmbiguous},
		{"vrrp3 bad length", frame(t, false, gopacket.Payload{0x31, 1, 2, 3, 4, 5, 6, 7, 8}), LayerTypeVRRP, ErrLength},
	}
	for _, tt := range tests {
		p := gopacket.NewPacket(tt.frame, layers.LayerTypeEthernet, gopacket.Default)
		el := p.ErrorLayer()
		if el == nil || !errors.Is(el.Error(), tt.wantErr) {
			t.Errorf("%s: error layer %v, want %v", tt.name, el, tt.wantErr)
		}
		for _, lt := range []gopacket.LayerType{LayerTypeCARP, LayerTypeVRRP} {
			if got := p.Layer(lt) != nil; got != (lt == tt.wantLayer) {
				t.Errorf("%s: has %v layer = %v", tt.name, lt, got)
			}
		}
	}
}

// TestGopacketLayerTypeDecoders: the registered layer types decode a bare
// payload without classifying.
func TestGopacketLayerTypeDecoders(t *testing.T) {
	p := gopacket.NewPacket(unhex(t, vector1), LayerTypeCARP, gopacket.Default)
	if h, ok := p.Layer(LayerTypeCARP).(*Header); !ok || h.VHID != 1 || p.ErrorLayer() != nil {
		t.Errorf("LayerTypeCARP decode: %v", p)
	}
	// Without an IP layer the pseudo-header form cannot be checked.
	p = gopacket.NewPacket(unhex(t, vrrp3PseudoVector), LayerTypeVRRP, gopacket.Default)
	if v, ok := p.Layer(LayerTypeVRRP).(*VRRP); !ok || v.VRID != 51 || v.ChecksumChecked || p.ErrorLayer() != nil {
		t.Errorf("LayerTypeVRRP decode: %v", p)
	}
}
