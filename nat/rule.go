package nat

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// ErrInvalidRule is wrapped by the errors Apply returns for rules it refuses
// before touching the kernel.
var ErrInvalidRule = errors.New("invalid DNAT rule")

// tagPrefix starts the comment every rule carries, so that carpd's rules can
// be recognised in "nft list ruleset" and by other tools.
const tagPrefix = "carpd:"

// Rule is one destination NAT mapping: TCP connections to VIP:Port are sent
// to To. It is installed as
//
//	ip daddr VIP tcp dport Port dnat to To comment "carpd:VIP:Port"
//
// (ip6 and bracketed addresses for IPv6). VIP and To must be of the same
// family; IPv4-mapped IPv6 addresses count as IPv4.
type Rule struct {
	VIP  netip.Addr
	Port uint16
	To   netip.AddrPort
}

// String returns the rule as "VIP:Port->To".
func (r Rule) String() string {
	return netip.AddrPortFrom(r.VIP, r.Port).String() + "->" + r.To.String()
}

// tag is the rule's comment: "carpd:198.18.0.100:1883" or
// "carpd:[2001:2::100]:1883".
func (r Rule) tag() string {
	return tagPrefix + netip.AddrPortFrom(r.VIP, r.Port).String()
}

// unmap returns r with IPv4-mapped IPv6 addresses turned into IPv4 ones, so
// that "::ffff:198.18.0.100" lands in the ip table with a 4-byte address.
func (r Rule) unmap() Rule {
	r.VIP = r.VIP.Unmap()
	r.To = netip.AddrPortFrom(r.To.Addr().Unmap(), r.To.Port())
	return r
}

// check reports what is wrong with an unmapped rule, if anything.
func (r Rule) check() error {
	switch {
	case !r.VIP.IsValid():
		return errors.New("no virtual address")
	case !r.To.Addr().IsValid():
		return errors.New("no target address")
	case r.VIP.Zone() != "" || r.To.Addr().Zone() != "":
		return errors.New("addresses with a zone cannot be translated")
	case r.VIP.Is4() != r.To.Addr().Is4():
		return fmt.Errorf("virtual address %s and target %s are of different families", r.VIP, r.To.Addr())
	case r.Port == 0:
		return errors.New("port 0")
	case r.To.Port() == 0:
		return errors.New("target port 0")
	}
	return nil
}

// split checks rules and sorts them into IPv4 and IPv6 rules, each ordered
// by VIP and port so that the same set always yields the same ruleset. Two
// rules for the same VIP and port are refused: only the first would ever
// match.
func split(rules []Rule) (v4, v6 []Rule, err error) {
	seen := make(map[netip.AddrPort]bool, len(rules))
	for i, r := range rules {
		r = r.unmap()
		if err := r.check(); err != nil {
			return nil, nil, fmt.Errorf("%w: rule %d (%v): %v", ErrInvalidRule, i, r, err)
		}
		key := netip.AddrPortFrom(r.VIP, r.Port)
		if seen[key] {
			return nil, nil, fmt.Errorf("%w: rule %d: %s mapped twice", ErrInvalidRule, i, key)
		}
		seen[key] = true
		if r.VIP.Is4() {
			v4 = append(v4, r)
		} else {
			v6 = append(v6, r)
		}
	}
	slices.SortFunc(v4, compareRules)
	slices.SortFunc(v6, compareRules)
	return v4, v6, nil
}

func compareRules(a, b Rule) int {
	if c := a.VIP.Compare(b.VIP); c != 0 {
		return c
	}
	return cmp.Compare(a.Port, b.Port)
}
