package carp

import (
	"encoding/binary"
	"net/netip"

	"github.com/google/gopacket"
)

// HeaderLen is the size of a CARP advertisement on the wire.
const HeaderLen = 36

// CARP header constants (OpenBSD ip_carp.h: CARP_VERSION, CARP_ADVERTISEMENT,
// and the authlen every sender puts in byte 3).
const (
	carpVersion = 2
	carpAdvert  = 1
	carpAuthLen = 7 // 32-bit words of counter and MD: (8+20)/4
)

// Header is a CARP v2 advertisement as sent by OpenBSD, FreeBSD and ucarp
// (PROTOCOL §1.2). It is a gopacket DecodingLayer and SerializableLayer.
type Header struct {
	// Contents and Payload are the gopacket layer's bytes: the 36 decoded
	// bytes and whatever follows them. They are fields of our own rather
	// than an embedded layers.BaseLayer so that the daemon does not link
	// gopacket/layers (see package carplayers).
	Contents, Payload []byte

	Version, Type uint8 // high and low nibble of byte 0: 2 and 1
	VHID          uint8
	AdvSkew       uint8
	AuthLen       uint8 // always 7 on the wire; never validated
	Demote        uint8 // OpenBSD demotion counter; FreeBSD and ucarp send 0
	AdvBase       uint8 // seconds
	Checksum      uint16
	Counter       uint64
	MD            [20]byte // HMAC-SHA1, see Auth
}

// DecodeFromBytes decodes a CARP advertisement from the first HeaderLen bytes
// of data; anything after them becomes the payload. It returns ErrShort or
// ErrVersion before touching the fields; otherwise it fills every field and
// then reports ErrChecksum if the checksum over the 36 bytes is wrong, so
// tools can still show a damaged packet. Type and AuthLen are not checked:
// no receiver does (OpenBSD, FreeBSD and ucarp carp_input paths).
//
// Contents and Payload alias data, as gopacket expects.
func (h *Header) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < HeaderLen {
		if df != nil {
			df.SetTruncated()
		}
		return ErrShort
	}
	if data[0]>>4 != carpVersion {
		return ErrVersion
	}
	h.Contents, h.Payload = data[:HeaderLen], data[HeaderLen:]
	h.Version, h.Type = data[0]>>4, data[0]&0x0f
	h.VHID = data[1]
	h.AdvSkew = data[2]
	h.AuthLen = data[3]
	h.Demote = data[4]
	h.AdvBase = data[5]
	h.Checksum = binary.BigEndian.Uint16(data[6:])
	h.Counter = binary.BigEndian.Uint64(data[8:])
	copy(h.MD[:], data[16:HeaderLen])
	// PROTOCOL §1.2: the checksum covers the CARP header only, no
	// pseudo-header.
	if !checksumOK(data[:HeaderLen]) {
		return ErrChecksum
	}
	return nil
}

// AppendTo appends the 36-byte advertisement to b and returns the extended
// slice. It computes the checksum, with MD as currently set (call Auth.Sign
// first), and stores it in h.Checksum. The version and type are written as
// set; a zero Header therefore encodes version 0, which no one accepts.
func (h *Header) AppendTo(b []byte) []byte {
	n := len(b)
	b = append(b, make([]byte, HeaderLen)...)
	h.put(b[n:], true)
	return b
}

// put writes the header into p (len HeaderLen). With compute it fills in and
// stores the checksum; without, it writes h.Checksum unchanged.
func (h *Header) put(p []byte, compute bool) {
	p[0] = h.Version<<4 | h.Type&0x0f
	p[1] = h.VHID
	p[2] = h.AdvSkew
	p[3] = h.AuthLen
	p[4] = h.Demote
	p[5] = h.AdvBase
	binary.BigEndian.PutUint16(p[6:], 0)
	binary.BigEndian.PutUint64(p[8:], h.Counter)
	copy(p[16:], h.MD[:])
	if compute {
		h.Checksum = Checksum(p)
	}
	binary.BigEndian.PutUint16(p[6:], h.Checksum)
}

// SerializeTo implements gopacket.SerializableLayer. As with gopacket's own
// layers, the checksum is computed only when opts.ComputeChecksums is set;
// otherwise h.Checksum is written as is (useful to build bad packets).
func (h *Header) SerializeTo(b gopacket.SerializeBuffer, opts gopacket.SerializeOptions) error {
	p, err := b.PrependBytes(HeaderLen)
	if err != nil {
		return err
	}
	h.put(p, opts.ComputeChecksums)
	return nil
}

// LayerContents returns the 36 bytes DecodeFromBytes read (gopacket.Layer).
func (h *Header) LayerContents() []byte { return h.Contents }

// LayerPayload returns the bytes after the advertisement (gopacket.Layer).
func (h *Header) LayerPayload() []byte { return h.Payload }

// LayerType returns LayerTypeCARP.
func (h *Header) LayerType() gopacket.LayerType { return LayerTypeCARP }

// CanDecode returns LayerTypeCARP.
func (h *Header) CanDecode() gopacket.LayerClass { return LayerTypeCARP }

// NextLayerType returns gopacket.LayerTypePayload: a CARP advertisement
// carries nothing after its 36 bytes, so anything there is opaque.
func (h *Header) NextLayerType() gopacket.LayerType { return gopacket.LayerTypePayload }

// Advert returns the advertisement in protocol-neutral form. src and ttl
// come from the IP header the packet arrived with. Interval and Priority are
// VRRP fields and stay zero: CARP's timing is AdvBase and AdvSkew.
func (h *Header) Advert(src netip.Addr, ttl uint8) Advert {
	return Advert{
		Proto:   ProtoCARP,
		ID:      h.VHID,
		Src:     src,
		TTL:     ttl,
		AdvBase: h.AdvBase,
		AdvSkew: h.AdvSkew,
		Demote:  h.Demote,
	}
}
