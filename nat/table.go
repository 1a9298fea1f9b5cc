//go:build linux

package nat

import (
	"errors"
	"fmt"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink/nltest"
)

const (
	// DefaultName is the name of carpd's tables: "ip carpd", "ip6 carpd".
	DefaultName = "carpd"
	// DefaultPriority is the dstnat priority, the same as iptables-nft's
	// "ip nat PREROUTING" chain and Docker's DNAT. Hooks of equal priority
	// run in no defined order and the first chain that binds a NAT mapping
	// wins (docs/design.md §5.4). Docker's "-m addrtype --dst-type LOCAL -j DOCKER"
	// matches every local address, the VIP included, so when a container
	// also publishes the broker's port, choose -101 (WithPriority) to run
	// before Docker.
	DefaultPriority int32 = -100
)

// ErrDrift is wrapped by the errors Rules returns when carpd's table exists
// but is not as Apply left it (a chain or rule changed or added by someone
// else, or prerouting and output out of step). Apply repairs it.
var ErrDrift = errors.New("DNAT table drifted")

// Table is carpd's DNAT table in each address family it is needed in. It
// holds only settings: every method reads or changes the kernel in one
// transaction of its own, so a Table may be used from several goroutines,
// though concurrent Apply calls race for the last word.
type Table struct {
	name     string
	priority int32
	netns    int // 0 is the caller's namespace, as in nftables.WithNetNSFd
	testDial nltest.Func
}

// Option changes a Table made by New.
type Option func(*Table)

// WithNetNS makes the Table, and FlushConntrack, work in the network
// namespace that fd refers to instead of the caller's (tests use it to stay
// inside a lab namespace without switching threads).
func WithNetNS(fd int) Option { return func(t *Table) { t.netns = fd } }

// WithName names carpd's tables name instead of DefaultName, for example to
// run two daemons in one namespace.
func WithName(name string) Option { return func(t *Table) { t.name = name } }

// WithPriority sets the priority of both base chains (DefaultPriority).
func WithPriority(p int32) Option { return func(t *Table) { t.priority = p } }

// New returns a Table with DefaultName and DefaultPriority unless opts say
// otherwise. It does not touch the kernel.
func New(opts ...Option) *Table {
	t := &Table{name: DefaultName, priority: DefaultPriority}
	for _, o := range opts {
		o(t)
	}
	return t
}

// Name returns the tables' name.
func (t *Table) Name() string { return t.name }

// Apply makes the kernel hold exactly rules: the ip table holds the IPv4
// rules, the ip6 table the IPv6 rules, each in a prerouting and an output
// chain, and a family without rules has no table. Both families change in
// one nftables transaction, all or nothing, and applying the same rules
// again yields the same ruleset. Rules that cannot be installed are refused
// with ErrInvalidRule before anything is sent. No other table is touched.
func (t *Table) Apply(rules []Rule) error {
	v4, v6, err := split(rules)
	if err != nil {
		return err
	}
	return t.replace(v4, v6)
}

// Remove deletes carpd's tables in both families. A table that does not
// exist is not an error.
func (t *Table) Remove() error { return t.replace(nil, nil) }

func (t *Table) replace(v4, v6 []Rule) error {
	c, err := t.conn()
	if err != nil {
		return err
	}
	fams := families()
	t.queueReplace(c, fams[0], v4)
	t.queueReplace(c, fams[1], v6)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("replacing nftables tables %s: %w", t.name, err)
	}
	return nil
}

// Rules reads back the rules installed in the kernel, IPv4 first, each
// family in Apply's order (by VIP, then port). With no table it returns
// none. When a table is not as Apply built it, the error wraps ErrDrift and
// the rules returned are those of the prerouting chain as far as they could
// be read.
func (t *Table) Rules() ([]Rule, error) {
	// One netlink socket for the whole read, not one per request (eight
	// when both families have a table): the daemon reads the table back
	// every second, and the dials were most of that check's cost.
	c, err := t.conn(nftables.AsLasting())
	if err != nil {
		return nil, err
	}
	defer c.CloseLasting()
	var all []Rule
	for _, f := range families() {
		rules, err := t.read(c, f)
		all = append(all, rules...)
		if err != nil {
			return all, err
		}
	}
	return all, nil
}
