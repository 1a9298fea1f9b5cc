package carplayers

import (
	"errors"
	"net/netip"

	"github.com/carpd/carpd/carp"
	"github.com/google/gopacket"
)

// Layer type numbers, in the 1000-1999 range gopacket leaves to
// applications (gopacket.RegisterLayerType). 1114 is the IP protocol 112
// dispatcher below; it never appears as a decoded layer.
const (
	layerNumCARP     = 1112
	layerNumVRRP     = 1113
	layerNumProto112 = 1114
)

// Layer types for gopacket. They are package-level variables because
// gopacket identifies layers by registered numbers; they are set once, at
// initialisation, and never change.
var (
	// LayerTypeCARP is a *CARP. Decoding with it as the first decoder
	// treats the data as CARP without classifying.
	LayerTypeCARP = gopacket.RegisterLayerType(layerNumCARP, gopacket.LayerTypeMetadata{
		Name: "CARP", Decoder: gopacket.DecodeFunc(decodeCARP),
	})
	// LayerTypeVRRP is a *VRRP, v2 or v3. Its name differs from gopacket's
	// own "VRRP" (layers.LayerTypeVRRP, v2 only) so that
	// gopacket.DecodersByLayerName keeps both.
	LayerTypeVRRP = gopacket.RegisterLayerType(layerNumVRRP, gopacket.LayerTypeMetadata{
		Name: "VRRPv2/v3", Decoder: gopacket.DecodeFunc(decodeVRRP),
	})
	// LayerTypeProto112 decodes an IP protocol 112 payload into a CARP or
	// VRRP layer as decodeProto112 decides; it never appears as a decoded
	// layer itself. This package's init makes it what gopacket's IPv4/IPv6
	// NextLayerType returns for protocol 112: their decoders hand the
	// payload to the decoder of that layer type, so the layer type, not
	// just the enum's DecodeWith, has to lead here. A
	// gopacket.DecodingLayerParser sees this type for protocol 112 and has no
	// DecodingLayer for it; such callers use carp.Classify and the decoders
	// directly.
	LayerTypeProto112 = gopacket.RegisterLayerType(layerNumProto112, gopacket.LayerTypeMetadata{
		Name: "CARP/VRRP", Decoder: gopacket.DecodeFunc(decodeProto112),
	})
)

// decodeProto112 decodes an IP protocol 112 payload into a *CARP or a *VRRP
// as carp.Classify decides. When Classify cannot decide, the payload's
// shape alone (carp.Shape) still picks a layer, so a packet with a bad
// checksum is shown with its fields.
//
// Errors: a decoder error is returned to gopacket, which appends a
// gopacket.DecodeFailure layer and makes it the packet's ErrorLayer; its
// Error() is carp's sentinel (errors.Is works). The decoded layer is added
// before that whenever its fields were filled, that is for any error but
// carp.ErrShort and carp.ErrVersion (and for VRRP carp.ErrLength leaves
// Addrs empty).
func decodeProto112(data []byte, p gopacket.PacketBuilder) error {
	proto, err := carp.Classify(data)
	if errors.Is(err, carp.ErrAmbiguous) {
		if s := carp.Shape(data); s != carp.ProtoUnknown {
			proto = s
		}
	}
	switch proto {
	case carp.ProtoCARP:
		return decodeCARP(data, p)
	case carp.ProtoVRRP2, carp.ProtoVRRP3:
		return decodeVRRP(data, p)
	}
	return err
}

func decodeCARP(data []byte, p gopacket.PacketBuilder) error {
	c := &CARP{}
	err := c.DecodeFromBytes(data, p)
	if errors.Is(err, carp.ErrShort) || errors.Is(err, carp.ErrVersion) {
		return err
	}
	p.AddLayer(c)
	if err != nil {
		return err
	}
	return p.NextDecoder(c.NextLayerType())
}

func decodeVRRP(data []byte, p gopacket.PacketBuilder) error {
	v := &VRRP{}
	v.Src, v.Dst = ipAddrs(p)
	err := v.DecodeFromBytes(data, p)
	if errors.Is(err, carp.ErrShort) || errors.Is(err, carp.ErrVersion) {
		return err
	}
	p.AddLayer(v)
	return err
}

// ipAddrs returns the addresses of the innermost network layer decoded so
// far, the IPv4 or IPv6 header that carried us, which the v3 checksum needs.
// gopacket's packet builders (eager and lazy) implement gopacket.Packet;
// Layers is used rather than NetworkLayer because the latter is the
// outermost one, wrong for IP-in-IP. A lazy packet clears its pending
// decoder before calling us, so Layers does not recurse. The layer is found
// by interface and its flow's raw endpoints (4 or 16 bytes) so that any
// network layer that carries protocol 112 works, not just gopacket's IPv4
// and IPv6.
func ipAddrs(p gopacket.PacketBuilder) (src, dst netip.Addr) {
	pkt, ok := p.(gopacket.Packet)
	if !ok {
		return src, dst
	}
	ls := pkt.Layers()
	for i := len(ls) - 1; i >= 0; i-- {
		nl, ok := ls[i].(gopacket.NetworkLayer)
		if !ok {
			continue
		}
		f := nl.NetworkFlow()
		src, _ = netip.AddrFromSlice(f.Src().Raw())
		dst, _ = netip.AddrFromSlice(f.Dst().Raw())
		return src, dst
	}
	return src, dst
}
