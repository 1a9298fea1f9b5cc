package daemon

import (
	"errors"
	"sync/atomic"

	"github.com/carpd/carpd/carp"
)

// dropReason is why a received packet was not given to a machine. The
// names are the keys of the "dropped" maps in status.
type dropReason uint8

const (
	dropShort    dropReason = iota // shorter than a header
	dropVersion                    // version nibble not ours
	dropType                       // not an advertisement
	dropLength                     // VRRP length does not match the count
	dropChecksum                   // bad checksum
	dropAuth                       // HMAC, password or auth type mismatch
	dropTTL                        // TTL/hop limit not 255
	dropID                         // no router for this vhid/vrid
	dropLoop                       // our own advertisement
	dropInterval                   // VRRP interval mismatch
	dropQueue                      // router's event queue full
	dropReplay                     // carpd counter not above the last seen
	dropSource                     // source not in accept_from / peers
	dropBowOut                     // bow-out from a node that is not the master
	dropOther                      // any other decode error
	numDrops
)

func (d dropReason) String() string {
	switch d {
	case dropShort:
		return "short"
	case dropVersion:
		return "version"
	case dropType:
		return "type"
	case dropLength:
		return "length"
	case dropChecksum:
		return "checksum"
	case dropAuth:
		return "auth"
	case dropTTL:
		return "ttl"
	case dropID:
		return "vhid"
	case dropLoop:
		return "loop"
	case dropInterval:
		return "interval"
	case dropQueue:
		return "queue"
	case dropReplay:
		return "replay"
	case dropSource:
		return "source"
	case dropBowOut:
		return "bowout"
	}
	return "other"
}

// reasonOf maps a codec or machine error to its drop reason.
func reasonOf(err error) dropReason {
	for _, m := range []struct {
		err error
		r   dropReason
	}{
		{carp.ErrShort, dropShort}, {carp.ErrVersion, dropVersion}, {carp.ErrType, dropType},
		{carp.ErrLength, dropLength}, {carp.ErrChecksum, dropChecksum}, {carp.ErrAuth, dropAuth},
		{carp.ErrTTL, dropTTL}, {carp.ErrID, dropID}, {carp.ErrLoop, dropLoop},
		{carp.ErrInterval, dropInterval}, {carp.ErrReplay, dropReplay}, {carp.ErrSource, dropSource},
		{carp.ErrBowOut, dropBowOut},
	} {
		if errors.Is(err, m.err) {
			return m.r
		}
	}
	return dropOther
}

// counters are one router's (or one socket's) packet counters. They are
// written by the reader and router goroutines and read by status, hence
// atomic.
type counters struct {
	sent, sendErrors, received, announcements, transitions atomic.Uint64
	dropped                                                [numDrops]atomic.Uint64
}

// drop counts one dropped packet.
func (c *counters) drop(r dropReason) { c.dropped[r].Add(1) }

// droppedMap returns the non-zero drop counters by name.
func (c *counters) droppedMap() map[string]uint64 {
	m := make(map[string]uint64)
	for i := range c.dropped {
		if n := c.dropped[i].Load(); n > 0 {
			m[dropReason(i).String()] = n
		}
	}
	return m
}
