package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/carpd/carpd/carp"
)

// addresses checks the VIPs, srcip, peers and mcast of one router against
// each other: one address family per router (one raw socket per family in
// the daemon), and the family the protocol allows.
func (p *parser) addresses(s *spec, r *Router) {
	if len(r.VIPs) == 0 {
		if !s.present("vips") {
			p.errorf(s.line, "%s: at least one virtual address is required", s.label("vips"))
		}
		return
	}
	v4 := r.VIPs[0].Addr().Is4()
	fam := map[bool]string{true: "IPv4", false: "IPv6"}
	if r.Proto == carp.ProtoVRRP2 && !v4 {
		p.errorf(s.vipLines[0], "%s: %s is IPv6; vrrp2 carries IPv4 only (use vrrp3)", s.label("vips"), r.VIPs[0].Addr())
	}
	seen := map[netip.Addr]int{}
	for i, v := range r.VIPs {
		if v.Addr().Is4() != v4 {
			p.errorf(s.vipLines[i], "%s: %s is %s but %s is %s: use one router per address family",
				s.label("vips"), v.Addr(), fam[!v4], r.VIPs[0].Addr(), fam[v4])
		}
		if prev, dup := seen[v.Addr()]; dup {
			p.errorf(s.vipLines[i], "%s: %s is listed twice (first at line %d)", s.label("vips"), v.Addr(), prev)
		}
		seen[v.Addr()] = s.vipLines[i]
	}
	p.srcip(s, r, v4, fam)
	p.peers(s, r, v4, fam, seen)
	p.group(s, r, v4, fam)
	p.acceptRules(s, r, v4, fam)
}

// acceptFrom reads one accept_from entry: an address or a prefix.
func (p *parser) acceptFrom(s *spec, t string, line int) {
	var pf netip.Prefix
	var err error
	if strings.Contains(t, "/") {
		pf, err = netip.ParsePrefix(t)
		if err == nil && pf != pf.Masked() {
			err = fmt.Errorf("%s has host bits set (the prefix is %s)", t, pf.Masked())
		}
	} else {
		var a netip.Addr
		if a, err = parseAddr(t); err == nil {
			pf = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil {
		p.errorf(line, "%s: %v", s.label("accept_from"), err)
		s.failed["accept_from"] = true
		return
	}
	s.r.AcceptFrom = append(s.r.AcceptFrom, pf)
	s.acceptLines = append(s.acceptLines, line)
}

// acceptRules checks accept_from and unicast_ttl_check against the
// router's family and peers.
func (p *parser) acceptRules(s *spec, r *Router, v4 bool, fam map[bool]string) {
	seen := map[netip.Prefix]int{}
	for i, pf := range r.AcceptFrom {
		l := s.acceptLines[i]
		if prev, dup := seen[pf]; dup {
			p.errorf(l, "%s: %s is listed twice (first at line %d)", s.label("accept_from"), pf, prev)
		}
		seen[pf] = l
		if pf.Addr().Is4() != v4 {
			p.errorf(l, "%s: %s is %s but the VIPs are %s", s.label("accept_from"), pf, fam[!v4], fam[v4])
		}
	}
	if l, ok := s.given("unicast_ttl_check"); ok && len(r.Peers) == 0 {
		p.errorf(l, "%s applies to unicast peers only; multicast adverts always need TTL 255",
			s.label("unicast_ttl_check"))
	}
	for i, a := range r.Peers {
		if len(r.AcceptFrom) > 0 && !slices.ContainsFunc(r.AcceptFrom, func(pf netip.Prefix) bool { return pf.Contains(a) }) {
			p.errorf(s.peerLines[i], "%s: %s is not in %s, so its adverts would all be dropped",
				s.label("peers"), a, s.label("accept_from"))
		}
	}
}

func (p *parser) srcip(s *spec, r *Router, v4 bool, fam map[bool]string) {
	a := r.SrcIP
	if !a.IsValid() {
		return
	}
	l := s.lineOf("srcip")
	switch {
	case a.Is4() != v4:
		p.errorf(l, "%s: %s is %s but the VIPs are %s", s.label("srcip"), a, fam[!v4], fam[v4])
	case unicastAddr(a) != nil:
		p.errorf(l, "%s: %s %v", s.label("srcip"), a, unicastAddr(a))
	case !v4 && !a.IsLinkLocalUnicast():
		// RFC 5798 §5.1.2.1: IPv6 advertisements come from the link-local address.
		p.errorf(l, "%s: %s is not link-local; IPv6 advertisements are sent from fe80::/10 (RFC 5798 §5.1.2.1)", s.label("srcip"), a)
	}
	for i, v := range r.VIPs {
		if v.Addr() == a {
			p.errorf(s.vipLines[i], "%s: %s is also the srcip; the source must be an address this host keeps", s.label("vips"), a)
		}
	}
}

func (p *parser) peers(s *spec, r *Router, v4 bool, fam map[bool]string, vips map[netip.Addr]int) {
	seen := map[netip.Addr]int{}
	for i, a := range r.Peers {
		l := s.peerLines[i]
		if prev, dup := seen[a]; dup {
			p.errorf(l, "%s: %s is listed twice (first at line %d)", s.label("peers"), a, prev)
		}
		seen[a] = l
		switch {
		case a.Is4() != v4:
			p.errorf(l, "%s: %s is %s but the VIPs are %s", s.label("peers"), a, fam[!v4], fam[v4])
		case unicastAddr(a) != nil:
			p.errorf(l, "%s: %s %v", s.label("peers"), a, unicastAddr(a))
		case a == r.SrcIP:
			p.errorf(l, "%s: %s is our own srcip", s.label("peers"), a)
		}
		if _, ok := vips[a]; ok {
			p.errorf(l, "%s: %s is one of the VIPs", s.label("peers"), a)
		}
	}
}

func (p *parser) group(s *spec, r *Router, v4 bool, fam map[bool]string) {
	if l, ok := s.given("mcast"); ok {
		g := r.Group
		switch {
		case len(r.Peers) > 0:
			p.errorf(l, "%s and %s exclude each other: peers are sent unicast", s.label("mcast"), s.label("peers"))
		case !g.IsValid():
		case g.Is4() != v4:
			p.errorf(l, "%s: %s is %s but the VIPs are %s", s.label("mcast"), g, fam[!v4], fam[v4])
		case !g.IsMulticast():
			p.errorf(l, "%s: %s is not a multicast address", s.label("mcast"), g)
		}
		return
	}
	switch {
	case len(r.Peers) > 0:
		r.Group = netip.Addr{}
	case v4:
		r.Group = carp.Group(false)
	default:
		r.Group = carp.Group(true)
	}
}
