package daemon

import (
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/link"
)

// replay is a router's state for carpd's CARP counter (carp.NextCounter,
// carp.ReplayWindow; docs/protocol.md §2.3): the last counter its encoder
// sent, shared with its decoders, which judge received counters against
// it, and the window of counters received, which only the socket's
// reader goroutine touches (a router's decoders all run there, old and new
// across a reload, so the window survives one).
type replay struct {
	node   uint8
	sent   atomic.Uint64
	window carp.ReplayWindow
}

// newReplay returns the replay state of a router whose adverts leave from
// src.
func newReplay(src netip.Addr) *replay { return &replay{node: carp.NodeByte(src)} }

// encoder builds one router's advertisements. It belongs to the router
// goroutine (carp.Auth is not safe for concurrent use).
type encoder struct {
	proto    carp.Proto
	rp       *replay
	now      func() time.Time // the counter's clock
	auth     *carp.Auth       // CARP
	password []byte           // VRRPv2 PASS
	addrs    []netip.Addr
	pseudo   bool // VRRPv3 over IPv4 with the pseudo-header
	buf      []byte
	vr       carp.VRRP

	// The VRRP advertisement in buf, when valid: a MASTER sends the
	// same bytes every interval until its priority, interval or source
	// changes, so they are reused rather than laid out and checksummed
	// again (docs/daemon.md, "Cost of an advertisement"). CARP's
	// counter and HMAC change with every advert.
	last      carp.Advert
	lastSrc   netip.Addr
	lastDst   netip.Addr
	lastValid bool
}

// newEncoder prepares the encoder of r; rp nil means a state of its own.
func newEncoder(r *config.Router, rp *replay) (*encoder, error) {
	if rp == nil {
		rp = newReplay(r.Machine.Addr)
	}
	e := &encoder{proto: r.Machine.Proto, rp: rp, now: time.Now, addrs: vipAddrs(r), pseudo: r.V3PseudoHeader,
		buf: make([]byte, 0, 512)}
	switch r.Machine.Proto {
	case carp.ProtoCARP:
		a, err := carp.NewAuth(r.Password.Bytes(), r.Machine.ID, e.addrs, nil)
		if err != nil {
			return nil, err
		}
		e.auth = a
	case carp.ProtoVRRP2:
		if len(r.Password) > 8 {
			return nil, fmt.Errorf("vrrp2 password of %d bytes, at most 8: %w", len(r.Password), carp.ErrKeyLength)
		}
		e.password = r.Password.Bytes()
	}
	return e, nil
}

// encode returns the advertisement ad from src to dst, valid until the
// next call; the caller must not modify it, as the next call may return
// the same bytes.
func (e *encoder) encode(ad carp.Advert, src, dst netip.Addr) ([]byte, error) {
	if e.proto == carp.ProtoCARP {
		c := carp.NextCounter(e.rp.sent.Load(), e.rp.node, e.now())
		e.rp.sent.Store(c)
		h := carp.Header{Version: 2, Type: 1, VHID: ad.ID, AdvSkew: ad.AdvSkew, AuthLen: 7,
			Demote: ad.Demote, AdvBase: ad.AdvBase, Counter: c}
		e.auth.Sign(&h)
		b, err := h.AppendBinary(e.buf[:0])
		if err != nil {
			return nil, err
		}
		e.buf = b
		return b, nil
	}
	if e.lastValid && ad == e.last && src == e.lastSrc && dst == e.lastDst {
		return e.buf, nil
	}
	e.lastValid = false
	v := &e.vr
	*v = carp.VRRP{Version: 2, Type: 1, VRID: ad.ID, Priority: ad.Priority, Addrs: e.addrs, Src: src, Dst: dst,
		PseudoHeader: e.pseudo}
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
	b, err := v.AppendBinary(e.buf[:0])
	if err != nil {
		return nil, err
	}
	e.buf = b
	e.last, e.lastSrc, e.lastDst, e.lastValid = ad, src, dst, true
	return b, nil
}

// decoder accepts one router's advertisements on a shared socket. It
// belongs to that socket's reader goroutine.
type decoder struct {
	proto    carp.Proto
	rp       *replay
	judge    bool           // judge counters: only a password makes them trustworthy
	accept   []netip.Prefix // accept_from; nil = any source
	peers    []netip.Addr   // unicast peers; nil = any source
	auth     *carp.Auth     // CARP verification; not the encoder's
	password []byte         // VRRPv2; nil = expect auth type 0
	hdr      carp.Header
	vr       carp.VRRP
}

// newDecoder prepares the decoder of r; rp nil means a state of its own.
func newDecoder(r *config.Router, rp *replay) (*decoder, error) {
	if rp == nil {
		rp = newReplay(r.Machine.Addr)
	}
	d := &decoder{proto: r.Machine.Proto, rp: rp, judge: len(r.Password) > 0, accept: r.AcceptFrom,
		peers: r.Peers}
	switch r.Machine.Proto {
	case carp.ProtoCARP:
		a, err := carp.NewAuth(r.Password.Bytes(), r.Machine.ID, vipAddrs(r), nil)
		if err != nil {
			return nil, err
		}
		d.auth = a
	case carp.ProtoVRRP2:
		d.password = r.Password.Bytes()
	}
	return d, nil
}

// decode checks one packet addressed to this router and returns its
// advert, or the error naming why it is dropped. Order: source (cheap, and
// says the most), codec (length, version, checksum), authentication, then
// the counter, which only an authenticated packet may move.
func (d *decoder) decode(p link.Packet) (carp.Advert, error) {
	if !d.sourceOK(p.Src) {
		return carp.Advert{}, carp.ErrSource
	}
	if d.proto == carp.ProtoCARP {
		if err := d.hdr.UnmarshalBinary(p.Payload); err != nil {
			return carp.Advert{}, err
		}
		if err := d.auth.Verify(&d.hdr); err != nil {
			return carp.Advert{}, err
		}
		if d.judge {
			if err := d.rp.window.Check(d.hdr.Counter, d.rp.sent.Load()); err != nil {
				return carp.Advert{}, err
			}
		}
		return d.hdr.Advert(p.Src, p.TTL), nil
	}
	v := &d.vr
	v.Src, v.Dst = p.Src, p.Dst
	if err := v.UnmarshalBinary(p.Payload); err != nil {
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

// sourceOK applies accept_from and, for unicast routers, the peer list
// (keepalived check_unicast_src): adverts from anywhere else are dropped.
func (d *decoder) sourceOK(src netip.Addr) bool {
	src = src.WithZone("")
	if len(d.peers) > 0 && !slices.Contains(d.peers, src) {
		return false
	}
	if len(d.accept) > 0 && !slices.ContainsFunc(d.accept, func(p netip.Prefix) bool { return p.Contains(src) }) {
		return false
	}
	return true
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
