package daemon

// statePublisher is what the routers tell Home Assistant, through the
// Broker: its methods only queue, so a router never waits on MQTT.
type statePublisher interface {
	AddRouter(router string)
	RemoveRouter(router string)
	SetMaster(router string, master bool)
}

// hassAdd announces a started router.
func (d *Daemon) hassAdd(name string) {
	if d.hass != nil {
		d.hass.AddRouter(name)
	}
}

// hassRemove deletes the entity of a router removed by a reload; a router
// stopped at shutdown keeps it, shown unavailable by the offline.
func (d *Daemon) hassRemove(name string) {
	if d.hass != nil {
		d.hass.RemoveRouter(name)
	}
}
