package daemon

import (
	"fmt"
	"net/netip"
)

// newBroker builds the broker service of o.Broker, if any, once the
// routers are resolved: a broker address without an IP takes the first
// router's source address. Nothing is started.
func (d *Daemon) newBroker() error {
	cfg := d.opts.Broker
	if cfg == nil {
		return nil
	}
	addr := cfg.Addr
	if !addr.Addr().IsValid() {
		addr = netip.AddrPortFrom(d.specs[0].Machine.Addr, addr.Port())
	}
	s, err := newBrokerSvc(d, cfg, addr)
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	d.bsvc = s
	return nil
}

// attachBroker gives a new router the broker's steps and its current
// health.
func (d *Daemon) attachBroker(r *router) {
	if d.bsvc == nil {
		return
	}
	r.exec.bsvc = d.bsvc
	if d.bsvc.isUnhealthy() {
		r.brokerHealth(true, d.opts.Broker.Health.Weight, "unhealthy at router start")
	}
}
