package config

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/carpd/carpd/carp"
)

// crossCheck applies the rules between routers: unique names, one owner
// per (interface, id) and per VIP. It sees routers with errors too, with
// the values that parsed, so one pass reports every error.
func (p *parser) crossCheck(specs []*spec) {
	names := map[string]*spec{}
	ids := map[slot][]*spec{}
	vips := map[netip.Addr]*spec{}
	for _, s := range specs {
		r := &s.r
		if r.Name != "" && !s.failed["name"] {
			prev, dup := names[r.Name]
			_, named := s.given("name")
			switch {
			case dup && !named && hasSlot(s) && hasSlot(prev) && sameSlot(&prev.r, r):
				// The derived name repeats the id, whose clash idCheck reports.
			case dup:
				p.errorf(s.lineOf("name"), "%s: %q is already the name of the router at line %d; set distinct names", s.label("name"), r.Name, prev.line)
			default:
				names[r.Name] = s
			}
		}
		p.idCheck(ids, s)
		for i, v := range r.VIPs {
			if prev, dup := vips[v.Addr()]; dup && prev != s {
				p.errorf(s.vipLines[i], "%s: %s is also a VIP of router %s at line %d", s.label("vips"), v.Addr(), prev.r.Name, prev.line)
			}
			vips[v.Addr()] = s
		}
	}
	p.vmacCross(specs)
}

type slot struct {
	iface string
	id    uint8
}

// idCheck refuses a second router on one interface with one id, unless
// they may coexist. A router whose interface, id or protocol did not parse
// has no slot.
func (p *parser) idCheck(ids map[slot][]*spec, s *spec) {
	r := &s.r
	if !hasSlot(s) {
		return
	}
	k := slot{r.Iface, r.ID}
	for _, prev := range ids[k] {
		if !idsCoexist(&prev.r, r) {
			p.errorf(s.lineOf(idKey(r)), "%s %d on %s is already used by router %s at line %d%s",
				s.label(idKey(r)), r.ID, r.Iface, prev.r.Name, prev.line, macClash(&prev.r, r))
		}
	}
	ids[k] = append(ids[k], s)
}

// hasSlot reports whether a router's interface, id and protocol parsed.
func hasSlot(s *spec) bool {
	r := &s.r
	return r.Iface != "" && r.ID != 0 && !s.failed["iface"] && !s.failed["proto"] && len(r.VIPs) > 0
}

// sameSlot reports whether two routers clash on their interface and id.
func sameSlot(a, b *Router) bool {
	return a.Iface == b.Iface && a.ID == b.ID && len(a.VIPs) > 0 && len(b.VIPs) > 0 && !idsCoexist(a, b)
}

// idsCoexist reports whether two routers may share an interface and id.
// VRRP for IPv4 and for IPv6 have distinct virtual MACs (00:00:5e:00:01:ID
// and 00:00:5e:00:02:ID, RFC 5798 §7.3) and sockets, as in keepalived; any
// other pair collides.
func idsCoexist(a, b *Router) bool {
	if a.Proto == carp.ProtoCARP || b.Proto == carp.ProtoCARP {
		return false
	}
	return a.VIPs[0].Addr().Is4() != b.VIPs[0].Addr().Is4()
}

func idKey(r *Router) string {
	if r.Proto == carp.ProtoCARP {
		return "vhid"
	}
	return "vrid"
}

func macClash(a, b *Router) string {
	if (a.Proto == carp.ProtoCARP) != (b.Proto == carp.ProtoCARP) {
		return ": CARP and VRRP with one id share the virtual MAC 00:00:5e:00:01:ID (RFC 5798 §7.3)"
	}
	return ""
}

// systemCheck compares the routers with the interfaces on this machine.
// A missing interface is a warning (the file may be meant for another
// host); a VIP that is already an interface address is an error, because
// releasing it would take the host's own address away. A VIP outside
// every subnet of the interface is a warning: it works for clients that
// have a route to it, but hosts on the segment send it to their gateway
// instead of asking for it with ARP or ND.
func (p *parser) systemCheck(specs []*spec, lookup func(string) ([]netip.Prefix, error)) {
	type result struct {
		addrs []netip.Prefix
		err   error
	}
	cache := map[string]result{}
	get := func(iface string) result {
		res, ok := cache[iface]
		if !ok {
			res.addrs, res.err = lookup(iface)
			cache[iface] = res
		}
		return res
	}
	for _, s := range specs {
		r := &s.r
		res := get(r.Iface)
		if res.err != nil {
			p.warnf("router %s: interface %s: %v; carpd run will refuse to start without it", r.Name, r.Iface, res.err)
		} else {
			own := func(a netip.Addr) bool {
				return slices.ContainsFunc(res.addrs, func(pf netip.Prefix) bool { return pf.Addr() == a })
			}
			for i, v := range r.VIPs {
				if own(v.Addr()) {
					p.errorf(s.vipLines[i], "%s: %s is an address of %s itself; a VIP must be an address no host keeps", s.label("vips"), v.Addr(), r.Iface)
				} else if w := outsideSubnets(v.Addr(), r.Iface, res.addrs); w != "" {
					p.warnf("%s: %s: %s", p.where(s.vipLines[i], r.Name), s.label("vips"), w)
				}
			}
			if r.SrcIP.IsValid() && !own(r.SrcIP) {
				p.warnf("router %s: srcip %s is not an address of %s", r.Name, r.SrcIP, r.Iface)
			}
		}
		for _, t := range r.TrackInterfaces {
			if err := get(t.Iface).err; err != nil {
				p.warnf("router %s: track_interface %s: %v", r.Name, t.Iface, err)
			}
		}
	}
}

// outsideSubnets says why a VIP in none of the interface's subnets of its
// family is unreachable from the segment, or "" when it is in one. Link-
// local subnets are left out for a global VIP: nothing routes to them.
func outsideSubnets(vip netip.Addr, iface string, addrs []netip.Prefix) string {
	var subnets []string
	for _, pf := range addrs {
		if pf.Addr().Is4() != vip.Is4() || pf.Addr().IsLinkLocalUnicast() != vip.IsLinkLocalUnicast() {
			continue
		}
		if pf.Contains(vip) {
			return ""
		}
		subnets = append(subnets, pf.Masked().String())
	}
	fam := map[bool]string{true: "IPv4", false: "IPv6"}[vip.Is4()]
	if len(subnets) == 0 {
		return fmt.Sprintf("%s: %s has no %s subnet: clients on that segment will not reach it without a route", vip, iface, fam)
	}
	return fmt.Sprintf("%s is in none of %s's subnets (%s): clients on that segment will not reach it without a route",
		vip, iface, strings.Join(slices.Compact(subnets), ", "))
}
func sortErrors(es Errors) {
	slices.SortStableFunc(es, func(a, b Error) int { return cmp.Compare(a.Line, b.Line) })
}
