//go:build linux

package nat

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"
	"golang.org/x/sys/unix"
)

// Goldens. Table and rule messages are byte for byte what nft(8) 1.0.6
// sends for the commands in the comments (captured with "nft --debug=mnl -f"
// in a scratch namespace). Chain messages carry nft's attributes in
// google/nftables' order (hook, policy, type; nft sends type, policy, hook);
// the kernel reads attributes by type, not position.
const (
	// nft add table ip carpd
	goldenTable4 = "02000000 0a000100 63617270 64000000 08000200 00000000"
	// nft add table ip6 carpd
	goldenTable6 = "0a000000 0a000100 63617270 64000000 08000200 00000000"
	// nft delete table ip carpd: nft omits the flags attribute, google/nftables
	// sends it as 0, so the delete carries the same bytes as the add.
	goldenDelTable4 = goldenTable4
	goldenDelTable6 = goldenTable6

	// nft add chain ip carpd prerouting { type nat hook prerouting priority dstnat; policy accept; }
	goldenPrerouting4 = "02000000" +
		" 0a000100 63617270 64000000" + // NFTA_CHAIN_TABLE "carpd"
		" 0f000300 70726572 6f757469 6e670000" + // NFTA_CHAIN_NAME "prerouting"
		" 14000480 08000100 00000000 08000200 ffffff9c" + // NFTA_CHAIN_HOOK {NF_INET_PRE_ROUTING, -100}
		" 08000500 00000001" + // NFTA_CHAIN_POLICY NF_ACCEPT
		" 08000700 6e617400" // NFTA_CHAIN_TYPE "nat"
	// nft add chain ip carpd output { type nat hook output priority -100; policy accept; }
	goldenOutput4 = "02000000" +
		" 0a000100 63617270 64000000" + // NFTA_CHAIN_TABLE "carpd"
		" 0b000300 6f757470 75740000" + // NFTA_CHAIN_NAME "output"
		" 14000480 08000100 00000003 08000200 ffffff9c" + // NFTA_CHAIN_HOOK {NF_INET_LOCAL_OUT, -100}
		" 08000500 00000001" + // NFTA_CHAIN_POLICY NF_ACCEPT
		" 08000700 6e617400" // NFTA_CHAIN_TYPE "nat"

	// nft add rule ip carpd prerouting ip daddr 198.18.0.100 tcp dport 1883 dnat to 198.18.0.1:1883 comment "carpd:198.18.0.100:1883"
	goldenRulePre4 = "020000000a00010063617270640000000f000200707265726f7574696e670000a4010480340001800c0001007061796c6f6164002400028008000100000000010800020000000001080003000000001008000400000000042c00018008000100636d700020000280080001000000000108000200000000000c00038008000100c612006424000180090001006d6574610000000014000280080002000000001008000100000000012c00018008000100636d700020000280080001000000000108000200000000000c0003800500010006000000340001800c0001007061796c6f6164002400028008000100000000010800020000000002080003000000000208000400000000022c00018008000100636d700020000280080001000000000108000200000000000c00038006000100075b00002c0001800e000100696d6d6564696174650000001800028008000100000000010c00028008000100c61200012c0001800e000100696d6d6564696174650000001800028008000100000000020c00028006000100075b000038000180080001006e6174002c000280080001000000000108000200000000020800030000000001080005000000000208000700000000021e000700001863617270643a3139382e31382e302e3130303a31383833000000"
	// nft add rule ip carpd output ip daddr 198.18.0.100 tcp dport 1883 dnat to 198.18.0.1:1883 comment "carpd:198.18.0.100:1883"
	goldenRuleOut4 = "020000000a00010063617270640000000b0002006f75747075740000a4010480340001800c0001007061796c6f6164002400028008000100000000010800020000000001080003000000001008000400000000042c00018008000100636d700020000280080001000000000108000200000000000c00038008000100c612006424000180090001006d6574610000000014000280080002000000001008000100000000012c00018008000100636d700020000280080001000000000108000200000000000c0003800500010006000000340001800c0001007061796c6f6164002400028008000100000000010800020000000002080003000000000208000400000000022c00018008000100636d700020000280080001000000000108000200000000000c00038006000100075b00002c0001800e000100696d6d6564696174650000001800028008000100000000010c00028008000100c61200012c0001800e000100696d6d6564696174650000001800028008000100000000020c00028006000100075b000038000180080001006e6174002c000280080001000000000108000200000000020800030000000001080005000000000208000700000000021e000700001863617270643a3139382e31382e302e3130303a31383833000000"
	// nft add rule ip6 carpd prerouting ip6 daddr 2001:2::100 tcp dport 1883 dnat to [2001:2::1]:1883 comment "carpd:[2001:2::100]:1883"
	goldenRulePre6 = "0a0000000a00010063617270640000000f000200707265726f7574696e670000bc010480340001800c0001007061796c6f6164002400028008000100000000010800020000000001080003000000001808000400000000103800018008000100636d70002c0002800800010000000001080002000000000018000380140001002001000200000000000000000000010024000180090001006d6574610000000014000280080002000000001008000100000000012c00018008000100636d700020000280080001000000000108000200000000000c0003800500010006000000340001800c0001007061796c6f6164002400028008000100000000010800020000000002080003000000000208000400000000022c00018008000100636d700020000280080001000000000108000200000000000c00038006000100075b0000380001800e000100696d6d6564696174650000002400028008000100000000011800028014000100200100020000000000000000000000012c0001800e000100696d6d6564696174650000001800028008000100000000020c00028006000100075b000038000180080001006e6174002c0002800800010000000001080002000000000a0800030000000001080005000000000208000700000000021f000700001963617270643a5b323030313a323a3a3130305d3a313838330000"
)

// recorder is a google/nftables test dial that keeps every message sent and
// answers like the kernel's echo.
type recorder struct{ msgs []netlink.Message }

func (r *recorder) dial(req []netlink.Message) ([]netlink.Message, error) {
	r.msgs = append(r.msgs, req...)
	return req, nil
}

// sent is one message as the goldens describe it.
type sent struct {
	What string // message type and header flags
	Data string // hex of the payload after the netlink header
}

// describe names a message's nfnetlink type and its header flags.
func describe(m netlink.Message) string {
	names := map[netlink.HeaderType]string{
		unix.NFNL_MSG_BATCH_BEGIN: "batch begin",
		unix.NFNL_MSG_BATCH_END:   "batch end",
	}
	for typ, name := range map[int]string{
		unix.NFT_MSG_NEWTABLE: "new table", unix.NFT_MSG_DELTABLE: "del table",
		unix.NFT_MSG_NEWCHAIN: "new chain", unix.NFT_MSG_NEWRULE: "new rule",
	} {
		names[netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8|typ)] = name
	}
	name, ok := names[m.Header.Type]
	if !ok {
		name = fmt.Sprintf("type %#x", m.Header.Type)
	}
	return fmt.Sprintf("%s flags %#x", name, uint16(m.Header.Flags))
}

func sentOf(msgs []netlink.Message) []sent {
	var out []sent
	for _, m := range msgs {
		out = append(out, sent{What: describe(m), Data: hex.EncodeToString(m.Data)})
	}
	return out
}

// Header flags: NLM_F_REQUEST 0x1, NLM_F_ACK 0x4, NLM_F_ECHO 0x8,
// NLM_F_CREATE 0x400, NLM_F_APPEND 0x800.
const (
	flagsTable   = "flags 0x405" // request, ack, create
	flagsDel     = "flags 0x5"   // request, ack
	flagsChain   = "flags 0x405" // request, ack, create
	flagsRule    = "flags 0xc0d" // request, ack, echo, create, append
	flagsBatch   = "flags 0x1"   // request
	batchPayload = "0000000a"    // AF_UNSPEC, NFNETLINK_V0, res_id NFNL_SUBSYS_NFTABLES
)

// toOutput turns a golden prerouting rule into the same rule in the output
// chain: only the NFTA_RULE_CHAIN attribute differs, as the ip pair captured
// from nft shows (TestToOutput). Only the prerouting rule was captured for ip6.
func toOutput(rule string) string {
	return strings.Replace(rule,
		"0f000200"+hex.EncodeToString([]byte("prerouting\x00\x00")),
		"0b000200"+hex.EncodeToString([]byte("output\x00\x00")), 1)
}

func TestToOutput(t *testing.T) {
	if got := toOutput(goldenRulePre4); got != goldenRuleOut4 {
		t.Errorf("toOutput(prerouting rule) differs from nft's output rule:\n got %s\nwant %s", got, goldenRuleOut4)
	}
}

func TestApplyGolden(t *testing.T) {
	norm := func(s string) string { return strings.ReplaceAll(s, " ", "") }
	begin := sent{"batch begin " + flagsBatch, batchPayload}
	end := sent{"batch end " + flagsBatch, batchPayload}
	// Without rules of its family a table is only added and deleted: the add
	// makes the delete succeed when the table is absent.
	remove4 := []sent{{"new table " + flagsTable, norm(goldenTable4)}, {"del table " + flagsDel, norm(goldenDelTable4)}}
	remove6 := []sent{{"new table " + flagsTable, norm(goldenTable6)}, {"del table " + flagsDel, norm(goldenDelTable6)}}
	prio := func(golden, prio string) string { return strings.Replace(norm(golden), "ffffff9c", prio, 1) }
	v4 := func(p string) []sent {
		return append(remove4,
			sent{"new table " + flagsTable, norm(goldenTable4)},
			sent{"new chain " + flagsChain, prio(goldenPrerouting4, p)},
			sent{"new chain " + flagsChain, prio(goldenOutput4, p)},
			sent{"new rule " + flagsRule, goldenRulePre4},
			sent{"new rule " + flagsRule, goldenRuleOut4},
		)
	}
	// ip6 chains differ from ip chains only in the nfgen family byte.
	chain6 := func(golden string) string { return "0a" + norm(golden)[2:] }
	var (
		apply4 = rule("198.18.0.100", 1883, "198.18.0.1:1883")
		apply6 = rule("2001:2::100", 1883, "[2001:2::1]:1883")
	)
	tests := []struct {
		name  string
		opts  []Option
		apply []Rule // nil: Remove
		want  [][]sent
	}{
		{name: "remove", want: [][]sent{{begin}, remove4, remove6, {end}}},
		{name: "empty apply is remove", apply: []Rule{}, want: [][]sent{{begin}, remove4, remove6, {end}}},
		{name: "IPv4", apply: []Rule{apply4}, want: [][]sent{{begin}, v4("ffffff9c"), remove6, {end}}},
		{
			name: "priority -101", opts: []Option{WithPriority(-101)}, apply: []Rule{apply4},
			want: [][]sent{{begin}, v4("ffffff9b"), remove6, {end}},
		},
		{
			name: "IPv6", apply: []Rule{apply6},
			want: [][]sent{{begin}, remove4, remove6, {
				{"new table " + flagsTable, norm(goldenTable6)},
				{"new chain " + flagsChain, chain6(goldenPrerouting4)},
				{"new chain " + flagsChain, chain6(goldenOutput4)},
				{"new rule " + flagsRule, goldenRulePre6},
				{"new rule " + flagsRule, toOutput(goldenRulePre6)},
			}, {end}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			tab := New(tt.opts...)
			tab.testDial = rec.dial
			var err error
			if tt.apply == nil {
				err = tab.Remove()
			} else {
				err = tab.Apply(tt.apply)
			}
			if err != nil {
				t.Fatal(err)
			}
			var want []sent
			for _, w := range tt.want {
				want = append(want, w...)
			}
			got := sentOf(rec.msgs)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("batch (-want +got):\n%s", diff)
			}
			checkNoFlushRuleset(t, rec.msgs)
		})
	}
}

// checkNoFlushRuleset fails when a table delete names no table: that is
// "nft flush ruleset", which would delete every other tool's rules.
func checkNoFlushRuleset(t *testing.T, msgs []netlink.Message) {
	t.Helper()
	del := netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_DELTABLE)
	for i, m := range msgs {
		if m.Header.Type != del {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[4:])
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		var name string
		for ad.Next() {
			if ad.Type() == unix.NFTA_TABLE_NAME {
				name = ad.String()
			}
		}
		if name != DefaultName {
			t.Errorf("message %d deletes table %q, want only %q (never the ruleset)", i, name, DefaultName)
		}
	}
}

func TestApplyRefusesBeforeSending(t *testing.T) {
	rec := &recorder{}
	tab := New()
	tab.testDial = rec.dial
	err := tab.Apply([]Rule{rule("198.18.0.100", 1883, "[2001:2::1]:1883")})
	if !errors.Is(err, ErrInvalidRule) {
		t.Fatalf("Apply: error %v, want ErrInvalidRule", err)
	}
	if len(rec.msgs) != 0 {
		t.Errorf("Apply sent %d messages for an invalid rule, want none", len(rec.msgs))
	}
}

// TestApplyAfterError checks that a failed transaction does not poison the
// next one: google/nftables v0.3.0 keeps a Conn's first error forever, so
// each transaction needs a fresh Conn.
func TestApplyAfterError(t *testing.T) {
	tab := New()
	tab.testDial = func(req []netlink.Message) ([]netlink.Message, error) {
		if req == nil {
			return nil, nil
		}
		return nltest.Error(int(unix.EPERM), req)
	}
	r := []Rule{rule("198.18.0.100", 1883, "198.18.0.1:1883")}
	if err := tab.Apply(r); !errors.Is(err, unix.EPERM) {
		t.Fatalf("Apply with the kernel saying EPERM: error %v, want EPERM", err)
	}
	rec := &recorder{}
	tab.testDial = rec.dial
	if err := tab.Apply(r); err != nil {
		t.Fatalf("Apply after a failed one: %v", err)
	}
	if len(rec.msgs) == 0 {
		t.Error("second Apply sent nothing")
	}
}

func TestParseRule(t *testing.T) {
	fams := families()
	for _, tt := range []struct {
		f family
		r Rule
	}{
		{fams[0], rule("198.18.0.100", 1883, "198.18.0.1:1883")},
		{fams[0], rule("198.18.1.7", 8883, "198.18.0.2:18883")},
		{fams[1], rule("2001:2::100", 9001, "[2001:2::1]:9001")},
	} {
		got, err := parseRule(tt.f, exprs(tt.f, tt.r))
		if err != nil {
			t.Fatalf("parseRule(exprs(%v)): %v", tt.r, err)
		}
		if diff := cmp.Diff(tt.r, got, ruleCmp); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
		// The kernel dumps the nat expression with the maximum registers
		// set to the minimum ones.
		es := exprs(tt.f, tt.r)
		n := *es[8].(*expr.NAT)
		n.RegAddrMax, n.RegProtoMax = n.RegAddrMin, n.RegProtoMin
		es[8] = &n
		if got, err := parseRule(tt.f, es); err != nil || got != tt.r {
			t.Errorf("parseRule(as the kernel dumps %v) = %v, %v", tt.r, got, err)
		}
	}
}

func TestParseRuleRefusesForeign(t *testing.T) {
	fams := families()
	r := rule("198.18.0.100", 1883, "198.18.0.1:1883")
	tests := []struct {
		name string
		f    family
		edit func(es []expr.Any) []expr.Any
	}{
		{"wrong family", fams[1], func(es []expr.Any) []expr.Any { return es }},
		{"missing nat", fams[0], func(es []expr.Any) []expr.Any { return es[:8] }},
		{"udp", fams[0], func(es []expr.Any) []expr.Any {
			es[3] = &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}}
			return es
		}},
		{"masquerade", fams[0], func(es []expr.Any) []expr.Any { es[8] = &expr.Masq{}; return es }},
		{"expressions swapped", fams[0], func(es []expr.Any) []expr.Any { es[0], es[2] = es[2], es[0]; return es }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			es := tt.edit(exprs(fams[0], r))
			if got, err := parseRule(tt.f, es); err == nil {
				t.Errorf("parseRule accepted %s as %v", tt.name, got)
			}
		})
	}
}

func TestFlushConntrackArgs(t *testing.T) {
	if _, err := FlushConntrack(netip.Addr{}, []uint16{1883}); err == nil {
		t.Error("FlushConntrack accepted the zero address")
	}
	// No ports: nothing to match, so nothing is dumped and nothing needs root.
	if n, err := FlushConntrack(netip.MustParseAddr("198.18.0.100"), nil); n != 0 || err != nil {
		t.Errorf("FlushConntrack without ports = %d, %v; want 0, nil", n, err)
	}
}
