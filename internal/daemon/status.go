package daemon

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/status"
)

// StatusFile is the name of the status file in the state directory,
// rewritten atomically after every transition.
const StatusFile = "status.json"

// status returns r's status.
func (r *router) status() status.Router {
	r.smu.Lock()
	s := r.snap
	r.smu.Unlock()
	now := time.Now()
	// spec is replaced only by the router goroutine, but the fields used
	// here never change for a running router (a change restarts it).
	sp := r.base
	rs := status.Router{
		Name: sp.Name, Iface: sp.Iface, Proto: sp.Machine.Proto.String(), ID: sp.Machine.ID,
		State: stateWord(s.state, s.faults), Since: s.since, Reason: s.reason, VIPs: s.vips, Faults: s.faults,
		Demotion: status.Demotion{Manual: s.manual, Tracking: s.track, Claim: s.claim},
		Counters: status.Counters{
			Sent: r.ctr.sent.Load(), SendErrors: r.ctr.sendErrors.Load(), Received: r.ctr.received.Load(),
			Dropped: r.ctr.droppedMap(), Announcements: r.ctr.announcements.Load(),
			Transitions: r.ctr.transitions.Load(), HookFailures: r.exec.hookFails.counts(),
		},
	}
	rs.Demotion.Total = max(s.manual+s.track, 0)
	if s.claim {
		rs.Demotion.Total += claimFailWeight
	}
	if s.master.IsValid() {
		rs.Master = s.master.String()
	}
	rs.Advertised = advertised(sp.Machine.Proto, s.adv)
	rs.Heard, rs.Transitions = r.rec.snapshot()
	rs.Peer = peerStatus(&s, now)
	return rs
}

// stateWord is the state status shows: FAULT for an INIT held by a fault,
// as keepalived names it, since operators read "INIT" as still starting.
func stateWord(s carp.State, faults []string) string {
	if s == carp.Init && len(faults) > 0 {
		return "FAULT"
	}
	return s.String()
}

// advertised shows the preference fields of proto in ad.
func advertised(proto carp.Proto, ad carp.Advert) status.Advertised {
	if proto == carp.ProtoCARP {
		return status.Advertised{AdvBase: &ad.AdvBase, AdvSkew: &ad.AdvSkew, Demote: &ad.Demote,
			Interval: carp.Interval(ad.AdvBase, ad.AdvSkew).String()}
	}
	return status.Advertised{Priority: &ad.Priority, Interval: ad.Interval.String()}
}

// connDrops is implemented by a PacketConn that discards packets before
// ReadPacket returns them (a foreign group, another interface); the
// counts join the socket's drop reasons.
type connDrops interface {
	Dropped() map[string]uint64
}

// status returns the socket's status.
func (s *socket) status() status.Socket {
	st := status.Socket{Iface: s.key.iface, Family: s.key.family, Src: s.conn.Src().String(),
		Unicast: s.key.unicast, Dropped: s.ctr.droppedMap()}
	if dc, ok := s.conn.(connDrops); ok {
		for why, n := range dc.Dropped() {
			if n > 0 {
				st.Dropped[why] += n
			}
		}
	}
	if !s.key.unicast {
		st.Group = s.key.group.String()
	}
	return st
}

// writeStatus writes st to dir/status.json atomically (temporary file and
// rename), so a reader never sees half a file.
func writeStatus(dir string, st status.Report) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	// CreateTemp's O_EXCL never follows a link, and the rename replaces
	// a link planted at status.json instead of writing through it.
	f, err := os.CreateTemp(dir, ".status-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly after the rename
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, StatusFile)); err != nil {
		return fmt.Errorf("renaming status file: %w", err)
	}
	return nil
}

// publish refreshes the status snapshot from the machine.
func (r *router) publish() {
	track := r.trackSum()
	faults := r.faultList()
	r.smu.Lock()
	defer r.smu.Unlock()
	r.snap.state, r.snap.master, r.snap.adv = r.m.State(), r.m.Master(), r.m.Advertised()
	r.snap.manual, r.snap.track, r.snap.claim, r.snap.faults = r.manual, track, r.claimFail, faults
	r.peerSnap()
}

// trackSum is the sum of the tracked weights now applied. An empty map
// is not ranged over: publish runs after every advert, and starting a map
// iteration was a measurable part of an idle router's wakeup.
func (r *router) trackSum() int {
	if len(r.track) == 0 {
		return 0
	}
	sum := 0
	for _, w := range r.track {
		sum += w
	}
	return sum
}

// setSpecSnap records what other goroutines read of the spec: the VIPs
// for status and the tracked interfaces for the link watch.
func (r *router) setSpecSnap() {
	vips := make([]string, len(r.spec.VIPs))
	for i, p := range r.spec.VIPs {
		vips[i] = p.String()
	}
	var tracked []string
	for _, ti := range r.spec.TrackInterfaces {
		tracked = append(tracked, ti.Iface)
	}
	r.smu.Lock()
	defer r.smu.Unlock()
	r.snap.vips, r.snap.tracked = vips, tracked
}

// trackedIfaces returns the interfaces the router tracks.
func (r *router) trackedIfaces() []string {
	r.smu.Lock()
	defer r.smu.Unlock()
	return r.snap.tracked
}

// setSnap records a transition for status.
func (r *router) setSnap(s carp.State, since time.Time, reason string) {
	r.smu.Lock()
	defer r.smu.Unlock()
	r.snap.state, r.snap.since, r.snap.reason = s, since, reason
	// The faults too, so a status written before the next publish never
	// shows a fault's INIT without its faults (stateWord).
	r.snap.faults = r.faultList()
}
