package heartbeat

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/carp"
)

func TestRoundTrip(t *testing.T) {
	addr := netip.MustParseAddr("198.18.0.11")
	for _, b := range []Beat{
		{Node: "198.18.0.11", Boot: 1<<63 + 5, Seq: 42, Router: "carp1", Proto: carp.ProtoCARP, ID: 1,
			State: carp.Master, Interval: time.Second + 50*time.Second/256, Every: Quiet + 50*time.Second/256,
			Advert: carp.Advert{Src: addr, AdvBase: 1, AdvSkew: 50, Demote: 3}},
		{Node: "n\"2", Seq: 1, Router: "vrrp7", Proto: carp.ProtoVRRP3, ID: 7, State: carp.Init, Fault: true,
			Interval: 200 * time.Millisecond, Every: 200 * time.Millisecond, Want: true,
			Advert: carp.Advert{Src: netip.MustParseAddr("2001:2::1"), Priority: 90}},
	} {
		p := Append(nil, &b)
		got, err := Parse(p)
		if err != nil {
			t.Fatalf("Parse(%s): %v", p, err)
		}
		want := b
		want.Advert.Proto, want.Advert.ID, want.Advert.Interval = b.Proto, b.ID, b.Interval
		if got != want {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", p, got, want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	ok := `{"node":"a","boot":1,"seq":1,"router":"r","proto":"carp","id":1,"state":"MASTER","addr":"198.18.0.1","advbase":1,"advskew":0,"demote":0,"priority":0,"interval_ns":1000000000}`
	if _, err := Parse([]byte(ok)); err != nil {
		t.Fatalf("valid payload refused: %v", err)
	}
	for name, p := range map[string]string{
		"too long":    ok + strings.Repeat(" ", MaxLen),
		"not json":    "MASTER",
		"proto":       strings.Replace(ok, `"carp"`, `"hsrp"`, 1),
		"state":       strings.Replace(ok, `"MASTER"`, `"LEADER"`, 1),
		"addr":        strings.Replace(ok, `"198.18.0.1"`, `"x"`, 1),
		"no interval": strings.Replace(ok, `1000000000`, `0`, 1),
		"every":       strings.Replace(ok, `}`, `,"every_ns":-1}`, 1),
		"want":        strings.Replace(ok, `}`, `,"want":"yes"}`, 1),
	} {
		if _, err := Parse([]byte(p)); err == nil {
			t.Errorf("%s: accepted %s", name, p)
		}
	}
}

// A sender that predates every_ns beat every advert interval, at least
// Floor apart.
func TestPeriod(t *testing.T) {
	for _, tc := range []struct {
		b    Beat
		want time.Duration
	}{
		{Beat{Interval: time.Second}, time.Second},
		{Beat{Interval: 50 * time.Millisecond}, Floor},
		{Beat{Interval: 100 * time.Millisecond, Every: Quiet}, Quiet},
	} {
		if got := tc.b.Period(); got != tc.want {
			t.Errorf("Period of %+v = %v, want %v", tc.b, got, tc.want)
		}
	}
}

func TestNewer(t *testing.T) {
	last := &Beat{Boot: 7, Seq: 10}
	for _, tc := range []struct {
		b    Beat
		want bool
	}{{Beat{Boot: 7, Seq: 11}, true}, {Beat{Boot: 7, Seq: 10}, false}, {Beat{Boot: 7, Seq: 3}, false},
		{Beat{Boot: 8, Seq: 1}, true}} {
		if got := Newer(&tc.b, last); got != tc.want {
			t.Errorf("Newer(%+v, %+v) = %v", tc.b, last, got)
		}
	}
}

// The router goroutine encodes nothing (the publisher does), but the
// publisher's encoding into a reused buffer must not allocate either.
func TestAppendAllocs(t *testing.T) {
	b := Beat{Node: "198.18.0.11", Router: "carp1", Proto: carp.ProtoCARP, ID: 1, State: carp.Master,
		Interval: time.Second, Advert: carp.Advert{Src: netip.MustParseAddr("198.18.0.11")}}
	buf := make([]byte, 0, MaxLen)
	if n := testing.AllocsPerRun(100, func() { buf = Append(buf[:0], &b) }); n != 0 {
		t.Errorf("Append allocates %v times", n)
	}
}
