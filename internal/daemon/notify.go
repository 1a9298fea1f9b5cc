package daemon

import (
	"fmt"
	"time"
)

// Notifier passes notifications to the service manager, in sd_notify(3)
// form ("READY=1"); internal/sdnotify implements it.
type Notifier interface {
	Notify(state string) error
}

// Notifications the daemon sends (sd_notify(3)).
const (
	notifyReady    = "READY=1"
	notifyWatchdog = "WATCHDOG=1"
	notifyStopping = "STOPPING=1"
)

// startNotify tells the service manager READY=1 once every router of the
// start-up has its first state (BACKUP, an owner's MASTER, or INIT for a
// fault), then WATCHDOG=1 every half Watchdog as long as every router
// goroutine answers. The returned stop ends that and sends STOPPING=1.
func (d *Daemon) startNotify() (stop func()) {
	if d.opts.Notify == nil {
		return func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for _, r := range d.all() {
			select {
			case <-r.rec.ready:
			case <-quit:
				return
			}
		}
		d.notify(notifyReady)
		if d.opts.Watchdog <= 0 {
			return
		}
		d.feedWatchdog(quit)
	}()
	return func() {
		close(quit)
		<-done
		d.notify(notifyStopping)
	}
}

// feedWatchdog sends WATCHDOG=1 every half Watchdog until quit. A router
// goroutine that does not answer within that half withholds it, so
// systemd restarts a daemon that is alive but no longer advertising.
func (d *Daemon) feedWatchdog(quit <-chan struct{}) {
	every := d.opts.Watchdog / 2
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-quit:
			return
		case <-t.C:
		}
		if err := d.alive(every, quit); err != nil {
			d.log.Error("withholding the watchdog notification", "error", err)
			continue
		}
		d.notify(notifyWatchdog)
	}
}

// alive checks that every router goroutine runs a no-op within timeout.
// A router that stops meanwhile (reload, shutdown) counts as alive.
func (d *Daemon) alive(timeout time.Duration, quit <-chan struct{}) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for _, r := range d.all() {
		ran := make(chan struct{})
		select {
		case r.ctl <- func(time.Time) { close(ran) }:
		case <-r.done:
			continue
		case <-quit:
			return nil
		case <-deadline.C:
			return fmt.Errorf("router %s is not answering", r.base.Name)
		}
		select {
		case <-ran:
		case <-r.done:
		case <-quit:
			return nil
		case <-deadline.C:
			return fmt.Errorf("router %s is not answering", r.base.Name)
		}
	}
	return nil
}

// notify sends one notification; failures are logged, since the service
// manager's view is not worth stopping for.
func (d *Daemon) notify(state string) {
	if err := d.opts.Notify.Notify(state); err != nil {
		d.log.Warn("notifying the service manager", "state", state, "error", err)
		return
	}
	d.log.Debug("notified the service manager", "state", state)
}
