package carp

import (
	"net/netip"
	"time"
)

// The CARP counter is the only part of an advertisement's variable fields
// that the HMAC covers (docs/protocol.md §2.2): advbase, advskew, demote and
// the IP source are not. OpenBSD sends one random value for ever, FreeBSD
// and ucarp start at a random value, add one per advertisement and adopt
// the counter of every advertisement they accept. Nobody checks it, so
// one captured advertisement can be replayed for ever, rewritten as a
// bow-out or as a better master.
//
// carpd's own counter makes its advertisements non-replayable between
// carpd nodes without breaking any of the others:
//
//	bits 63..48  CounterTag (0xCA4D), "this counter is carpd's"
//	bits 47..40  the sender's node byte (NodeByte of its source address)
//	bits 39..0   milliseconds since CounterEpoch, strictly increasing
//
// A receiver keeps, per node byte, the highest tagged counter it has
// authenticated (ReplayWindow) and drops any tagged counter not above it.
// The tag, node byte and time are inside the HMAC, so an attacker without
// the key can neither produce a newer counter nor strip the tag. Untagged
// counters (ucarp, BSD) are not judged, as before.
const (
	// CounterTag marks a counter as carpd's. A random 64-bit counter of
	// another implementation carries it with probability 2⁻¹⁶.
	CounterTag = 0xCA4D
	// counterTimeBits hold milliseconds: 2⁴⁰ ms is 34.8 years.
	counterTimeBits = 40
	counterTimeMask = 1<<counterTimeBits - 1
)

// CounterEpoch is the zero of the counter's clock.
var CounterEpoch = time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC)

// NodeByte is the node byte carpd puts in its counter: the XOR of the
// bytes of its source address. Two addresses in one /24 (or one IPv6 /120)
// always differ, so the two nodes of a segment never share a window.
func NodeByte(src netip.Addr) uint8 {
	var x uint8
	for _, b := range src.AsSlice() {
		x ^= b
	}
	return x
}

// NextCounter returns the counter to send after prev: the clock at now in
// milliseconds since CounterEpoch, but always above prev, so two
// advertisements within a millisecond, or a clock stepped back while
// running, still give increasing counters. A prev that is not carpd's
// (zero at start) only sets the floor of the time part.
func NextCounter(prev uint64, node uint8, now time.Time) uint64 {
	ms := uint64(max(now.Sub(CounterEpoch).Milliseconds(), 0)) & counterTimeMask
	if IsCarpdCounter(prev) {
		if last := prev & counterTimeMask; ms <= last {
			ms = (last + 1) & counterTimeMask
		}
	}
	return CounterTag<<48 | uint64(node)<<counterTimeBits | ms
}

// IsCarpdCounter reports whether c carries carpd's tag.
func IsCarpdCounter(c uint64) bool { return c>>48 == CounterTag }

// CounterNode returns the node byte of a carpd counter.
func CounterNode(c uint64) uint8 { return uint8(c >> counterTimeBits) }

// CounterTime returns the time a carpd counter was made.
func CounterTime(c uint64) time.Time {
	return CounterEpoch.Add(time.Duration(c&counterTimeMask) * time.Millisecond)
}

// maxWindowNodes bounds a ReplayWindow: a segment has a handful of
// carpd nodes, and only authenticated counters ever enter it.
const maxWindowNodes = 64

// ReplayWindow remembers the highest carpd counter authenticated from
// each node byte of one virtual router. The zero value is ready to use.
// It is not safe for concurrent use.
type ReplayWindow struct {
	last map[uint8]uint64
}

// Check judges an authenticated counter: ErrReplay when it is carpd's and
// not above the highest seen from its node byte (nor above floor, which
// the caller sets to its own last sent counter so a replay of its own
// advertisements is caught too; 0 = none). A counter that passes is
// recorded. Counters of other implementations always pass.
//
// Call it only after the HMAC has verified, so a forged packet can never
// move the window.
func (w *ReplayWindow) Check(c, floor uint64) error {
	if !IsCarpdCounter(c) {
		return nil
	}
	node := CounterNode(c)
	if IsCarpdCounter(floor) && CounterNode(floor) == node && c <= floor {
		return ErrReplay
	}
	if last, ok := w.last[node]; ok && c <= last {
		return ErrReplay
	}
	if w.last == nil {
		w.last = make(map[uint8]uint64)
	}
	if _, ok := w.last[node]; !ok && len(w.last) >= maxWindowNodes {
		w.evictOldest()
	}
	w.last[node] = c
	return nil
}

// evictOldest forgets the node whose last counter is the oldest.
func (w *ReplayWindow) evictOldest() {
	var oldest uint8
	first := true
	for n, c := range w.last {
		if first || c&counterTimeMask < w.last[oldest]&counterTimeMask {
			oldest, first = n, false
		}
	}
	delete(w.last, oldest)
}
