package daemon

import (
	"errors"
	"fmt"

	"github.com/carpd/carpd/internal/config"
)

// Reload switches to a new set of routers (SIGHUP) without dropping
// mastership where the change allows it:
//
//   - a router no longer configured leaves (bow-out, VIPs removed, down
//     hooks if MASTER, notify STOP);
//   - a new router starts (after removing leftovers of its VIPs);
//   - a change of interface, protocol, id, source, group, peers or vmac restarts
//     the router (it leaves first) and says so in the log;
//   - anything else is applied in place: timers, priority and preemption
//     through carp.Machine.Reconfigure, password, VIP list (added and
//     removed at once while MASTER), hooks, GARP and tracking; scripts
//     run as user (script_user) from then on, track scripts restarting
//     if it changed.
//
// An invalid new set is refused as a whole and nothing changes; the
// error lists every problem.
func (d *Daemon) Reload(routers []config.Router, user *config.ScriptUser) error {
	specs, err := d.resolve(routers)
	if err != nil {
		return err
	}
	if len(specs) == 0 {
		return errors.New("no virtual router configured")
	}
	d.lifeMu.Lock()
	defer d.lifeMu.Unlock()
	d.user = user
	want := make(map[string]*config.Router, len(specs))
	for _, s := range specs {
		want[s.Name] = s
	}
	var gone, restart []*router
	var added []*config.Router
	var errs []error
	for _, r := range d.all() {
		n, ok := want[r.base.Name]
		switch {
		case !ok:
			gone = append(gone, r)
		case restartNeeded(r.base, n):
			restart = append(restart, r)
		default:
			if err := r.update(n, user); err != nil {
				errs = append(errs, fmt.Errorf("router %s: %w", n.Name, err))
			}
		}
	}
	for _, r := range gone {
		r.log.Info("router removed from the configuration; stopping")
	}
	for _, r := range restart {
		r.log.Warn("interface, protocol, id, source, group, peers or vmac changed; restarting the router")
	}
	d.stopRouters(append(gone, restart...), "reload")
	for _, r := range gone {
		d.hassRemove(r.base.Name)
	}
	for _, s := range specs {
		if _, err := d.router(s.Name); err != nil {
			added = append(added, s)
		}
	}
	ready := added[:0:0]
	for _, s := range added {
		if err := d.prepareVMAC(s); err != nil {
			errs = append(errs, fmt.Errorf("starting router %s: %w", s.Name, err))
			d.releaseVMAC(s)
			continue
		}
		ready = append(ready, s)
	}
	added = ready
	d.reconcile(added)
	for _, s := range added {
		if err := d.startRouter(s); err != nil {
			errs = append(errs, fmt.Errorf("starting router %s: %w", s.Name, err))
		}
	}
	d.reorder(specs)
	d.updateWatch()
	d.statusChanged()
	return errors.Join(errs...)
}

// reorder puts the running routers in configuration order.
func (d *Daemon) reorder(specs []*config.Router) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.order = d.order[:0]
	for _, s := range specs {
		if _, ok := d.routers[s.Name]; ok {
			d.order = append(d.order, s.Name)
		}
	}
}
