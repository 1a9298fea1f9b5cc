//go:build linux

package nat

// This is the only file that uses google/nftables (v0.3.0), so that an
// upgrade, for example to owner tables (docs/design.md §5.4), touches nothing else.

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// Base chain names inside carpd's tables.
const (
	chainPrerouting = "prerouting"
	chainOutput     = "output"
)

// family is one nftables address family carpd keeps a table in.
type family struct {
	name   string // as nft(8) writes it: "ip", "ip6"
	table  nftables.TableFamily
	nat    uint32 // NFPROTO_* of the nat expression
	daddr  uint32 // offset of the destination address in the network header
	addrSz uint32 // address length in bytes
}

// families returns the IPv4 and the IPv6 family, in that order.
func families() [2]family {
	return [2]family{
		{name: "ip", table: nftables.TableFamilyIPv4, nat: unix.NFPROTO_IPV4, daddr: 16, addrSz: 4},
		{name: "ip6", table: nftables.TableFamilyIPv6, nat: unix.NFPROTO_IPV6, daddr: 24, addrSz: 16},
	}
}

// hooks are carpd's two base chains: prerouting for clients on the network,
// output for clients on the node itself (docs/design.md §5.4).
func hooks() []struct {
	name string
	hook *nftables.ChainHook
} {
	return []struct {
		name string
		hook *nftables.ChainHook
	}{
		{chainPrerouting, nftables.ChainHookPrerouting},
		{chainOutput, nftables.ChainHookOutput},
	}
}

// conn opens a fresh nftables connection for one transaction. A fresh one
// each time matters with v0.3.0: a serialisation error stays stored in a Conn
// and makes every later Flush on it fail (docs/design.md §5.4).
func (t *Table) conn(more ...nftables.ConnOption) (*nftables.Conn, error) {
	opts := more
	if t.netns != 0 {
		opts = append(opts, nftables.WithNetNSFd(t.netns))
	}
	if t.testDial != nil {
		opts = append(opts, nftables.WithTestDial(t.testDial))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("opening nftables connection: %w", err)
	}
	return c, nil
}

// queueReplace appends to c's batch the commands that replace the table of
// family f with one holding rules, or only delete it when rules is empty:
//
//	add table ip carpd       # creates it if absent, so that the delete cannot fail
//	delete table ip carpd
//	add table ip carpd       # only with rules, and then:
//	add chain ip carpd prerouting { type nat hook prerouting priority dstnat; policy accept; }
//	add chain ip carpd output { type nat hook output priority -100; policy accept; }
//	add rule ip carpd prerouting ip daddr VIP tcp dport P dnat to TO comment "carpd:VIP:P"
//	add rule ip carpd output ip daddr VIP tcp dport P dnat to TO comment "carpd:VIP:P"
//
// The kernel applies the batch as one transaction, so packets see either the
// old table or the new one, never none.
func (t *Table) queueReplace(c *nftables.Conn, f family, rules []Rule) {
	tbl := &nftables.Table{Name: t.name, Family: f.table}
	c.AddTable(tbl)
	c.DelTable(tbl)
	if len(rules) == 0 {
		return
	}
	c.AddTable(tbl)
	accept := nftables.ChainPolicyAccept
	var chains []*nftables.Chain
	for _, h := range hooks() {
		chains = append(chains, c.AddChain(&nftables.Chain{
			Name:     h.name,
			Table:    tbl,
			Type:     nftables.ChainTypeNAT,
			Hooknum:  h.hook,
			Priority: nftables.ChainPriorityRef(nftables.ChainPriority(t.priority)),
			Policy:   &accept,
		}))
	}
	for _, ch := range chains {
		for _, r := range rules {
			c.AddRule(&nftables.Rule{
				Table:    tbl,
				Chain:    ch,
				Exprs:    exprs(f, r),
				UserData: userdata.AppendString(nil, userdata.TypeComment, r.tag()),
			})
		}
	}
}

// exprs builds, for f = ip,
//
//	ip daddr 198.18.0.100 tcp dport 1883 dnat to 198.18.0.1:1883
//
// in the same expressions and order as nft(8) 1.0.6, which lists them as
//
//	[ payload load 4b @ network header + 16 => reg 1 ]
//	[ cmp eq reg 1 0x640012c6 ]
//	[ meta load l4proto => reg 1 ]
//	[ cmp eq reg 1 0x00000006 ]
//	[ payload load 2b @ transport header + 2 => reg 1 ]
//	[ cmp eq reg 1 0x00005b07 ]
//	[ immediate reg 1 0x010012c6 ]
//	[ immediate reg 2 0x00005b07 ]
//	[ nat dnat ip addr_min reg 1 proto_min reg 2 flags 0x2 ]
//
// and for ip6 "ip6 daddr 2001:2::100 tcp dport 1883 dnat to [2001:2::1]:1883",
// which loads 16 bytes at offset 24 instead. Addresses are 4 or 16 bytes as
// the family requires (AsSlice on an unmapped netip.Addr), never a 16-byte
// net.IP for IPv4. Matching the VIP first means a table left behind after a
// crash can only catch traffic for the VIP, nothing else.
func exprs(f family, r Rule) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: f.daddr, Len: f.addrSz},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: r.VIP.AsSlice()},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.Port)},
		&expr.Immediate{Register: 1, Data: r.To.Addr().AsSlice()},
		&expr.Immediate{Register: 2, Data: binaryutil.BigEndian.PutUint16(r.To.Port())},
		// flags 0x2 is NF_NAT_RANGE_PROTO_SPECIFIED, as nft sets it.
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: f.nat, RegAddrMin: 1, RegProtoMin: 2, Specified: true},
	}
}

// parseRule is the inverse of exprs: it accepts exactly the expression list
// exprs builds for family f and returns the rule, or an error naming the
// first expression that differs.
func parseRule(f family, es []expr.Any) (Rule, error) {
	if len(es) != 9 {
		return Rule{}, fmt.Errorf("%d expressions, want 9", len(es))
	}
	var r Rule
	i, ok := parseMatch(f, es, &r)
	if ok {
		i, ok = parseTarget(f, es, &r)
	}
	if !ok {
		return Rule{}, fmt.Errorf("expression %d (%T) is not carpd's", i, es[i])
	}
	return r, nil
}

// parseMatch reads "ip daddr VIP tcp dport PORT" from es[0:6] into r, or
// returns the index of the first expression that is not as exprs writes it.
func parseMatch(f family, es []expr.Any, r *Rule) (int, bool) {
	payload := func(i int, base expr.PayloadBase, off, n uint32) bool {
		p, ok := es[i].(*expr.Payload)
		return ok && p.OperationType == expr.PayloadLoad && p.DestRegister == 1 &&
			p.Base == base && p.Offset == off && p.Len == n
	}
	cmpEq := func(i int) ([]byte, bool) {
		c, ok := es[i].(*expr.Cmp)
		if !ok || c.Op != expr.CmpOpEq || c.Register != 1 {
			return nil, false
		}
		return c.Data, true
	}
	if !payload(0, expr.PayloadBaseNetworkHeader, f.daddr, f.addrSz) {
		return 0, false
	}
	vip, ok := cmpEq(1)
	if r.VIP, ok = addrFrom(f, vip, ok); !ok {
		return 1, false
	}
	if m, ok := es[2].(*expr.Meta); !ok || m.Key != expr.MetaKeyL4PROTO || m.Register != 1 {
		return 2, false
	}
	if proto, ok := cmpEq(3); !ok || !slices.Equal(proto, []byte{unix.IPPROTO_TCP}) {
		return 3, false
	}
	if !payload(4, expr.PayloadBaseTransportHeader, 2, 2) {
		return 4, false
	}
	if r.Port, ok = portFrom(cmpEq(5)); !ok {
		return 5, false
	}
	return 0, true
}

// parseTarget reads "dnat to TO" from es[6:9] into r, or returns the index
// of the first expression that is not as exprs writes it.
func parseTarget(f family, es []expr.Any, r *Rule) (int, bool) {
	imm := func(i int, reg uint32) ([]byte, bool) {
		m, ok := es[i].(*expr.Immediate)
		if !ok || m.Register != reg {
			return nil, false
		}
		return m.Data, true
	}
	b, ok := imm(6, 1)
	addr, ok := addrFrom(f, b, ok)
	if !ok {
		return 6, false
	}
	port, ok := portFrom(imm(7, 2))
	if !ok {
		return 7, false
	}
	r.To = netip.AddrPortFrom(addr, port)
	// The kernel fills in the unset maximum registers with the minimum
	// ones when it dumps the rule (nft_nat_init), so both forms are ours.
	n, ok := es[8].(*expr.NAT)
	if !ok || n.Type != expr.NATTypeDestNAT || n.Family != f.nat || n.RegAddrMin != 1 ||
		(n.RegAddrMax != 0 && n.RegAddrMax != 1) || n.RegProtoMin != 2 ||
		(n.RegProtoMax != 0 && n.RegProtoMax != 2) || n.Prefix || n.Random || n.FullyRandom || n.Persistent {
		return 8, false
	}
	return 0, true
}

// addrFrom turns b, when ok, into an address of family f.
func addrFrom(f family, b []byte, ok bool) (netip.Addr, bool) {
	if !ok || uint32(len(b)) != f.addrSz {
		return netip.Addr{}, false
	}
	return netip.AddrFromSlice(b)
}

// portFrom turns b, when ok, into a port.
func portFrom(b []byte, ok bool) (uint16, bool) {
	if !ok || len(b) != 2 {
		return 0, false
	}
	return binaryutil.BigEndian.Uint16(b), true
}

// read returns the rules installed in the table of family f, from its
// prerouting chain, or none when the table does not exist. It returns an
// error wrapping ErrDrift when the table is not as queueReplace builds it:
// a chain missing or extra, on another hook or priority, a rule carpd did
// not write, or output and prerouting holding different rules.
func (t *Table) read(c *nftables.Conn, f family) ([]Rule, error) {
	tbl, err := c.ListTableOfFamily(t.name, f.table)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing table %s %s: %w", f.name, t.name, err)
	}
	all, err := c.ListChainsOfTableFamily(f.table)
	if err != nil {
		return nil, fmt.Errorf("listing chains of %s %s: %w", f.name, t.name, err)
	}
	chains := make(map[string]*nftables.Chain)
	for _, ch := range all {
		if ch.Table != nil && ch.Table.Name == t.name {
			chains[ch.Name] = ch
		}
	}
	var got [][]Rule
	for _, h := range hooks() {
		ch := chains[h.name]
		if err := t.checkChain(ch, h.hook); err != nil {
			return nil, fmt.Errorf("%w: %s %s chain %s: %v", ErrDrift, f.name, t.name, h.name, err)
		}
		delete(chains, h.name)
		rules, err := readChain(c, f, tbl, ch)
		if err != nil {
			return nil, fmt.Errorf("%s %s chain %s: %w", f.name, t.name, h.name, err)
		}
		got = append(got, rules)
	}
	if len(chains) > 0 {
		return got[0], fmt.Errorf("%w: %s %s has foreign chains %v",
			ErrDrift, f.name, t.name, slices.Sorted(maps.Keys(chains)))
	}
	if !slices.Equal(got[0], got[1]) {
		return got[0], fmt.Errorf("%w: %s %s: chain %s holds %v, chain %s holds %v",
			ErrDrift, f.name, t.name, chainPrerouting, got[0], chainOutput, got[1])
	}
	return got[0], nil
}

// checkChain reports how ch differs from the base chain queueReplace adds
// on hook.
func (t *Table) checkChain(ch *nftables.Chain, hook *nftables.ChainHook) error {
	switch {
	case ch == nil:
		return errors.New("missing")
	case ch.Type != nftables.ChainTypeNAT:
		return fmt.Errorf("type %q, want nat", ch.Type)
	case ch.Hooknum == nil || *ch.Hooknum != *hook:
		return errors.New("on another hook")
	case ch.Priority == nil || int32(*ch.Priority) != t.priority:
		return fmt.Errorf("priority %v, want %d", ch.Priority, t.priority)
	}
	return nil
}

// readChain parses every rule of ch; a rule carpd did not write is drift.
func readChain(c *nftables.Conn, f family, tbl *nftables.Table, ch *nftables.Chain) ([]Rule, error) {
	nrs, err := c.GetRules(tbl, ch)
	if err != nil {
		return nil, fmt.Errorf("listing rules: %w", err)
	}
	rules := make([]Rule, 0, len(nrs))
	for _, nr := range nrs {
		r, err := parseRule(f, nr.Exprs)
		if err == nil {
			if tag, _ := userdata.GetString(nr.UserData, userdata.TypeComment); tag != r.tag() {
				err = fmt.Errorf("comment %q, want %q", tag, r.tag())
			}
		}
		if err != nil {
			return rules, fmt.Errorf("%w: rule handle %d: %v", ErrDrift, nr.Handle, err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}
