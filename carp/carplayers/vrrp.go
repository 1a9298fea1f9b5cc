package carplayers

import (
	"encoding/binary"
	"errors"

	"github.com/carpd/carpd/carp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// VRRP is a carp.VRRP, v2 or v3, as a gopacket layer. Contents is the whole
// advertisement, which is the whole IP payload; Payload is empty.
type VRRP struct {
	layers.BaseLayer
	carp.VRRP
}

// DecodeFromBytes decodes data as carp.VRRP.UnmarshalBinary does, with the
// same errors, using v.Src and v.Dst: set them before the call or the v3
// checksum is reported unchecked (the decoder that gopacket.NewPacket uses
// takes them from the enclosing IP layer). It sets Contents, which aliases
// data, whenever the fields were filled (every error but carp.ErrShort and
// carp.ErrVersion).
func (v *VRRP) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	err := v.VRRP.UnmarshalBinary(data)
	if errors.Is(err, carp.ErrShort) {
		if df != nil {
			df.SetTruncated()
		}
		return err
	}
	if errors.Is(err, carp.ErrVersion) {
		return err
	}
	v.Contents, v.Payload = data, nil
	return err
}

// SerializeTo implements gopacket.SerializableLayer. opts.FixLengths sets
// CountAddrs from Addrs; opts.ComputeChecksums computes the checksum, with
// the pseudo-header for v3 over IPv4 if v.PseudoHeader is set; without it,
// v.Checksum is written as is.
func (v *VRRP) SerializeTo(b gopacket.SerializeBuffer, opts gopacket.SerializeOptions) error {
	count := v.CountAddrs
	var (
		enc []byte
		err error
	)
	switch {
	case opts.ComputeChecksums:
		enc, err = v.AppendBinary(nil)
	case opts.FixLengths:
		v.CountAddrs = uint8(len(v.Addrs))
		if enc, err = v.AppendRaw(nil); err != nil {
			v.CountAddrs = count
		}
	default:
		enc, err = v.AppendRaw(nil)
	}
	if err != nil {
		return err
	}
	if opts.ComputeChecksums && !opts.FixLengths {
		// AppendBinary wrote len(Addrs) as the count and summed it: put
		// the caller's count back and update the checksum for the one
		// changed 16-bit word (priority, count), RFC 1624 eqn. 3.
		old := binary.BigEndian.Uint16(enc[2:])
		enc[3] = count
		v.CountAddrs = count
		v.Checksum = ^onesAdd(onesAdd(^v.Checksum, ^old), binary.BigEndian.Uint16(enc[2:]))
		binary.BigEndian.PutUint16(enc[6:], v.Checksum)
	}
	p, err := b.PrependBytes(len(enc))
	if err != nil {
		return err
	}
	copy(p, enc)
	return nil
}

// onesAdd is 16-bit one's-complement addition (end-around carry).
func onesAdd(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s&0xffff + s>>16)
}

// LayerType returns LayerTypeVRRP.
func (v *VRRP) LayerType() gopacket.LayerType { return LayerTypeVRRP }

// CanDecode returns LayerTypeVRRP.
func (v *VRRP) CanDecode() gopacket.LayerClass { return LayerTypeVRRP }

// NextLayerType returns gopacket.LayerTypeZero: an advertisement is the
// whole IP payload.
func (v *VRRP) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }
