package carplayers

import (
	"encoding/binary"
	"errors"

	"github.com/carpd/carpd/carp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// CARP is a carp.Header as a gopacket layer. Contents is the 36-byte
// advertisement; Payload is whatever follows it.
type CARP struct {
	layers.BaseLayer
	carp.Header
}

// DecodeFromBytes decodes data as carp.Header.UnmarshalBinary does, with
// the same errors, and sets Contents and Payload, which alias data, whenever
// the fields were filled (every error but carp.ErrShort and carp.ErrVersion).
func (c *CARP) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	err := c.Header.UnmarshalBinary(data)
	if errors.Is(err, carp.ErrShort) {
		if df != nil {
			df.SetTruncated()
		}
		return err
	}
	if errors.Is(err, carp.ErrVersion) {
		return err
	}
	c.Contents, c.Payload = data[:carp.HeaderLen], data[carp.HeaderLen:]
	return err
}

// SerializeTo implements gopacket.SerializableLayer. As with gopacket's own
// layers, the checksum is computed only when opts.ComputeChecksums is set;
// otherwise c.Checksum is written as is (useful to build bad packets).
func (c *CARP) SerializeTo(b gopacket.SerializeBuffer, opts gopacket.SerializeOptions) error {
	p, err := b.PrependBytes(carp.HeaderLen)
	if err != nil {
		return err
	}
	sum := c.Checksum
	enc, err := c.AppendBinary(p[:0])
	if err != nil {
		return err
	}
	copy(p, enc) // a no-op unless p had too little capacity to append in place
	if !opts.ComputeChecksums {
		c.Checksum = sum
		binary.BigEndian.PutUint16(p[6:], sum)
	}
	return nil
}

// LayerType returns LayerTypeCARP.
func (c *CARP) LayerType() gopacket.LayerType { return LayerTypeCARP }

// CanDecode returns LayerTypeCARP.
func (c *CARP) CanDecode() gopacket.LayerClass { return LayerTypeCARP }

// NextLayerType returns gopacket.LayerTypePayload: a CARP advertisement
// carries nothing after its 36 bytes, so anything there is opaque.
func (c *CARP) NextLayerType() gopacket.LayerType { return gopacket.LayerTypePayload }
