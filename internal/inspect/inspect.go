package inspect

import (
	"net/netip"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/pcapfile"
)

// Options say what to assume and what to check.
type Options struct {
	// Proto is the protocol the segment speaks; ProtoUnknown classifies
	// each packet (see carp.Classify).
	Proto carp.Proto
	// AnyVRRP takes every packet as VRRP, of the version its version
	// nibble says; Proto is then ignored.
	AnyVRRP bool
	// Pass is the password checked when CheckPass is set: the CARP HMAC
	// key or the VRRPv2 PASS. An empty password is a password.
	Pass      []byte
	CheckPass bool
	// VIPs are the addresses a CARP HMAC covers; without them every
	// address seen in the capture and every host of the source's /24 is
	// tried.
	VIPs []netip.Addr
}

// Inspector turns frames into records. It is single-threaded: the codec
// structs and HMAC contexts are reused across packets, and what one
// packet teaches (the addresses seen) serves the next.
type Inspector struct {
	hint    carp.Proto
	forceV  bool // Options.AnyVRRP
	pass    []byte
	passSet bool
	vips    []netip.Addr

	hdr   carp.Header
	vrrp  carp.VRRP
	auths map[authKey]*carp.Auth
	seen  map[netip.Addr]bool // candidate VIPs: every address seen in the capture
	n     int
}

type authKey struct {
	vhid uint8
	vip  netip.Addr
}

// New returns an Inspector that decodes as o says.
func New(o Options) *Inspector {
	in := &Inspector{hint: o.Proto, forceV: o.AnyVRRP, pass: o.Pass, passSet: o.CheckPass,
		auths: map[authKey]*carp.Auth{}, seen: map[netip.Addr]bool{}}
	for _, a := range o.VIPs {
		in.vips = append(in.vips, a.Unmap())
	}
	return in
}

// Packets returns how many protocol 112 packets Frame has decoded.
func (in *Inspector) Packets() int { return in.n }

// Frame decodes one frame of link type lt captured at ts. ok is false
// when it carries no protocol 112 packet; a gratuitous ARP is still
// remembered, as it may name a VIP that a later CARP HMAC covers.
func (in *Inspector) Frame(ts time.Time, lt pcapfile.LinkType, data []byte) (r Record, ok bool) {
	p, ok := in.ip(lt, data)
	if !ok {
		in.learnARP(lt, data)
		return r, false
	}
	in.n++
	in.seen[p.src] = true
	r = in.decode(p)
	r.Time = ts.UTC().Format(timeFormat)
	return r, true
}
