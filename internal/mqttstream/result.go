package mqttstream

import "time"

// Result sums up a stream.
type Result struct {
	Sent, Received, Lost, Dups int
	// Gap is the longest time between two arrivals, and GapEnd the
	// arrival that ended it (zero without two arrivals).
	Gap    time.Duration
	GapEnd time.Time
}

// Summarize counts the arrivals of a stream that sent sequence numbers
// 1..sent: a number received twice is a duplicate, one never received is
// lost, and the gap is measured between arrivals in the order they came.
func Summarize(sent int, got []Arrival) Result {
	r := Result{Sent: sent, Received: len(got)}
	seen := make(map[int]bool, len(got))
	for i, a := range got {
		if seen[a.Seq] {
			r.Dups++
		}
		seen[a.Seq] = true
		if i > 0 {
			if d := a.At.Sub(got[i-1].At); d > r.Gap {
				r.Gap, r.GapEnd = d, a.At
			}
		}
	}
	for seq := 1; seq <= sent; seq++ {
		if !seen[seq] {
			r.Lost++
		}
	}
	return r
}
