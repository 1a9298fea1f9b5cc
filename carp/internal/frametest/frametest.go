// Package frametest builds Ethernet frames around CARP and VRRP adverts, and
// decodes the hex of test vectors, for the tests of carp and carp/carplayers. It imports gopacket/layers, which
// the daemon must not link (carp/carplayers says why), so only tests may
// import it.
package frametest

import (
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Addresses of the frames: the ones of carp's VRRP test vectors.
var (
	Src4 = netip.MustParseAddr("192.168.1.1")
	Dst4 = netip.MustParseAddr("224.0.0.18")
	Src6 = netip.MustParseAddr("fe80::1")
	Dst6 = netip.MustParseAddr("ff02::12")
)

// Frame serializes an Ethernet frame around l with IPv4 (or IPv6 when v6)
// and protocol 112, the way ucarp and keepalived send it. Extra network
// layers in outer go between Ethernet and the innermost IP header.
func Frame(t testing.TB, v6 bool, l gopacket.SerializableLayer, outer ...gopacket.SerializableLayer) []byte {
	t.Helper()
	eth := &layers.Ethernet{
		SrcMAC:       net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, 0x01, 0x01},
		DstMAC:       net.HardwareAddr{0x01, 0x00, 0x5e, 0x00, 0x00, 0x12},
		EthernetType: layers.EthernetTypeIPv4,
	}
	var ip gopacket.SerializableLayer = &layers.IPv4{
		Version: 4, TTL: 255, Protocol: layers.IPProtocolVRRP,
		SrcIP: Src4.AsSlice(), DstIP: Dst4.AsSlice(),
	}
	if v6 {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip = &layers.IPv6{
			Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolVRRP,
			SrcIP: Src6.AsSlice(), DstIP: Dst6.AsSlice(),
		}
	}
	ls := append(append([]gopacket.SerializableLayer{eth}, outer...), ip, l)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serializing frame: %v", err)
	}
	return buf.Bytes()
}

// Unhex decodes hex with optional spaces, for vectors written in groups.
func Unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad test hex %q: %v", s, err)
	}
	return b
}
