//go:build linux

package main

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
)

// TestLabLeftoverIPv6 kills carpd (SIGKILL) while it is MASTER of an
// IPv6 VIP, so the VIP stays behind, and starts it again with another VIP
// for the router: the old VIP, which no router lists any more and which
// has no label to find it by, is removed by its mark (IFA_PROTO 112) and
// logged; an IPv6 address added by hand stays.
func TestLabLeftoverIPv6(t *testing.T) {
	t.Parallel()
	l := lab.New(t, 1)
	n := l.Nodes[0]
	old, next := netip.MustParseAddr("2001:2::51"), netip.MustParseAddr("2001:2::52")
	foreign := netip.MustParseAddr("2001:2::53")
	a := startCarpd(t, n, "", vrrpArgs(n, "51", "150", old.String())...)
	a.waitState(t, "MASTER", 10*time.Second)
	lab.Wait(t, 3*time.Second, "VIP on n1", func() bool { return n.HasAddr(old) })
	if err := a.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.Wait(t.Context())
	if !n.HasAddr(old) {
		t.Fatalf("%v gone after SIGKILL; the test needs it left behind", old)
	}
	run := func(argv ...string) {
		t.Helper()
		if out, err := n.Run(t.Context(), argv...); err != nil {
			t.Fatalf("%v: %v: %s", argv, err, out)
		}
	}
	run("ip", "-6", "addr", "add", foreign.String()+"/128", "dev", n.Iface, "nodad")
	b := startCarpd(t, n, a.dir, vrrpArgs(n, "51", "150", next.String())...)
	b.waitState(t, "MASTER", 10*time.Second)
	lab.Wait(t, 3*time.Second, "new VIP on n1", func() bool { return n.HasAddr(next) })
	if n.HasAddr(old) {
		t.Errorf("leftover %v still on %s", old, n.Iface)
	}
	if !n.HasAddr(foreign) {
		t.Errorf("%v, added by hand, was removed", foreign)
	}
	if log := readLog(t, b); !strings.Contains(log, `"msg":"removed leftover VIP no router lists","iface":"eth0","vip":"2001:2::51/128"`) {
		t.Errorf("no log line for the removal of %v:\n%s", old, log)
	}
}
