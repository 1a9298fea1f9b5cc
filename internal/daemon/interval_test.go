package daemon

import (
	"net/netip"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
)

// TestCARPIntervalShown: status and the bow-out hold use the interval the
// machine advertises at, carp.Interval. advbase 0 advskew 0, refused by
// carp.Config, would show 1/256 s (OpenBSD carp_send_ad), not 0; it has no
// machine to hold with (hold 0: not checked).
func TestCARPIntervalShown(t *testing.T) {
	tests := []struct {
		base, skew uint8
		shown      string
		hold       time.Duration
	}{
		{0, 0, "3.90625ms", 0},
		{0, 26, "101.5625ms", 201562500 * time.Nanosecond},
		{1, 100, "1.390625s", 1490625 * time.Microsecond},
		{255, 254, "4m15.9921875s", maxHold},
	}
	for _, tt := range tests {
		ad := carp.Advert{Proto: carp.ProtoCARP, AdvBase: tt.base, AdvSkew: tt.skew}
		if got := advertised(carp.ProtoCARP, ad).Interval; got != tt.shown {
			t.Errorf("advbase %d advskew %d: status interval %q, want %q", tt.base, tt.skew, got, tt.shown)
		}
		if tt.hold == 0 {
			continue
		}
		c := carp.DefaultConfig(carp.ProtoCARP, 7)
		c.Addr, c.AdvBase, c.AdvSkew = netip.MustParseAddr("198.18.0.1"), tt.base, tt.skew
		m, err := carp.NewMachine(c)
		if err != nil {
			t.Fatal(err)
		}
		if got := (&router{m: m}).holdTime(); got != tt.hold {
			t.Errorf("advbase %d advskew %d: holdTime %v, want %v", tt.base, tt.skew, got, tt.hold)
		}
	}
}
