package daemon

import (
	"errors"
	"net/netip"

	"github.com/carpd/carpd/internal/config"
)

// MarkLister is implemented by AddrSets that can list the addresses carpd
// marked when it added them (link.AddrProto, the address protocol), of
// both families: start-up then also removes the leftovers of VIPs that no
// router lists any more, which for IPv6 have no label to find them by.
type MarkLister interface {
	Marked() ([]netip.Prefix, error)
}

// Marked forwards to the wrapped set if it can list marks.
func (l *lockedAddrs) Marked() ([]netip.Prefix, error) {
	ml, ok := l.set.(MarkLister)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return ml.Marked()
}

// removeUnlisted removes, at start-up, the marked addresses of the
// configured interfaces that no router lists: VIPs a killed carpd left
// behind whose router has since left the configuration. Listed ones are
// reconcile's (by configuration and label); interfaces no router uses are
// left alone, so another carpd's VIPs there are safe. Each removal is
// logged.
func (d *Daemon) removeUnlisted(specs []*config.Router) {
	listed := make(map[string]map[netip.Addr]bool)
	var ifaces []string
	for _, s := range specs {
		if listed[s.Iface] == nil {
			listed[s.Iface] = make(map[netip.Addr]bool)
			ifaces = append(ifaces, s.Iface)
		}
		for _, p := range s.VIPs {
			listed[s.Iface][p.Addr().Unmap()] = true
		}
	}
	for _, name := range ifaces {
		log := d.log.With("iface", name)
		d.mu.Lock()
		res, err := d.iface(name)
		d.mu.Unlock()
		if err != nil {
			log.Error("removing unlisted leftovers", "error", err)
			continue
		}
		ml, ok := res.addrs.(MarkLister)
		if !ok {
			continue
		}
		marked, err := ml.Marked()
		if errors.Is(err, errors.ErrUnsupported) {
			continue
		}
		if err != nil {
			log.Warn("listing the addresses carpd marked", "error", err)
			continue
		}
		for _, p := range marked {
			if listed[name][p.Addr().Unmap()] {
				continue
			}
			if err := res.addrs.Remove(p); err != nil {
				log.Error("removing leftover VIP", "vip", p.String(), "error", err)
				continue
			}
			log.Warn("removed leftover VIP no router lists", "vip", p.String())
		}
	}
}
