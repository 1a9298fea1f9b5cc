//go:build linux

package link

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// fakeLinks is a linkGetter over a fixed set of links.
type fakeLinks []netlink.Link

func (f fakeLinks) LinkByName(name string) (netlink.Link, error) {
	for _, l := range f {
		if l.Attrs().Name == name {
			return l, nil
		}
	}
	return nil, netlink.LinkNotFoundError{}
}

func (f fakeLinks) LinkByIndex(index int) (netlink.Link, error) {
	for _, l := range f {
		if l.Attrs().Index == index {
			return l, nil
		}
	}
	return nil, netlink.LinkNotFoundError{}
}

// device is a link as netlink reports it; running means IFF_RUNNING.
func device(name string, index int, up, running bool) *netlink.Device {
	d := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: name, Index: index}}
	if up {
		d.Flags |= net.FlagUp
	}
	if running {
		d.RawFlags |= unix.IFF_RUNNING
	}
	return d
}

func linkUpdate(typ uint16, d *netlink.Device) netlink.LinkUpdate {
	u := netlink.LinkUpdate{Link: d}
	u.Header.Type = typ
	return u
}

func addrUpdate(index int, prefix string, added bool) netlink.AddrUpdate {
	p := netip.MustParsePrefix(prefix)
	return netlink.AddrUpdate{LinkIndex: index, NewAddr: added,
		LinkAddress: net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
}

// TestWatcher feeds a watcher the updates netlink would send and checks
// the events: the current state first (a missing interface is down, a name
// given twice reported once), then only changes of watched links (up means
// admin up and running; deleted is down), addresses of watched links by
// index, looked up when the address overtakes the link, and nothing after
// an index was renamed away from a watched name.
func TestWatcher(t *testing.T) {
	eth0, eth1 := device("eth0", 2, true, true), device("eth1", 3, true, true)
	events := make(chan Event, 64)
	w := &watcher{h: fakeLinks{eth0, eth1, device("eth0-old", 2, true, true), device("eth0", 7, true, true)},
		names: map[string]bool{"eth0": true, "eth9": true}, byIndex: map[int]string{}, up: map[string]bool{}, events: events}
	for _, name := range []string{"eth0", "eth9", "eth0"} {
		if err := w.snapshot(t.Context(), name); err != nil {
			t.Fatalf("snapshot(%s): %v", name, err)
		}
	}
	w.h = fakeLinks{eth1, device("eth0", 7, true, true)} // index 2 is renamed later on
	const newLink, delLink = unix.RTM_NEWLINK, unix.RTM_DELLINK
	links, addrs := make(chan netlink.LinkUpdate), make(chan netlink.AddrUpdate)
	steps := []any{
		linkUpdate(newLink, eth0),                                // unchanged
		linkUpdate(newLink, device("eth0", 2, true, false)),      // carrier loss
		linkUpdate(newLink, device("eth1", 3, false, false)),     // not watched
		addrUpdate(2, "198.18.0.1/24", true),                     //
		addrUpdate(3, "198.18.1.1/24", true),                     // eth1, looked up
		linkUpdate(newLink, device("eth9", 9, true, true)),       // appears, up
		addrUpdate(9, "2001:2::1/64", false),                     //
		linkUpdate(delLink, device("eth9", 9, true, true)),       // deleted
		linkUpdate(newLink, device("eth0-old", 2, false, false)), // renamed away
		addrUpdate(2, "198.18.0.2/24", true),                     // no longer eth0
		addrUpdate(7, "198.18.0.3/24", true),                     // eth0 again, before its link event
		linkUpdate(newLink, eth1),                                // a no-op: the update before it is done
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	errc := make(chan error, 1)
	go func() { done <- w.loop(ctx, links, addrs, errc) }()
	// The channels are unbuffered: each send completes only once the
	// loop has dealt with the update before, events included.
	for _, s := range steps {
		switch u := s.(type) {
		case netlink.LinkUpdate:
			links <- u
		case netlink.AddrUpdate:
			addrs <- u
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("loop after cancel: %v, want nil", err)
	}
	close(events)
	var got []Event
	for ev := range events {
		got = append(got, ev)
	}
	pfx := netip.MustParsePrefix
	want := []Event{
		{Kind: LinkUp, Iface: "eth0"},
		{Kind: LinkDown, Iface: "eth9"},
		{Kind: LinkDown, Iface: "eth0"},
		{Kind: AddrAdded, Iface: "eth0", Addr: pfx("198.18.0.1/24")},
		{Kind: LinkUp, Iface: "eth9"},
		{Kind: AddrRemoved, Iface: "eth9", Addr: pfx("2001:2::1/64")},
		{Kind: LinkDown, Iface: "eth9"},
		{Kind: AddrAdded, Iface: "eth0", Addr: pfx("198.18.0.3/24")},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestWatcherEnds: a subscription that closes its channel ends the loop
// with the error its callback kept, and a link lookup that fails for
// another reason than absence ends the snapshot.
func TestWatcherEnds(t *testing.T) {
	for _, which := range []string{"links", "addresses"} {
		w := &watcher{names: map[string]bool{}, byIndex: map[int]string{}, up: map[string]bool{}}
		links, addrs := make(chan netlink.LinkUpdate), make(chan netlink.AddrUpdate)
		if which == "links" {
			close(links)
		} else {
			close(addrs)
		}
		errc := make(chan error, 1)
		errc <- unix.ENOBUFS
		err := w.loop(t.Context(), links, addrs, errc)
		if !errors.Is(err, unix.ENOBUFS) || err.Error() != "watching "+which+": "+unix.ENOBUFS.Error() {
			t.Errorf("loop with %s closed: %v, want ENOBUFS, naming %s", which, err, which)
		}
	}
	w := &watcher{h: failingLinks{}, names: map[string]bool{"eth0": true}, byIndex: map[int]string{}, up: map[string]bool{}}
	if err := w.snapshot(t.Context(), "eth0"); !errors.Is(err, unix.EACCES) {
		t.Errorf("snapshot with the lookup failing: %v, want EACCES", err)
	}
}

// failingLinks is a linkGetter whose lookups fail.
type failingLinks struct{}

func (failingLinks) LinkByName(string) (netlink.Link, error) { return nil, unix.EACCES }
func (failingLinks) LinkByIndex(int) (netlink.Link, error)   { return nil, unix.EACCES }
