package daemon

import (
	"context"
	"github.com/carpd/carpd/internal/link"
	"slices"
	"time"
)

// watcher runs Net.Watch for a set of interfaces and dispatches its
// events to the routers.
type watcher struct {
	ifaces []string
	cancel context.CancelFunc
	done   chan struct{}
}

// stop ends the watch and waits for it. A nil watcher does nothing.
func (w *watcher) stop() {
	if w == nil {
		return
	}
	w.cancel()
	<-w.done
}

// updateWatch (re)starts the watch when the set of interfaces the routers
// use or track changed.
func (d *Daemon) updateWatch() {
	var ifaces []string
	for _, r := range d.all() {
		ifaces = append(ifaces, r.base.Iface, addrIface(r.base))
		ifaces = append(ifaces, r.trackedIfaces()...)
	}
	slices.Sort(ifaces)
	ifaces = slices.Compact(ifaces)
	d.mu.Lock()
	old := d.watch
	if old != nil && slices.Equal(old.ifaces, ifaces) {
		d.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := &watcher{ifaces: ifaces, cancel: cancel, done: make(chan struct{})}
	d.watch = w
	d.mu.Unlock()
	old.stop()
	go d.runWatch(ctx, w)
}

// runWatch keeps Net.Watch running until ctx ends, restarting it after a
// failure, and dispatches the events.
func (d *Daemon) runWatch(ctx context.Context, w *watcher) {
	defer close(w.done)
	ch := make(chan link.Event, 64)
	go func() {
		for {
			select {
			case ev := <-ch:
				d.dispatch(ev)
			case <-ctx.Done():
				return
			}
		}
	}()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := d.net.Watch(ctx, w.ifaces, ch)
		if ctx.Err() != nil {
			return
		}
		d.log.Error("watching links; retrying", "error", err, "in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// dispatch hands one event to every router it concerns.
func (d *Daemon) dispatch(ev link.Event) {
	d.log.Debug("link event", "event", ev.Kind.String(), "iface", ev.Iface, "addr", ev.Addr.String())
	for _, r := range d.all() {
		if r.base.Iface != ev.Iface && addrIface(r.base) != ev.Iface && !slices.Contains(r.trackedIfaces(), ev.Iface) {
			continue
		}
		r.post(func(now time.Time) { r.linkEvent(now, ev) })
	}
}
