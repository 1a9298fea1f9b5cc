package mqttstream

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSummarize(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name string
		sent int
		got  []Arrival
		want Result
	}{
		{name: "nothing", sent: 0, want: Result{}},
		{name: "none arrived", sent: 3, want: Result{Sent: 3, Lost: 3}},
		{name: "one arrival, no gap", sent: 1, got: []Arrival{{1, at(0)}},
			want: Result{Sent: 1, Received: 1}},
		{
			name: "all in order",
			sent: 3,
			got:  []Arrival{{1, at(0)}, {2, at(10)}, {3, at(25)}},
			want: Result{Sent: 3, Received: 3, Gap: 15 * time.Millisecond, GapEnd: at(25)},
		},
		{
			name: "outage loses two, redelivery duplicates one",
			sent: 6,
			got:  []Arrival{{1, at(0)}, {2, at(10)}, {2, at(900)}, {5, at(910)}, {6, at(920)}},
			want: Result{Sent: 6, Received: 5, Lost: 2, Dups: 1, Gap: 890 * time.Millisecond, GapEnd: at(900)},
		},
		{
			name: "out of order: the gap is between arrivals as they came",
			sent: 3,
			got:  []Arrival{{2, at(0)}, {1, at(40)}, {3, at(50)}},
			want: Result{Sent: 3, Received: 3, Gap: 40 * time.Millisecond, GapEnd: at(40)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Summarize(tc.sent, tc.got)); diff != "" {
				t.Errorf("Summarize (-want +got):\n%s", diff)
			}
		})
	}
}
