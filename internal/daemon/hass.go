package daemon

// statePublisher is what the routers tell Home Assistant, through the
// Broker: its methods only queue, so a router never waits on MQTT.
type statePublisher interface {
	AddRouter(router string)
	RemoveRouter(router string)
	SetMaster(router string, master bool)
	// AddAdvertsLost announces the router's adverts-lost sensor, which
	// only a router with the heartbeat on can drive; SetAdvertsLost sets
	// it (rule b of carp.DecideSplit).
	AddAdvertsLost(router string)
	SetAdvertsLost(router string, lost bool)
}

// hassAdd announces a started router, and its adverts-lost sensor when
// the heartbeat can tell.
func (d *Daemon) hassAdd(r *router) {
	if d.hass != nil {
		d.hass.AddRouter(r.base.Name)
		if r.splitOn() {
			d.hass.AddAdvertsLost(r.base.Name)
		}
	}
}

// hassAdvertsLost sets the router's adverts-lost sensor.
func (r *router) hassAdvertsLost(lost bool) {
	if h := r.d.hass; h != nil && r.splitOn() {
		h.SetAdvertsLost(r.base.Name, lost)
	}
}

// hassRemove deletes the entity of a router removed by a reload; a router
// stopped at shutdown keeps it, shown unavailable by the offline.
func (d *Daemon) hassRemove(name string) {
	if d.hass != nil {
		d.hass.RemoveRouter(name)
	}
}
