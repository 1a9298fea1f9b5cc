package daemon

import (
	"fmt"
	"strings"
	"time"

	"github.com/carpd/carpd/internal/sdnotify"
	"github.com/carpd/carpd/internal/status"
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
		// The routers' last states on the way down (INIT, then none) are
		// not a status worth showing; STOPPING=1 is the last word.
		d.stopping.Store(true)
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
		r.pending.Add(1) // see router.tryInline
		select {
		case r.ctl <- func(time.Time) { close(ran) }:
		case <-r.done:
			r.pending.Add(-1)
			continue
		case <-quit:
			r.pending.Add(-1)
			return nil
		case <-deadline.C:
			r.pending.Add(-1)
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

// notifyStatus sends STATUS= with st's one-line summary (statusLine) when
// it differs from the last one sent. The status writer calls it, so a
// burst of changes is coalesced like the status file's rewrites, and a
// change that leaves the line as it was (counters, RTTs) sends nothing.
func (d *Daemon) notifyStatus(st status.Report) {
	if d.opts.Notify == nil || d.stopping.Load() {
		return
	}
	line := statusLine(st)
	if line == d.sentStatus {
		return
	}
	d.sentStatus = line
	d.notify(sdnotify.Status(line))
}

// statusLine is what `systemctl status carpd` shows: each router's state
// ("mqtt MASTER", several joined by "; ", a fault with its reasons),
// then the broker and its bridge when carpd supervises one, after a
// failed reload's first error.
func statusLine(st status.Report) string {
	var rs []string
	for _, r := range st.Routers {
		s := r.Name + " " + r.State
		if r.State == "FAULT" && len(r.Faults) > 0 {
			s += " (" + strings.Join(r.Faults, ", ") + ")"
		}
		rs = append(rs, s)
	}
	line := strings.Join(rs, "; ")
	if len(rs) == 0 {
		line = "no virtual routers"
	}
	if b := st.Broker; b != nil {
		line += ", broker " + brokerWord(b)
		if w := bridgeWord(b.Probe); w != "" {
			line += ", bridge " + w
		}
	}
	if c := st.Config; c != nil && c.ReloadError != "" {
		first, rest, more := strings.Cut(c.ReloadError, "\n")
		if more {
			first += fmt.Sprintf(" (and %d more)", strings.Count(rest, "\n")+1)
		}
		line = "reload failed, running the previous configuration: " + first + "; " + line
	}
	return line
}

// brokerWord is the broker's part of statusLine.
func brokerWord(b *status.Broker) string {
	switch {
	case len(b.Unhealthy) > 0:
		return "unhealthy (" + strings.Join(b.Unhealthy, ", ") + ")"
	case b.Ready:
		return "ready"
	}
	return b.Phase
}

// bridgeWord is the bridge probe's part of statusLine: "" when the probe
// does not run.
func bridgeWord(p *status.Probe) string {
	if p == nil || p.Off != "" || len(p.Paths) == 0 {
		return ""
	}
	var broken []string
	ok := true
	for _, x := range p.Paths {
		if x.State == "broken" {
			broken = append(broken, x.Direction)
		}
		ok = ok && x.State == "ok"
	}
	switch {
	case len(broken) > 0:
		return "broken (" + strings.Join(broken, ", ") + ")"
	case ok:
		return "ok"
	}
	return "unknown"
}

// BeginReload tells the service manager a reload (SIGHUP) started:
// RELOADING=1 with MONOTONIC_USEC, as Type=notify-reload (systemd ≥ 253)
// requires; older systemd and Type=notify accept it too. EndReload must
// follow.
func (d *Daemon) BeginReload() {
	if d.opts.Notify == nil {
		return
	}
	mono, err := sdnotify.Monotonic()
	if err != nil {
		d.log.Warn("reading CLOCK_MONOTONIC for the reload notification", "error", err)
	}
	d.notify(sdnotify.Reloading(mono))
}

// EndReload records a reload's outcome for status, STATUS= and the
// metrics, and sends READY=1: the reload is over for systemd even when
// it failed, since the previous configuration keeps running.
func (d *Daemon) EndReload(err error) {
	d.mu.Lock()
	if err == nil {
		d.loaded, d.reloadErr = time.Now(), ""
	} else {
		d.reloadErr = err.Error()
	}
	d.mu.Unlock()
	d.statusChanged()
	if d.opts.Notify != nil {
		d.notify(notifyReady)
	}
}
