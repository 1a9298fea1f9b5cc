package daemon

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/status"
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

// previousVIPs reads the VIPs of the last run on this state directory
// from the status file it left (StatusFile), by interface. A clean stop
// leaves nothing to clean; a killed run leaves its last status. Nothing
// (no file, or one that does not parse) means no address is taken for
// ours beyond the configuration.
func previousVIPs(dir string) map[string]map[netip.Addr]bool {
	b, err := os.ReadFile(filepath.Join(dir, StatusFile))
	if err != nil {
		return nil
	}
	var st status.Report
	if json.Unmarshal(b, &st) != nil {
		return nil
	}
	prev := make(map[string]map[netip.Addr]bool)
	for _, r := range st.Routers {
		for _, v := range r.VIPs {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				continue
			}
			if prev[r.Iface] == nil {
				prev[r.Iface] = make(map[netip.Addr]bool)
			}
			prev[r.Iface][p.Addr().Unmap()] = true
		}
	}
	return prev
}

// removeUnlisted removes, at start-up, the marked addresses of the
// configured interfaces that no router lists now but the last run on this
// state directory held (prev, from previousVIPs): VIPs a killed carpd left
// behind whose router has since left the configuration. Listed ones are
// reconcile's (by configuration and label). The mark alone is not enough:
// another carpd on the same interface (one per VIP, as ucarp is often
// run) marks its VIPs too, and has a state directory of its own. Each
// removal is logged.
func (d *Daemon) removeUnlisted(specs []*config.Router, prev map[string]map[netip.Addr]bool) {
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
			if listed[name][p.Addr().Unmap()] || !prev[name][p.Addr().Unmap()] {
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
