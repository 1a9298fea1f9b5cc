//go:build linux

package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"

	"github.com/carpd/carpd/nat"
)

// natMgr keeps carpd's DNAT table equal to the rules of the MASTER
// routers: each router's VIPs, for every configured port, to the broker's
// static address. The table is rebuilt whole on every change (nat.Table
// applies atomically), so the order in which routers come and go does not
// matter.
type natMgr struct {
	table   table
	flushFn func(vip netip.Addr, ports []uint16) (uint, error)
	resetFn func(vip netip.Addr, ports []uint16, to netip.Addr) (uint, error)
	to      netip.Addr
	ports   []uint16
	log     *slog.Logger

	mu      sync.Mutex
	by      map[string][]nat.Rule
	applied []nat.Rule // what the kernel holds after the last success
	dirty   bool       // the last change failed: retry even if equal
	lastErr string
}

// table is carpd's DNAT table (nat.Table).
type table interface {
	Name() string
	Apply(rules []nat.Rule) error
	Remove() error
	Rules() ([]nat.Rule, error)
}

func newNATMgr(to netip.AddrPort, ports []uint16, log *slog.Logger, dp deps) *natMgr {
	return &natMgr{table: dp.table, flushFn: dp.flush, resetFn: dp.reset, to: to.Addr(), ports: ports, log: log,
		by: make(map[string][]nat.Rule)}
}

// rules are the DNAT rules of vips; VIPs of the other address family than
// the static address get none (config warns about them).
func (m *natMgr) rules(vips []netip.Prefix) []nat.Rule {
	var out []nat.Rule
	for _, p := range vips {
		if p.Addr().Unmap().Is4() != m.to.Is4() {
			continue
		}
		for _, port := range m.ports {
			out = append(out, nat.Rule{VIP: p.Addr(), Port: port, To: netip.AddrPortFrom(m.to, port)})
		}
	}
	return out
}

// set makes router's rules those of vips (none: nil) and applies the union
// of every router's rules.
func (m *natMgr) set(router string, vips []netip.Prefix) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r := m.rules(vips); len(r) > 0 {
		m.by[router] = r
	} else {
		delete(m.by, router)
	}
	var all []nat.Rule
	for _, r := range m.by {
		all = append(all, r...)
	}
	slices.SortFunc(all, func(a, b nat.Rule) int { return cmpRule(a, b) })
	if !m.dirty && slices.Equal(all, m.applied) {
		return nil
	}
	var err error
	if len(all) == 0 {
		err = m.table.Remove()
	} else {
		err = m.table.Apply(all)
	}
	if err != nil {
		m.dirty, m.lastErr = true, err.Error()
		return err
	}
	m.dirty, m.lastErr, m.applied = false, "", all
	m.log.Debug("DNAT rules applied", "rules", len(all))
	return nil
}

// verify puts the rules back when the kernel no longer holds what the
// last apply left: another program deleted or changed carpd's table (a
// firewall reload running `nft flush ruleset`, `nft delete table ip
// carpd`), or the last apply failed. It returns whether it re-applied.
// Called every verifyEvery while the broker is supervised.
func (m *natMgr) verify() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.applied) == 0 && !m.dirty {
		return false
	}
	got, err := m.table.Rules()
	slices.SortFunc(got, cmpRule)
	if err == nil && !m.dirty && slices.Equal(got, m.applied) {
		return false
	}
	want := m.applied
	if m.dirty {
		// The last change failed: the union of every router's rules is
		// what the kernel should hold.
		want = nil
		for _, r := range m.by {
			want = append(want, r...)
		}
		slices.SortFunc(want, cmpRule)
	}
	var aerr error
	if len(want) == 0 {
		aerr = m.table.Remove()
	} else {
		aerr = m.table.Apply(want)
	}
	if aerr != nil {
		m.dirty, m.lastErr = true, aerr.Error()
		m.log.Error("restoring the DNAT table", "table", m.table.Name(), "error", aerr)
		return false
	}
	attrs := []any{"table", m.table.Name(), "found", len(got), "rules", len(want)}
	if err != nil {
		attrs = append(attrs, "read_error", err)
	}
	m.log.Warn("DNAT table changed behind carpd's back; restored", attrs...)
	m.dirty, m.lastErr, m.applied = false, "", want
	return true
}

func cmpRule(a, b nat.Rule) int {
	if c := a.VIP.Compare(b.VIP); c != 0 {
		return c
	}
	return int(a.Port) - int(b.Port)
}

// reset removes carpd's table, left by a killed run at start-up and as the
// last act of a shutdown.
func (m *natMgr) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.by = make(map[string][]nat.Rule)
	if left, err := m.table.Rules(); len(left) > 0 || errors.Is(err, nat.ErrDrift) {
		m.log.Warn("removing DNAT rules left behind", "table", m.table.Name(), "rules", len(left), "error", err)
	}
	if err := m.table.Remove(); err != nil {
		m.dirty, m.lastErr = true, err.Error()
		m.log.Error("removing the DNAT table", "table", m.table.Name(), "error", err)
		return
	}
	m.dirty, m.lastErr, m.applied = false, "", nil
}

// flush deletes the conntrack entries of flows to the VIPs' ports, so the
// next packet of an old flow is NATed anew (or reset) instead of keeping
// the old mapping: a flow keeps the NAT mapping of its conntrack entry.
func (m *natMgr) flush(vips []netip.Prefix) error {
	var errs []error
	total := uint(0)
	for _, p := range vips {
		n, err := m.flushFn(p.Addr(), m.ports)
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("flushing conntrack for %v: %w", p.Addr(), err))
		}
	}
	m.log.Debug("conntrack flushed", "deleted", total)
	return errors.Join(errs...)
}

// resetClients resets the broker's sockets of client connections that
// came in through the VIPs (nat.ResetClients): an idle subscriber of the
// old master otherwise waits for its next retransmission or keepalive,
// since the conntrack flush leaves its packets unanswered. VIPs of the
// other family than the static address have no DNAT (rules), so no
// client came in through them.
func (m *natMgr) resetClients(vips []netip.Prefix) error {
	var errs []error
	total := uint(0)
	for _, p := range vips {
		if p.Addr().Unmap().Is4() != m.to.Is4() {
			continue
		}
		n, err := m.resetFn(p.Addr(), m.ports, m.to)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	if total > 0 {
		m.log.Info("client connections reset", "count", total)
	}
	return errors.Join(errs...)
}

// status lists the applied rules and the last error.
func (m *natMgr) status() ([]string, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, len(m.applied))
	for i, r := range m.applied {
		out[i] = r.String()
	}
	return out, m.lastErr
}
