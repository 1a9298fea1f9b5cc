//go:build linux

package link

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// next returns the next event within two seconds.
func next(t *testing.T, events <-chan Event) Event {
	t.Helper()
	select {
	case ev := <-events:
		return ev
	case <-time.After(2 * time.Second):
		t.Fatal("no event within 2s")
	}
	return Event{}
}

// await reads events until want arrives, within 20 events, and fails the
// test otherwise.
func await(t *testing.T, events <-chan Event, want Event) {
	t.Helper()
	var seen []Event
	for range 20 {
		ev := next(t, events)
		if ev == want {
			return
		}
		seen = append(seen, ev)
	}
	t.Fatalf("%v did not arrive; saw %v", want, seen)
}

func TestWatch(t *testing.T) {
	l := newLab(t)
	l.bridge("br0")
	l.node("n1")
	port := l.plug("n1", "eth0", "br0", "198.18.0.1/24")
	l.plug("n1", "eth1", "br0", "198.18.1.1/24") // not watched
	ns := l.nodes["n1"]

	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan Event, 64)
	done := make(chan error, 1)
	go func() {
		done <- within(ns, func() error { return Watch(ctx, []string{"eth0", "eth9"}, events) })
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(2 * time.Second):
			t.Error("Watch did not end within 2s of cancel")
		}
	}()

	v4 := netip.MustParsePrefix("198.18.0.1/24")
	// The current state comes first: the links in the order given, then
	// the addresses; nothing of eth1.
	want := []Event{{Kind: LinkUp, Iface: "eth0"}, {Kind: LinkDown, Iface: "eth9"}, {Kind: AddrAdded, Iface: "eth0", Addr: v4}}
	if diff := cmp.Diff(want, initial(t, events, len(want)), cmp.Comparer(func(x, y netip.Prefix) bool { return x == y })); diff != "" {
		t.Errorf("initial events (-want +got):\n%s", diff)
	}

	steps := []struct {
		name string
		cmd  []string
		want Event
	}{
		{"carrier loss", []string{"-n", l.sw, "link", "set", port, "down"}, Event{Kind: LinkDown, Iface: "eth0"}},
		{"carrier back", []string{"-n", l.sw, "link", "set", port, "up"}, Event{Kind: LinkUp, Iface: "eth0"}},
		{"address removed", []string{"-n", l.prefix + "n1", "addr", "del", "198.18.0.1/24", "dev", "eth0"},
			Event{Kind: AddrRemoved, Iface: "eth0", Addr: v4}},
		{"address added", []string{"-n", l.prefix + "n1", "addr", "add", "198.18.0.1/24", "dev", "eth0"},
			Event{Kind: AddrAdded, Iface: "eth0", Addr: v4}},
		{"admin down", []string{"-n", l.prefix + "n1", "link", "set", "eth0", "down"}, Event{Kind: LinkDown, Iface: "eth0"}},
		{"watched interface appears", []string{"-n", l.prefix + "n1", "link", "add", "eth9", "type", "veth", "peer", "name", "eth9p"},
			Event{}}, // it was down already: no event
		{"peer up", []string{"-n", l.prefix + "n1", "link", "set", "eth9p", "up"}, Event{}},
		{"it comes up", []string{"-n", l.prefix + "n1", "link", "set", "eth9", "up"}, Event{Kind: LinkUp, Iface: "eth9"}},
		{"it is deleted", []string{"-n", l.prefix + "n1", "link", "del", "eth9"}, Event{Kind: LinkDown, Iface: "eth9"}},
	}
	for _, s := range steps {
		start := time.Now()
		l.ip(s.cmd...)
		if s.want == (Event{}) {
			continue
		}
		await(t, events, s.want)
		t.Logf("%s: %v after %v", s.name, s.want.Kind, time.Since(start).Round(time.Microsecond))
	}
}

// initial returns the first n events, leaving out IPv6 addresses (the
// link-local address comes and goes with the link).
func initial(t *testing.T, events <-chan Event, n int) []Event {
	t.Helper()
	var got []Event
	for len(got) < n {
		ev := next(t, events)
		if ev.Kind == AddrAdded && ev.Addr.Addr().Is6() {
			continue
		}
		got = append(got, ev)
	}
	return got
}
