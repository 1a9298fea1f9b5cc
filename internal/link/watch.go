//go:build linux

package link

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Watch reports link and address changes on the interfaces named until ctx
// ends, when it returns nil. It runs in the calling goroutine and
// subscribes in the calling thread's network namespace.
//
// The current state comes first: one LinkUp or LinkDown per name, in the
// order given (an interface that does not exist is down), then an
// AddrAdded per address, so the caller needs no separate snapshot. After
// that a link event is sent only when the state changes.
// A link is up when it is administratively up and operationally running
// (IFF_RUNNING), so carrier loss, such as a veth whose peer went down,
// counts as down; a deleted interface is down.
//
// Watch returns an error if a subscription fails, including a receive
// buffer overrun (ENOBUFS) that lost events; the caller restarts it and
// gets the state again. It never closes events.
func Watch(ctx context.Context, ifnames []string, events chan<- Event) error {
	w := &watcher{names: make(map[string]bool), byIndex: make(map[int]string), up: make(map[string]bool), events: events}
	for _, n := range ifnames {
		w.names[n] = true
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("opening netlink handle: %w", err)
	}
	defer h.Close()
	w.h = h
	done := make(chan struct{})
	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 256)
	// Only a closed channel ends the watch; the callback also reports
	// messages the library skipped, so it only keeps the last error to
	// explain the closure.
	errc := make(chan error, 1)
	onErr := func(err error) {
		select {
		case <-errc:
		default:
		}
		select {
		case errc <- err:
		default:
		}
	}
	// The subscription goroutines end when done closes and then close
	// their channels; drain those so a goroutine blocked on a send gets
	// there.
	var subscribed []func()
	defer func() {
		close(done)
		for _, drain := range subscribed {
			drain()
		}
	}()
	if err := netlink.LinkSubscribeWithOptions(links, done, netlink.LinkSubscribeOptions{ErrorCallback: onErr}); err != nil {
		return fmt.Errorf("subscribing to link updates: %w", err)
	}
	subscribed = append(subscribed, func() { drain(links) })
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{ErrorCallback: onErr, ListExisting: true}); err != nil {
		return fmt.Errorf("subscribing to address updates: %w", err)
	}
	subscribed = append(subscribed, func() { drain(addrs) })
	// The links' state is read after subscribing, so no change falls in
	// between, and sent before the queued address dump.
	for _, name := range ifnames {
		if err := w.snapshot(ctx, name); err != nil {
			return err
		}
	}
	return w.loop(ctx, links, addrs, errc)
}

type watcher struct {
	h       linkGetter
	names   map[string]bool
	byIndex map[int]string
	up      map[string]bool
	events  chan<- Event
}

// linkGetter is what a watcher uses of a *netlink.Handle, so that tests
// can supply the links.
type linkGetter interface {
	LinkByName(name string) (netlink.Link, error)
	LinkByIndex(index int) (netlink.Link, error)
}

func (w *watcher) loop(ctx context.Context, links <-chan netlink.LinkUpdate, addrs <-chan netlink.AddrUpdate, errc <-chan error) error {
	for {
		var ev Event
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case u, open := <-links:
			if !open {
				return fmt.Errorf("watching links: %w", ended(errc))
			}
			ev, ok = w.link(u)
		case u, open := <-addrs:
			if !open {
				return fmt.Errorf("watching addresses: %w", ended(errc))
			}
			ev, ok = w.addr(u)
		}
		if !ok {
			continue
		}
		select {
		case w.events <- ev:
		case <-ctx.Done():
			return nil
		}
	}
}

// snapshot sends the current state of the interface name; one that does
// not exist is down.
func (w *watcher) snapshot(ctx context.Context, name string) error {
	var ev Event
	l, err := w.h.LinkByName(name)
	var nf netlink.LinkNotFoundError
	switch {
	case errors.As(err, &nf):
		w.up[name] = false
		ev = Event{Kind: LinkDown, Iface: name}
	case err != nil:
		return fmt.Errorf("looking up %s: %w", name, err)
	default:
		var changed bool
		if ev, changed = w.link(netlink.LinkUpdate{Link: l}); !changed {
			return nil // a name given twice
		}
	}
	select {
	case w.events <- ev:
		return nil
	case <-ctx.Done():
		return nil
	}
}

// link turns a link update into an event when a watched link changes state.
func (w *watcher) link(u netlink.LinkUpdate) (Event, bool) {
	attrs := u.Attrs()
	if !w.names[attrs.Name] {
		// A watched name may have moved to another index, or this index
		// may have been renamed away from a watched name.
		if w.byIndex[attrs.Index] != "" {
			delete(w.byIndex, attrs.Index)
		}
		return Event{}, false
	}
	w.byIndex[attrs.Index] = attrs.Name
	up := u.Header.Type != unix.RTM_DELLINK &&
		attrs.Flags&net.FlagUp != 0 && attrs.RawFlags&unix.IFF_RUNNING != 0
	if was, seen := w.up[attrs.Name]; seen && was == up {
		return Event{}, false
	}
	w.up[attrs.Name] = up
	kind := LinkDown
	if up {
		kind = LinkUp
	}
	return Event{Kind: kind, Iface: attrs.Name}, true
}

// addr turns an address update on a watched interface into an event.
func (w *watcher) addr(u netlink.AddrUpdate) (Event, bool) {
	name, ok := w.byIndex[u.LinkIndex]
	if !ok {
		// The address dump may overtake the link dump: ask.
		l, err := w.h.LinkByIndex(u.LinkIndex)
		if err != nil || !w.names[l.Attrs().Name] {
			return Event{}, false
		}
		name = l.Attrs().Name
		w.byIndex[u.LinkIndex] = name
	}
	ip := ipAddr(u.LinkAddress.IP)
	bits, _ := u.LinkAddress.Mask.Size()
	p := netip.PrefixFrom(ip, bits)
	if !p.IsValid() {
		return Event{}, false
	}
	kind := AddrRemoved
	if u.NewAddr {
		kind = AddrAdded
	}
	return Event{Kind: kind, Iface: name, Addr: p}, true
}

// ended explains why a subscription channel closed.
func ended(errc <-chan error) error {
	select {
	case err := <-errc:
		return err
	default:
		return errors.New("subscription ended")
	}
}

// drain reads ch until its subscription closes it.
func drain[T any](ch <-chan T) {
	for range ch {
	}
}
