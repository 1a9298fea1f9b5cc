package supervisor

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestBackoff(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name        string
		base, limit time.Duration
		n           int
		rnd         float64
		want        time.Duration
	}{
		{"first, no jitter", s, 30 * s, 1, 0, s / 2},
		{"first, full jitter", s, 30 * s, 1, 0.999999999, s - 1},
		{"second doubles", s, 30 * s, 2, 0, s},
		{"fifth", s, 30 * s, 5, 0.5, 12 * s},
		{"capped", s, 30 * s, 6, 0, 15 * s},
		{"far past the cap", s, 30 * s, 1000, 1, 30 * s},
		{"zero failures treated as one", 2 * s, 30 * s, 0, 0, s},
		{"cap below the first doubling", 3 * s, 4 * s, 2, 0, 2 * s},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := backoff(tt.base, tt.limit, tt.n, func() float64 { return tt.rnd })
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("backoff(%v, %v, %d, %v) (-want +got):\n%s", tt.base, tt.limit, tt.n, tt.rnd, diff)
			}
		})
	}
}

func TestTail(t *testing.T) {
	tl := &tail{max: 3}
	for _, l := range []string{"a", "b", "c", "d", "e"} {
		tl.add(l)
	}
	if diff := cmp.Diff([]string{"c", "d", "e"}, tl.get()); diff != "" {
		t.Errorf("tail (-want +got):\n%s", diff)
	}
}
