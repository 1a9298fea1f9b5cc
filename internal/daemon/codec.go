package daemon

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/carpd/carpd/carp"
)

// newCookie returns the random 64-bit value a router sends as the CARP
// counter in every advertisement. OpenBSD ip_carp.c sets sc_counter
// randomly and drops a received advert carrying it as its own looped
// back; no implementation checks counters otherwise (PROTOCOL.md §2.3).
func newCookie() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return binary.BigEndian.Uint64(b[:])
}

// encoder builds one router's advertisements. It belongs to the router
// goroutine (carp.Auth is not safe for concurrent use).
type encoder struct {
	proto    carp.Proto
	cookie   uint64
	auth     *carp.Auth // CARP
	password []byte     // VRRPv2 PASS
	addrs    []netip.Addr
	pseudo   bool // VRRPv3 over IPv4 with the pseudo-header
	buf      []byte
	vr       carp.VRRP
}

// newEncoder prepares the encoder of r with loop cookie cookie.
func newEncoder(r *Router, cookie uint64) (*encoder, error) {
	e := &encoder{proto: r.Machine.Proto, cookie: cookie, addrs: r.addrs(), pseudo: r.V3PseudoHeader,
		buf: make([]byte, 0, 512)}
	switch r.Machine.Proto {
	case carp.ProtoCARP:
		a, err := carp.NewAuth(r.Password, r.Machine.ID, e.addrs, nil)
		if err != nil {
			return nil, err
		}
		e.auth = a
	case carp.ProtoVRRP2:
		if len(r.Password) > 8 {
			return nil, fmt.Errorf("vrrp2 password of %d bytes, at most 8: %w", len(r.Password), carp.ErrKeyLength)
		}
		e.password = r.Password
	}
	return e, nil
}

// encode returns the advertisement ad from src to dst, valid until the
// next call.
func (e *encoder) encode(ad carp.Advert, src, dst netip.Addr) ([]byte, error) {
	if e.proto == carp.ProtoCARP {
		h := carp.Header{Version: 2, Type: 1, VHID: ad.ID, AdvSkew: ad.AdvSkew, AuthLen: 7,
			Demote: ad.Demote, AdvBase: ad.AdvBase, Counter: e.cookie}
		e.auth.Sign(&h)
		e.buf = h.AppendTo(e.buf[:0])
		return e.buf, nil
	}
	v := &e.vr
	*v = carp.VRRP{Version: 2, Type: 1, VRID: ad.ID, Priority: ad.Priority, Addrs: e.addrs, Src: src, Dst: dst}
	if e.proto == carp.ProtoVRRP3 {
		v.Version = 3
		v.AdvInt = uint16(ad.Interval / (10 * time.Millisecond))
	} else {
		v.AdvInt = uint16(ad.Interval / time.Second)
		if len(e.password) > 0 {
			if err := v.SetPassword(e.password); err != nil {
				return nil, err
			}
		}
	}
	b, err := v.AppendTo(e.buf[:0], e.pseudo)
	if err != nil {
		return nil, err
	}
	e.buf = b
	return b, nil
}

// decoder accepts one router's advertisements on a shared socket. It
// belongs to that socket's reader goroutine.
type decoder struct {
	proto    carp.Proto
	cookie   uint64
	auth     *carp.Auth // CARP verification; not the encoder's
	password []byte     // VRRPv2; nil = expect auth type 0
	hdr      carp.Header
	vr       carp.VRRP
}

// newDecoder prepares the decoder of r.
func newDecoder(r *Router, cookie uint64) (*decoder, error) {
	d := &decoder{proto: r.Machine.Proto, cookie: cookie}
	switch r.Machine.Proto {
	case carp.ProtoCARP:
		a, err := carp.NewAuth(r.Password, r.Machine.ID, r.addrs(), nil)
		if err != nil {
			return nil, err
		}
		d.auth = a
	case carp.ProtoVRRP2:
		d.password = r.Password
	}
	return d, nil
}

// decode checks one packet addressed to this router and returns its
// advert, or the error naming why it is dropped. Order: codec (length,
// version, checksum), loop cookie, authentication.
func (d *decoder) decode(p Packet) (carp.Advert, error) {
	if d.proto == carp.ProtoCARP {
		if err := d.hdr.DecodeFromBytes(p.Payload, nil); err != nil {
			return carp.Advert{}, err
		}
		if d.hdr.Counter == d.cookie {
			// OpenBSD carp_input: our own counter came back.
			return carp.Advert{}, carp.ErrLoop
		}
		if err := d.auth.Verify(&d.hdr); err != nil {
			return carp.Advert{}, err
		}
		return d.hdr.Advert(p.Src, p.TTL), nil
	}
	v := &d.vr
	if err := v.Decode(p.Payload, p.Src, p.Dst); err != nil {
		return carp.Advert{}, err
	}
	if v.Type != 1 {
		// RFC 5798 §5.2.2: only ADVERTISEMENT is defined.
		return carp.Advert{}, carp.ErrType
	}
	if (v.Version == 3) != (d.proto == carp.ProtoVRRP3) {
		return carp.Advert{}, carp.ErrVersion
	}
	if v.Version == 2 {
		if err := d.checkAuth(); err != nil {
			return carp.Advert{}, err
		}
	}
	return v.Advert(p.TTL), nil
}

// checkAuth applies VRRPv2 authentication as keepalived does: with a
// password the auth type must be 1 and the data match; without one the
// auth type must be 0 (keepalived logs "receive a 1 auth, expecting 0").
func (d *decoder) checkAuth() error {
	if len(d.password) > 0 {
		return d.vr.VerifyPassword(d.password)
	}
	if d.vr.AuthType != 0 {
		return carp.ErrAuth
	}
	return nil
}
