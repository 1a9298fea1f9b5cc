// Package heartbeat is the wire form of carpd's heartbeat: what each node
// publishes, per virtual router, on the peer's MQTT broker so the peer
// knows it is alive and what it believes even when adverts are lost
// (docs/daemon.md, "Heartbeat"). It carries no secret: the probe's
// authenticated MQTT connection is what makes it trustworthy.
package heartbeat

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/carpd/carpd/carp"
)

// MaxLen bounds a heartbeat payload; anything longer is refused unread, as
// anyone the broker lets publish on the topic chooses its size.
const MaxLen = 512

// Floor is the shortest time between the periodic heartbeats of a router,
// whatever its advert interval: CARP can advertise every 1/256 s, and
// MQTT is not the place for that rate.
const Floor = 100 * time.Millisecond

// Quiet is the longest time between the periodic heartbeats of a router
// while neither node needs them at the advert rate (docs/daemon.md,
// "Heartbeat"): adverts arrive, so only a change of state matters, and
// that is published at once. At fast timers most of the heartbeat's cost
// was MQTT traffic nobody read.
const Quiet = time.Second

// Beat is one heartbeat of one virtual router.
type Beat struct {
	// Node is the sender's broker address, as the probe names nodes.
	Node string
	// Boot is chosen at random when carpd starts, so a restarted peer,
	// whose Seq starts over, is not taken for a replay.
	Boot uint64
	Seq  uint64
	// Router is the sender's name for it; Proto and ID identify it.
	Router string
	Proto  carp.Proto
	ID     uint8
	State  carp.State
	// Fault marks an INIT held by a fault (shown as FAULT).
	Fault bool
	// Advert is what the router advertises (demotion applied), with its
	// primary address in Src: the preference the peer compares.
	Advert carp.Advert
	// Interval is the router's advert interval.
	Interval time.Duration
	// Every is the time to the sender's next periodic heartbeat: its
	// advert interval (at least Floor) while fast, else at least Quiet.
	// Zero from a sender that predates it, which beat every Interval.
	Every time.Duration
	// Want asks the peer for heartbeats at its advert rate: the sender is
	// a BACKUP that has heard no advert for half its master-down
	// interval, so its rules need the peer's view fresh.
	Want bool
}

// Period is the time to the sender's next periodic heartbeat.
func (b *Beat) Period() time.Duration {
	if b.Every > 0 {
		return b.Every
	}
	return max(b.Interval, Floor)
}

// StateName is State as status shows it: INIT, BACKUP, MASTER or FAULT.
func (b *Beat) StateName() string {
	if b.Fault && b.State == carp.Init {
		return "FAULT"
	}
	return b.State.String()
}

// wire is the JSON form.
type wire struct {
	Node       string `json:"node"`
	Boot       uint64 `json:"boot"`
	Seq        uint64 `json:"seq"`
	Router     string `json:"router"`
	Proto      string `json:"proto"`
	ID         uint8  `json:"id"`
	State      string `json:"state"`
	Addr       string `json:"addr"`
	AdvBase    uint8  `json:"advbase"`
	AdvSkew    uint8  `json:"advskew"`
	Demote     uint8  `json:"demote"`
	Priority   uint8  `json:"priority"`
	IntervalNS int64  `json:"interval_ns"`
	EveryNS    int64  `json:"every_ns"`
	Want       bool   `json:"want"`
}

// Append appends b's JSON encoding to dst; with a dst of enough capacity
// it does not allocate.
func Append(dst []byte, b *Beat) []byte {
	str := func(k, v string) {
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, `":`...)
		dst = strconv.AppendQuote(dst, v)
		dst = append(dst, ',')
	}
	num := func(k string, v uint64) {
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, `":`...)
		dst = strconv.AppendUint(dst, v, 10)
		dst = append(dst, ',')
	}
	dst = append(dst, '{')
	str("node", b.Node)
	num("boot", b.Boot)
	num("seq", b.Seq)
	str("router", b.Router)
	str("proto", b.Proto.String())
	num("id", uint64(b.ID))
	str("state", b.StateName())
	dst = append(dst, `"addr":"`...)
	dst = b.Advert.Src.AppendTo(dst)
	dst = append(dst, `",`...)
	num("advbase", uint64(b.Advert.AdvBase))
	num("advskew", uint64(b.Advert.AdvSkew))
	num("demote", uint64(b.Advert.Demote))
	num("priority", uint64(b.Advert.Priority))
	dst = append(dst, `"interval_ns":`...)
	dst = strconv.AppendInt(dst, int64(b.Interval), 10)
	dst = append(dst, `,"every_ns":`...)
	dst = strconv.AppendInt(dst, int64(b.Every), 10)
	dst = append(dst, `,"want":`...)
	dst = strconv.AppendBool(dst, b.Want)
	return append(dst, '}')
}

// Parse decodes a payload Append made.
func Parse(p []byte) (Beat, error) {
	if len(p) > MaxLen {
		return Beat{}, fmt.Errorf("heartbeat of %d bytes, more than %d", len(p), MaxLen)
	}
	var w wire
	if err := json.Unmarshal(p, &w); err != nil {
		return Beat{}, fmt.Errorf("heartbeat: %w", err)
	}
	b := Beat{Node: w.Node, Boot: w.Boot, Seq: w.Seq, Router: w.Router, ID: w.ID,
		Interval: time.Duration(w.IntervalNS), Every: time.Duration(w.EveryNS), Want: w.Want}
	if b.Every < 0 {
		return Beat{}, errors.New("heartbeat: negative every_ns")
	}
	switch w.Proto {
	case "carp":
		b.Proto = carp.ProtoCARP
	case "vrrp2":
		b.Proto = carp.ProtoVRRP2
	case "vrrp3":
		b.Proto = carp.ProtoVRRP3
	default:
		return Beat{}, fmt.Errorf("heartbeat: unknown proto %q", w.Proto)
	}
	switch w.State {
	case "INIT":
		b.State = carp.Init
	case "FAULT":
		b.State, b.Fault = carp.Init, true
	case "BACKUP":
		b.State = carp.Backup
	case "MASTER":
		b.State = carp.Master
	default:
		return Beat{}, fmt.Errorf("heartbeat: unknown state %q", w.State)
	}
	addr, err := netip.ParseAddr(w.Addr)
	if err != nil {
		return Beat{}, fmt.Errorf("heartbeat: addr: %w", err)
	}
	if b.Interval <= 0 {
		return Beat{}, errors.New("heartbeat: no interval")
	}
	b.Advert = carp.Advert{Proto: b.Proto, ID: b.ID, Src: addr, AdvBase: w.AdvBase, AdvSkew: w.AdvSkew,
		Demote: w.Demote, Priority: w.Priority, Interval: b.Interval}
	return b, nil
}

// Newer reports whether b follows last from the same sender: a later Seq
// of the same Boot, or another Boot (a restart). QoS 0 over one MQTT
// connection keeps order, but a reconnect can deliver an old one late.
func Newer(b, last *Beat) bool { return b.Boot != last.Boot || b.Seq > last.Seq }
