// Package carplayers makes gopacket decode IP protocol 112 with package
// carp: gopacket.NewPacket on an Ethernet frame, IPv4 or IPv6 packet then
// yields a *carp.Header (LayerTypeCARP) or a *carp.VRRP (LayerTypeVRRP), v2
// or v3, as carp.Classify decides, instead of gopacket's own VRRPv2-only
// layer, which misreads CARP (PITFALLS §B.2). Import it for that side
// effect only:
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
// Package carp itself needs only gopacket's core; tools and tests that
// decode whole packets with gopacket import this package.
package carplayers

import (
	"github.com/carpd/carpd/carp"
	"github.com/google/gopacket/layers"
)

// init points gopacket's IPv4 and IPv6 decoders at carp for protocol 112.
// gopacket keeps its protocol decoders in the global
// layers.IPProtocolMetadata table and offers no other hook, so this one
// global side effect is the package's whole purpose; it affects only
// protocol 112, which nothing else in carpd decodes with gopacket. Both
// DecodeWith and LayerType are set because IPv4/IPv6 NextLayerType hands
// the payload to the decoder of the layer type (carp.LayerTypeProto112).
func init() {
	layers.IPProtocolMetadata[layers.IPProtocolVRRP] = layers.EnumMetadata{
		DecodeWith: carp.LayerTypeProto112,
		Name:       "CARP/VRRP",
		LayerType:  carp.LayerTypeProto112,
	}
}
