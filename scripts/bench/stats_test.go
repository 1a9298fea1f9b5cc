package bench

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestStats(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []float64
		want Stats
	}{
		{"none", nil, Stats{}},
		{"only failures", []float64{-1, -1}, Stats{}},
		{"one", []float64{5}, Stats{N: 1, Median: 5, P90: 5, Min: 5, Max: 5}},
		{"odd unsorted, a failure skipped", []float64{30, -1, 10, 20}, Stats{N: 3, Median: 20, P90: 30, Min: 10, Max: 30}},
		{"even", []float64{40, 10, 20, 30}, Stats{N: 4, Median: 25, P90: 40, Min: 10, Max: 40}},
		{"ten: p90 is the ninth", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10},
			Stats{N: 10, Median: 5.5, P90: 9, Min: 1, Max: 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, stats(tc.in)); diff != "" {
				t.Errorf("stats(%v) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestIntervalSeconds(t *testing.T) {
	got := []float64{intervalSeconds("1s"), intervalSeconds("100ms"), intervalSeconds("2.5s")}
	if diff := cmp.Diff([]float64{1, 0.1, 2.5}, got); diff != "" {
		t.Errorf("intervalSeconds (-want +got):\n%s", diff)
	}
}
