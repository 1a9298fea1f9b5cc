package carp

// Classify tells which protocol an IP protocol 112 payload speaks when
// nothing else says so. CARP and VRRPv2 share protocol number, group and
// first byte (0x21), so the decision rests on lengths and checksums:
//
//   - An empty payload: ErrShort.
//   - Version nibble (high nibble of byte 0) neither 2 nor 3: ErrVersion.
//   - Fewer than 8 bytes, the shortest VRRP advertisement: ErrShort.
//   - Version nibble 3: ProtoVRRP3 (CARP has no version 3).
//   - Version 2 is CARP if the payload is exactly 36 bytes, byte 3 (authlen)
//     is 7 and the checksum over the 36 bytes is valid.
//   - Version 2 is VRRPv2 if the payload is exactly 8 + 4·count + 8 bytes,
//     count being byte 3, and the checksum over the whole payload is valid.
//   - Exactly one of the two matches: that protocol. Both or neither:
//     ErrAmbiguous.
//
// Both cannot match: the two checksums are the same sum over the same
// bytes, and a 36-byte VRRPv2 advertisement has count 5 where CARP has
// authlen 7. Neither matches for a damaged packet, for CARP with a
// non-standard authlen (which receivers accept) and for payloads with
// trailing bytes; a receiver configured for one protocol should decode with
// that decoder instead of asking Classify.
func Classify(data []byte) (Proto, error) {
	if len(data) == 0 {
		return ProtoUnknown, ErrShort
	}
	switch data[0] >> 4 {
	case 2:
	case 3:
		if len(data) < vrrpFixedLen {
			return ProtoUnknown, ErrShort
		}
		return ProtoVRRP3, nil
	default:
		return ProtoUnknown, ErrVersion
	}
	if len(data) < vrrpFixedLen {
		return ProtoUnknown, ErrShort
	}
	ok := checksumOK(data)
	carp := ok && carpShape(data)
	vrrp := ok && vrrp2Shape(data)
	switch {
	case carp && !vrrp:
		return ProtoCARP, nil
	case vrrp && !carp:
		return ProtoVRRP2, nil
	}
	return ProtoUnknown, ErrAmbiguous
}

// Shape returns the protocol whose shape a version-2 payload has, checksums
// aside: ProtoCARP for 36 bytes with authlen 7, ProtoVRRP2 for
// 8 + 4·count + 8 bytes, ProtoUnknown for anything else, including payloads
// shorter than 8 bytes or of another version. The two shapes cannot overlap
// (see Classify). Tools use it to show the fields of a packet that Classify
// finds ambiguous because its checksum is bad.
func Shape(data []byte) Proto {
	switch {
	case len(data) < vrrpFixedLen || data[0]>>4 != 2:
		return ProtoUnknown
	case carpShape(data):
		return ProtoCARP
	case vrrp2Shape(data):
		return ProtoVRRP2
	}
	return ProtoUnknown
}

// carpShape reports whether a version-2 payload has the length and authlen
// of a CARP advertisement.
func carpShape(data []byte) bool {
	return len(data) == HeaderLen && data[3] == carpAuthLen
}

// vrrp2Shape reports whether a version-2 payload's length fits its VRRPv2
// address count.
func vrrp2Shape(data []byte) bool {
	return len(data) == vrrpFixedLen+4*int(data[3])+vrrpAuthLen
}
