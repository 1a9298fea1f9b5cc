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

// TestLabClaimWatch6 is TestLabClaimWatch for an IPv6 VIP, which n1 holds
// itself as the old master does: the watch returns on n2's unsolicited NA
// and ignores n1's own and one for another address; once n2 holds the VIP
// quietly, the watch's solicitation gets the kernel's solicited answer,
// which marks it held, and n2's announcement then ends the wait.
func TestLabClaimWatch6(t *testing.T) {
	l := lab.New(t, 2)
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip, other := netip.MustParseAddr("2001:2::100"), netip.MustParseAddr("2001:2::101")
	run(t, n1, "ip", "-6", "addr", "add", vip.String()+"/128", "dev", n1.Iface, "nodad")
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
	if err := w.Await(ctx, []netip.Addr{vip}); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrHeld) {
		t.Fatalf("Await after our own NA and another address's: %v, want the deadline alone", err)
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
		t.Fatalf("Await after n2's unsolicited NA: %v, want nil", err)
	}
	t.Logf("claim seen %v after the watch began (announced at 50 ms)", time.Since(start))

	run(t, n2, "ip", "-6", "addr", "add", vip.String()+"/128", "dev", n2.Iface, "nodad")
	in(t, n1, func() { w, err = NewClaimWatch("eth0") })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel = context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err = w.Await(ctx, []netip.Addr{vip})
	if !errors.Is(err, ErrHeld) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Await while n2 holds the VIP: %v, want ErrHeld and the deadline", err)
	}
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
