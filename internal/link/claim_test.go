//go:build linux

package link

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
)

// TestLabClaimWatch checks that a claim watch on n1 returns on n2's
// gratuitous ARP for a watched VIP, ignores n1's own announcement and an
// announcement of another address, and finds a VIP n2 already holds by
// its probe.
func TestLabClaimWatch(t *testing.T) {
	l := lab.New(t, 2, lab.WithoutIPv6())
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip, other := netip.MustParseAddr("198.18.0.100"), netip.MustParseAddr("198.18.0.101")
	var w *ClaimWatch
	var err error
	in(t, n1, func() { w, err = NewClaimWatch("eth0") })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	announce := func(n *lab.Node, addr netip.Addr) {
		t.Helper()
		var a *Announcer
		in(t, n, func() { a, err = NewAnnouncer("eth0") })
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if _, err := a.Announce([]netip.Addr{addr}); err != nil {
			t.Fatal(err)
		}
	}

	announce(n1, vip)
	announce(n2, other)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if err := w.Await(ctx, []netip.Addr{vip}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Await after our own announcement and another address's: %v, want the deadline", err)
	}

	done := make(chan error, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		done <- w.Await(ctx, []netip.Addr{other, vip})
	}()
	time.Sleep(50 * time.Millisecond)
	announce(n2, vip)
	if err := <-done; err != nil {
		t.Fatalf("Await after n2's gratuitous ARP: %v, want nil", err)
	}
	t.Logf("claim seen %v after the watch began (announced at 50 ms)", time.Since(start))

	// n2 holds the VIP already, its gratuitous ARP long gone: the probe
	// Await sends gets the kernel's answer, which marks the VIP held but
	// is no announcement.
	run(t, n2, "ip", "addr", "add", vip.String()+"/32", "dev", n2.Iface)
	// A fresh watch: the first one still holds the rest of n2's burst.
	in(t, n1, func() { w, err = NewClaimWatch("eth0") })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel = context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	// An IPv6 VIP among them is skipped, not an error.
	err = w.Await(ctx, []netip.Addr{netip.MustParseAddr("2001:2::100"), vip})
	if !errors.Is(err, ErrHeld) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Await while n2 holds the VIP: %v, want ErrHeld and the deadline", err)
	}
	// Its announcement then ends the wait.
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		defer cancel()
		done <- w.Await(ctx, []netip.Addr{vip})
	}()
	time.Sleep(50 * time.Millisecond)
	announce(n2, vip)
	if err := <-done; err != nil {
		t.Fatalf("Await while n2 holds the VIP, then announces it: %v, want nil", err)
	}
}
