package inspect

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/carpd/carpd/carp"
)

// decode turns one protocol-112 payload into a record.
func (in *Inspector) decode(p ipPacket) Record {
	r := Record{Src: p.src.String(), Dst: p.dst.String(), TTL: p.ttl, Auth: "none"}
	proto := in.hint
	if in.forceV || proto == carp.ProtoUnknown {
		var err error
		proto, err = classify(p.payload, in.forceV)
		if err != nil {
			r.Proto = "unknown"
			r.Error = err.Error()
			return r
		}
	}
	r.Proto = proto.String()
	if proto == carp.ProtoCARP {
		in.decodeCARP(p, &r)
	} else {
		in.decodeVRRP(p, proto, &r)
	}
	return r
}

// classify picks the protocol of a packet the user gave no hint for. With
// --proto vrrp only the version nibble decides.
func classify(b []byte, vrrpOnly bool) (carp.Proto, error) {
	if !vrrpOnly {
		return carp.Classify(b)
	}
	if len(b) == 0 {
		return carp.ProtoUnknown, carp.ErrShort
	}
	switch b[0] >> 4 {
	case 2:
		return carp.ProtoVRRP2, nil
	case 3:
		return carp.ProtoVRRP3, nil
	}
	return carp.ProtoUnknown, carp.ErrVersion
}

func (in *Inspector) decodeCARP(p ipPacket, r *Record) {
	h := &in.hdr
	err := h.UnmarshalBinary(p.payload)
	if err != nil && !errors.Is(err, carp.ErrChecksum) {
		r.Error = err.Error()
		return
	}
	r.ChecksumOK = err == nil
	r.ID = h.VHID
	r.Version, r.Type = ptr(h.Version), ptr(h.Type)
	r.AdvBase, r.AdvSkew, r.AuthLen, r.Demote = ptr(h.AdvBase), ptr(h.AdvSkew), ptr(h.AuthLen), ptr(h.Demote)
	r.Counter = counter(h.Counter)
	if !in.passSet {
		return
	}
	if vips, ok := in.carpHMAC(h, p.src); ok {
		r.Auth = "ok"
		for _, v := range vips {
			r.VIPs = append(r.VIPs, v.String())
		}
	} else {
		r.Auth = "bad"
	}
}

// carpHMAC checks a CARP HMAC. The key alone is not enough: the virtual
// addresses are hashed too and never sent. With --vip those are used;
// otherwise every address seen in the capture and every host of the
// source's /24 is tried as a single VIP (ucarp has exactly one), which
// costs at most a few hundred HMACs per packet and names the VIP on a match.
func (in *Inspector) carpHMAC(h *carp.Header, src netip.Addr) ([]netip.Addr, bool) {
	if len(in.vips) > 0 {
		a, err := in.auth(h.VHID, in.vips)
		return in.vips, err == nil && a.Verify(h) == nil
	}
	try := func(vip netip.Addr) bool {
		a, err := in.auth(h.VHID, []netip.Addr{vip})
		return err == nil && a.Verify(h) == nil
	}
	for vip := range in.seen {
		if try(vip) {
			return []netip.Addr{vip}, true
		}
	}
	if src.Is4() {
		b := src.As4()
		for i := 1; i < 255; i++ {
			b[3] = byte(i)
			if vip := netip.AddrFrom4(b); !in.seen[vip] && try(vip) {
				in.seen[vip] = true
				return []netip.Addr{vip}, true
			}
		}
	}
	return nil, false
}

// auth caches one HMAC context per vhid and address set; the key is
// expanded once, not per packet.
func (in *Inspector) auth(vhid uint8, vips []netip.Addr) (*carp.Auth, error) {
	k := authKey{vhid: vhid}
	if len(vips) == 1 {
		k.vip = vips[0]
	}
	if a := in.auths[k]; a != nil {
		return a, nil
	}
	a, err := carp.NewAuth(in.pass, vhid, vips, nil)
	if err != nil {
		return nil, err
	}
	in.auths[k] = a
	return a, nil
}

func (in *Inspector) decodeVRRP(p ipPacket, proto carp.Proto, r *Record) {
	v := &in.vrrp
	v.Src, v.Dst = p.src, p.dst
	err := v.UnmarshalBinary(p.payload)
	if err != nil && !errors.Is(err, carp.ErrChecksum) {
		r.Error = err.Error()
		return
	}
	if (proto == carp.ProtoVRRP3) != (v.Version == 3) {
		r.Error = fmt.Sprintf("version %d, expected %s", v.Version, proto)
	}
	r.Proto = fmt.Sprintf("vrrp%d", v.Version)
	r.ChecksumOK = err == nil
	r.ID = v.VRID
	r.Priority = ptr(v.Priority)
	cs := v.AdvInt
	if v.Version == 2 {
		cs *= 100
	} else if p.src.Is4() {
		r.PseudoHeader = ptr(v.PseudoHeader)
	}
	r.IntervalCS = ptr(cs)
	for _, a := range v.Addrs {
		r.Addrs = append(r.Addrs, a.String())
	}
	if v.Version == 2 {
		r.AuthType = ptr(v.AuthType)
		if in.passSet && v.AuthType == 1 {
			r.Auth = "bad"
			if v.VerifyPassword(in.pass) == nil {
				r.Auth = "ok"
			}
		}
	}
}
