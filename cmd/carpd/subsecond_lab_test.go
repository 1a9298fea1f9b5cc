//go:build linux

package main

import (
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
)

// TestLabSubsecondCARP: a CARP pair at advbase 0, advskew 26 (master) and
// 92 (backup), holds for 15 s without a single transition, and the backup
// takes over within its master-down interval after the master's death.
// Before the master-down fix in carp/machine_carp.go, the backup took
// every advert of the master as one that "will time out" (docs/protocol.md)
// and claimed about three times a second.
//
// Not parallel: a backup whose master-down interval is 359 ms reads a
// stall of the whole machine of about a quarter second as a dead master,
// and the other lab tests of this package are the likeliest source of one.
func TestLabSubsecondCARP(t *testing.T) {
	const (
		hold = 15 * time.Second
		// n2's master-down interval at advbase 0: 3 × 0 + 92/256 s
		// (FreeBSD and ucarp formula, carpd's default).
		bound = 92 * time.Second / 256
		// Slack for the ARP probe period, the executor's steps and a
		// loaded CI machine running the race detector.
		slack = time.Second
	)
	l := lab.New(t, 2, lab.WithoutIPv6())
	n1, n2 := l.Nodes[0], l.Nodes[1]
	vip := netip.MustParseAddr("198.18.0.41")
	args := func(n *lab.Node, skew string) []string {
		return []string{"-i", n.Iface, "-s", n.IP4.Addr().String(), "-v", "41", "-p", "s3cret", "-a", vip.String(),
			"-b", "0", "-k", skew}
	}
	a := startCarpd(t, n1, "", args(n1, "26")...)
	a.waitState(t, "MASTER", 10*time.Second)
	b := startCarpd(t, n2, "", args(n2, "92")...)
	b.waitState(t, "BACKUP", 5*time.Second)
	// Entries into MASTER so far: n1's election only.
	masters := func() (int, int) {
		return lab.CountLines(a.Output(), `"msg":"transition"`, `"to":"MASTER"`),
			lab.CountLines(b.Output(), `"msg":"transition"`, `"to":"MASTER"`)
	}
	m1, m2 := masters()
	if m1 != 1 || m2 != 0 {
		t.Fatalf("before the hold: %d entries into MASTER on n1, %d on n2; want 1 and 0", m1, m2)
	}
	time.Sleep(hold)
	e1, e2 := masters()
	spurious := e1 - m1 + e2 - m2
	t.Logf("%v at advbase 0, advskew 26/92: %d spurious entries into MASTER (n1 %d, n2 %d)", hold, spurious,
		e1-m1, e2-m2)
	if spurious != 0 {
		t.Errorf("%d spurious entries into MASTER in %v, want 0", spurious, hold)
	}
	if mac, err := arpOwner(l, vip); err != nil || mac.String() != n1.MAC.String() {
		t.Fatalf("after the hold, ARP for %v answered by %v (%v), want n1 %v", vip, mac, err, n1.MAC)
	}

	// Node death: the link goes first, so nothing n1 sends after that
	// reaches the segment.
	start := time.Now()
	n1.LinkDown()
	if err := a.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killNamespace(t, n1)
	w, err := l.WatchTakeover(vip, n2.MAC, start, bound+5*time.Second, 10*time.Millisecond, 500*time.Millisecond)
	if err != nil {
		t.Fatalf("probing ARP: %v", err)
	}
	t.Logf("takeover after n1's death: %v (master-down %v, limit %v), answers %v, flaps %d",
		w.Took.Round(time.Millisecond), bound, bound+slack, w.Owners, w.Flaps())
	switch {
	case w.Took == 0:
		t.Errorf("n2 did not answer ARP for %v within %v of n1's death", vip, bound+5*time.Second)
	case w.Took > bound+slack:
		t.Errorf("takeover took %v, want at most master-down %v + %v", w.Took, bound, slack)
	}
	if w.Flaps() != 0 {
		t.Errorf("the VIP's owner changed %d times after n2's first answer", w.Flaps())
	}
}
