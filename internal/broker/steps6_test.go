//go:build linux

package broker

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestIPv6ClientReset: with an IPv6 static address, an IPv6 VIP gets its
// DNAT rule, and on demotion client-reset resets its clients as for IPv4;
// the router's IPv4 VIP, of the other family, gets neither.
func TestIPv6ClientReset(t *testing.T) {
	cfg := testBroker()
	cfg.Addr = netip.MustParseAddrPort("[2001:2::1]:1883")
	s, f := newTestService(t, cfg)
	vips := []netip.Prefix{netip.MustParsePrefix("2001:2::100/128"), netip.MustParsePrefix("198.18.0.100/32")}
	for _, err := range append(promote(s, "vr1", vips), demote(s, "vr1", vips)...) {
		if err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"remove table",
		"apply [[2001:2::100]:1883->[2001:2::1]:1883]",
		"flush 2001:2::100 [1883]",
		"flush 198.18.0.100 [1883]",
		"reset 2001:2::100 [1883] 2001:2::1",
		"remove table",
		"flush 2001:2::100 [1883]",
		"flush 198.18.0.100 [1883]",
	}
	if diff := cmp.Diff(want, f.rec.trace()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}
