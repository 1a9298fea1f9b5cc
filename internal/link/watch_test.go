//go:build linux

package link

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
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
	l := lab.New(t, 1)
	n1 := l.Nodes[0]
	n1.Attach(1) // eth1, 198.18.1.1/24: not watched

	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan Event, 64)
	done := make(chan error, 1)
	go func() {
		done <- n1.Do(func() error { return Watch(ctx, []string{"eth0", "eth9"}, events) })
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

	// ip runs ip(8) with args in n1.
	ip := func(args ...string) func() {
		return func() { run(t, n1, append([]string{"ip"}, args...)...) }
	}
	steps := []struct {
		name string
		do   func()
		want Event
	}{
		{"carrier loss", n1.LinkDown, Event{Kind: LinkDown, Iface: "eth0"}},
		{"carrier back", n1.LinkUp, Event{Kind: LinkUp, Iface: "eth0"}},
		{"address removed", ip("addr", "del", "198.18.0.1/24", "dev", "eth0"), Event{Kind: AddrRemoved, Iface: "eth0", Addr: v4}},
		{"address added", ip("addr", "add", "198.18.0.1/24", "dev", "eth0"), Event{Kind: AddrAdded, Iface: "eth0", Addr: v4}},
		{"admin down", ip("link", "set", "eth0", "down"), Event{Kind: LinkDown, Iface: "eth0"}},
		{"watched interface appears", ip("link", "add", "eth9", "type", "veth", "peer", "name", "eth9p"),
			Event{}}, // it was down already: no event
		{"peer up", ip("link", "set", "eth9p", "up"), Event{}},
		{"it comes up", ip("link", "set", "eth9", "up"), Event{Kind: LinkUp, Iface: "eth9"}},
		{"it is deleted", ip("link", "del", "eth9"), Event{Kind: LinkDown, Iface: "eth9"}},
	}
	for _, s := range steps {
		start := time.Now()
		s.do()
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
