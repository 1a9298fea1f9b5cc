package carp

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestNextCounter(t *testing.T) {
	now := CounterEpoch.Add(90 * 24 * time.Hour)
	ms := uint64(90 * 24 * time.Hour / time.Millisecond)
	c := NextCounter(0, 0x42, now)
	if !IsCarpdCounter(c) || CounterNode(c) != 0x42 || c&counterTimeMask != ms || !CounterTime(c).Equal(now) {
		t.Fatalf("NextCounter(0) = %#x: tag %v node %#x time %v, want tag, 0x42, %v",
			c, IsCarpdCounter(c), CounterNode(c), CounterTime(c), now)
	}
	// Twice in one millisecond, and with the clock stepped back: still
	// increasing.
	c2 := NextCounter(c, 0x42, now)
	c3 := NextCounter(c2, 0x42, now.Add(-time.Hour))
	if !(c < c2 && c2 < c3) || c3-c != 2 {
		t.Errorf("counters %#x %#x %#x, want each one above the last", c, c2, c3)
	}
	// Time moving on sets the time part, not prev+1.
	if c4 := NextCounter(c3, 0x42, now.Add(time.Second)); c4&counterTimeMask != ms+1000 {
		t.Errorf("a second later: time part %d, want %d", c4&counterTimeMask, ms+1000)
	}
	// A foreign prev (ucarp's random counter adopted by nobody here) is
	// ignored.
	if c5 := NextCounter(0x0123456789abcdef, 0x42, now); c5 != c {
		t.Errorf("after a foreign counter: %#x, want %#x", c5, c)
	}
}

func TestNodeByte(t *testing.T) {
	// Two addresses of one /24 never share a node byte.
	seen := map[uint8]netip.Addr{}
	for i := range 256 {
		a := netip.AddrFrom4([4]byte{198, 18, 0, byte(i)})
		n := NodeByte(a)
		if other, ok := seen[n]; ok {
			t.Fatalf("%v and %v share node byte %#x", a, other, n)
		}
		seen[n] = a
	}
	if NodeByte(netip.MustParseAddr("198.18.0.1")) == NodeByte(netip.MustParseAddr("198.18.0.2")) {
		t.Error("neighbours share a node byte")
	}
}

func TestReplayWindow(t *testing.T) {
	base := CounterEpoch.Add(time.Hour)
	a1 := NextCounter(0, 1, base)
	a2 := NextCounter(a1, 1, base.Add(time.Second))
	b1 := NextCounter(0, 2, base.Add(-time.Minute)) // another node, clock behind
	var w ReplayWindow
	steps := []struct {
		name     string
		c, floor uint64
		want     error
	}{
		{"first from node 1", a1, 0, nil},
		{"same again", a1, 0, ErrReplay},
		{"newer", a2, 0, nil},
		{"older after newer", a1, 0, ErrReplay},
		{"another node with an earlier clock", b1, 0, nil},
		{"ucarp's random counter", 0x0123456789abcdef, 0, nil},
		{"ucarp's counter again: not judged", 0x0123456789abcdef, 0, nil},
		// A replay of our own advert (node 3) never seen from anyone else.
		{"our own advert replayed", NextCounter(0, 3, base), NextCounter(0, 3, base.Add(time.Second)), ErrReplay},
		// ucarp adopts our counter and sends it plus one.
		{"ucarp's copy of our counter", NextCounter(0, 3, base.Add(time.Second)) + 1,
			NextCounter(0, 3, base.Add(time.Second)), nil},
		{"floor of another node does not apply", NextCounter(0, 4, base), NextCounter(0, 3, base.Add(time.Hour)), nil},
	}
	for _, s := range steps {
		if err := w.Check(s.c, s.floor); !errors.Is(err, s.want) || (err == nil) != (s.want == nil) {
			t.Errorf("%s: Check(%#x) = %v, want %v", s.name, s.c, err, s.want)
		}
	}
}

func TestReplayWindowBounded(t *testing.T) {
	var w ReplayWindow
	base := CounterEpoch.Add(time.Hour)
	for n := range 256 {
		if err := w.Check(NextCounter(0, uint8(n), base.Add(time.Duration(n)*time.Second)), 0); err != nil {
			t.Fatalf("node %d: %v", n, err)
		}
	}
	if len(w.last) != maxWindowNodes {
		t.Fatalf("window holds %d nodes, want %d", len(w.last), maxWindowNodes)
	}
	// The newest nodes stayed, the oldest went.
	if _, ok := w.last[255]; !ok {
		t.Error("newest node evicted")
	}
	if _, ok := w.last[0]; ok {
		t.Error("oldest node kept")
	}
}
