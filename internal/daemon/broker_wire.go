package daemon

import "fmt"

// newBroker builds the broker service of o.NewBroker, if any, once the
// routers are resolved. Nothing is started.
func (d *Daemon) newBroker() error {
	if d.opts.NewBroker == nil {
		return nil
	}
	b, err := d.opts.NewBroker(brokerHost{d})
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	d.bsvc, d.hass = b, b
	d.attachHeartbeat(b)
	return nil
}

// attachBroker gives a new router the broker's steps and its current
// health.
func (d *Daemon) attachBroker(r *router) {
	if d.bsvc == nil {
		return
	}
	r.exec.bsvc = d.bsvc
	if unhealthy, weight := d.bsvc.Health(); unhealthy {
		r.brokerHealth(true, weight, "unhealthy at router start")
	}
}
