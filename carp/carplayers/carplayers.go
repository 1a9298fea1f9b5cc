// Package carplayers is the gopacket glue for package carp: CARP and VRRP
// wrap carp.Header and carp.VRRP as gopacket DecodingLayers and
// SerializableLayers, and importing the package makes gopacket.NewPacket on
// an Ethernet frame, IPv4 or IPv6 packet yield a *CARP (LayerTypeCARP) or a
// *VRRP (LayerTypeVRRP), v2 or v3, for IP protocol 112, as carp.Classify
// decides, instead of gopacket's own VRRPv2-only layer, which reads a CARP
// advertisement as a VRRPv2 one with a bad length (both are protocol 112
// with first byte 0x21; docs/protocol.md §1). Programs that only need that
// side effect import it blank:
//
//	import _ "github.com/carpd/carpd/carp/carplayers"
//
// It is a package of its own, not part of carp, because hooking into
// gopacket's protocol table needs github.com/google/gopacket/layers, and
// the daemon must not link that package: its init fills
// EthernetTypeMetadata and PPPTypeMetadata ([65536]EnumMetadata, 2.6 MB
// each) and four 512 KB tables, 6.7 MiB of anonymous memory written at
// start-up in every program that links it. That was a third of carpd's
// RSS: 22.0 MiB with it against 14.0 MiB without, for a 15 MiB target.
// Package carp imports no gopacket at all; tools and tests that decode
// whole packets with gopacket import this package.
package carplayers

import "github.com/google/gopacket/layers"

// init points gopacket's IPv4 and IPv6 decoders at carp for protocol 112.
// gopacket keeps its protocol decoders in the global
// layers.IPProtocolMetadata table and offers no other hook, so this one
// global side effect is the package's whole purpose; it affects only
// protocol 112, which nothing else in carpd decodes with gopacket. Both
// DecodeWith and LayerType are set because IPv4/IPv6 NextLayerType hands
// the payload to the decoder of the layer type (LayerTypeProto112).
func init() {
	layers.IPProtocolMetadata[layers.IPProtocolVRRP] = layers.EnumMetadata{
		DecodeWith: LayerTypeProto112,
		Name:       "CARP/VRRP",
		LayerType:  LayerTypeProto112,
	}
}
