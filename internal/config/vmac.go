package config

import (
	"fmt"
	"net"
)

// VMACAddr returns the virtual router MAC of r: 00:00:5e:00:01:ID for
// IPv4, 00:00:5e:00:02:ID for IPv6 (RFC 5798 §7.3). CARP uses the IPv4
// one as well (FreeBSD ip_carp.c carp_set_state / OpenBSD ip_carp.c).
func (r *Router) VMACAddr() net.HardwareAddr {
	kind := byte(1)
	if r.vipsV6() {
		kind = 2
	}
	return net.HardwareAddr{0x00, 0x00, 0x5e, 0x00, kind, r.ID}
}

// defaultVMACIface is the name of the macvlan child when vmac_iface is
// not given: keepalived's vrrp.<VRID> for IPv4, and vrrp6.<VRID> for IPv6,
// so that an IPv4 and an IPv6 router with one id on one interface (which
// RFC 5798 §7.3 allows: distinct MACs) get distinct children. keepalived
// names an IPv6 child vrrp.<VRID> when that name is free and vrrp6.<VRID>
// when it is not (keepalived/vrrp/vrrp.c vrrp_complete_instance); a
// default that does not depend on what else exists keeps carpd's
// predictable.
func defaultVMACIface(id uint8, v6 bool) string {
	if v6 {
		return fmt.Sprintf("vrrp6.%d", id)
	}
	return fmt.Sprintf("vrrp.%d", id)
}

// vipsV6 reports whether r's VIPs are IPv6 (a router's VIPs share a
// family).
func (r *Router) vipsV6() bool { return len(r.VIPs) > 0 && !r.VIPs[0].Addr().Unmap().Is4() }

// vmacRules checks vmac and vmac_iface and fills in the default name.
func (p *parser) vmacRules(s *spec, r *Router) {
	lv, vmacSet := s.given("vmac")
	if l, ok := s.given("vmac_iface"); ok && !r.VMAC {
		p.errorf(l, "%s is the name of the vmac interface, and %s is not set", s.label("vmac_iface"), s.label("vmac"))
		return
	}
	if !r.VMAC {
		return
	}
	if !vmacSet {
		lv = s.line
	}
	if r.VIPByScripts {
		// The scripts would put the VIPs where they like, most likely on
		// the parent, whose ARP answers carpd turns off.
		p.errorf(lv, "%s and %s exclude each other: with vmac carpd must own the VIPs, on the vmac interface", s.label("vmac"), s.label("vip_by_scripts"))
	}
	if r.VMACIface == "" && !s.failed["vmac_iface"] {
		if s.present("vmac_iface") {
			p.errorf(s.lineOf("vmac_iface"), "%s: is empty", s.label("vmac_iface"))
			return
		}
		if r.ID == 0 {
			return
		}
		r.VMACIface = defaultVMACIface(r.ID, r.vipsV6())
	}
	if r.VMACIface == "" {
		return
	}
	if err := checkIface(r.VMACIface); err != nil {
		p.errorf(s.lineOf("vmac_iface"), "%s: %v", s.label("vmac_iface"), err)
	} else if r.VMACIface == r.Iface {
		p.errorf(s.lineOf("vmac_iface"), "%s: %q is the interface itself; name the macvlan child carpd creates", s.label("vmac_iface"), r.VMACIface)
	}
}

// vmacCross refuses a vmac interface name used twice, or naming an
// interface a router speaks on or tracks: carpd creates, takes down and
// deletes it.
func (p *parser) vmacCross(specs []*spec) {
	owner := map[string]*spec{}
	for _, s := range specs {
		if s.r.VMAC && s.r.VMACIface != "" {
			if prev, dup := owner[s.r.VMACIface]; dup {
				p.errorf(s.lineOf("vmac_iface"), "%s: %q is also the vmac interface of router %s at line %d; set vmac_iface",
					s.label("vmac_iface"), s.r.VMACIface, prev.r.Name, prev.line)
				continue
			}
			owner[s.r.VMACIface] = s
		}
	}
	for _, s := range specs {
		used := []string{s.r.Iface}
		for _, t := range s.r.TrackInterfaces {
			used = append(used, t.Iface)
		}
		for _, name := range used {
			if o, ok := owner[name]; ok {
				p.errorf(o.lineOf("vmac_iface"), "%s: %q is an interface router %s uses; carpd creates and deletes the vmac interface",
					o.label("vmac_iface"), name, s.r.Name)
			}
		}
	}
}

// Plans says what carpd run will create on the system for f: one line per
// router with vmac, for carpd check.
func (f *File) Plans() []string {
	var out []string
	for i := range f.Routers {
		r := &f.Routers[i]
		if !r.VMAC {
			continue
		}
		if r.vipsV6() {
			out = append(out, fmt.Sprintf("router %s: carpd run creates macvlan %s (mode vepa) on %s with MAC %s, up while MASTER and holding the VIPs and %s's link-local address, deleted on exit; it sets accept_ra=0 on %s",
				r.Name, r.VMACIface, r.Iface, r.VMACAddr(), r.Iface, r.VMACIface))
			continue
		}
		out = append(out, fmt.Sprintf("router %s: carpd run creates macvlan %s (mode vepa) on %s with MAC %s, up while MASTER and holding the VIPs, deleted on exit; it sets arp_ignore=1, arp_filter=1 and arp_announce=2 on %s (restored on exit) and arp_ignore=1, rp_filter=0, promote_secondaries=1, accept_ra=0 on %s",
			r.Name, r.VMACIface, r.Iface, r.VMACAddr(), r.Iface, r.VMACIface))
	}
	return out
}
