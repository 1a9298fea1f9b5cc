package carp

import (
	"errors"
	"net/netip"

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
	// LayerTypeCARP is a *Header. Decoding with it as the first decoder
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
	// layer itself. Importing package carplayers makes it what gopacket's
	// IPv4/IPv6 NextLayerType returns for protocol 112: their decoders hand
	// the payload to the decoder of that layer type, so the layer type, not
	// just the enum's DecodeWith, has to lead here. A
	// gopacket.DecodingLayerParser sees this type for protocol 112 and has no
	// DecodingLayer for it; such callers use Classify and the decoders
	// directly.
	LayerTypeProto112 = gopacket.RegisterLayerType(layerNumProto112, gopacket.LayerTypeMetadata{
		Name: "CARP/VRRP", Decoder: gopacket.DecodeFunc(decodeProto112),
	})
)

// decodeProto112 decodes an IP protocol 112 payload into a *Header or a
// *VRRP as Classify decides. When Classify cannot decide, the payload's
// shape alone (CARP's 36 bytes with authlen 7, or VRRPv2's length for its
// count) still picks a layer, so a packet with a bad checksum is shown with
// its fields; the shapes cannot overlap.
//
// Errors: a decoder error is returned to gopacket, which appends a
// gopacket.DecodeFailure layer and makes it the packet's ErrorLayer; its
// Error() is our sentinel (errors.Is works). The decoded layer is added
// before that whenever its fields were filled, that is for any error but
// ErrShort and ErrVersion (and for VRRP ErrLength leaves Addrs empty).
func decodeProto112(data []byte, p gopacket.PacketBuilder) error {
	proto, err := Classify(data)
	if errors.Is(err, ErrAmbiguous) {
		switch {
		case carpShape(data):
			proto = ProtoCARP
		case vrrp2Shape(data):
			proto = ProtoVRRP2
		}
	}
	switch proto {
	case ProtoCARP:
		return decodeCARP(data, p)
	case ProtoVRRP2, ProtoVRRP3:
		return decodeVRRP(data, p)
	}
	return err
}

func decodeCARP(data []byte, p gopacket.PacketBuilder) error {
	h := &Header{}
	err := h.DecodeFromBytes(data, p)
	if errors.Is(err, ErrShort) || errors.Is(err, ErrVersion) {
		return err
	}
	p.AddLayer(h)
	if err != nil {
		return err
	}
	return p.NextDecoder(h.NextLayerType())
}

func decodeVRRP(data []byte, p gopacket.PacketBuilder) error {
	v := &VRRP{}
	v.Src, v.Dst = ipAddrs(p)
	err := v.DecodeFromBytes(data, p)
	if errors.Is(err, ErrShort) || errors.Is(err, ErrVersion) {
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
// by interface and its flow's raw endpoints (4 or 16 bytes) rather than by
// type-asserting *layers.IPv4 / *layers.IPv6, so that this package does not
// link gopacket/layers (see package carplayers).
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
