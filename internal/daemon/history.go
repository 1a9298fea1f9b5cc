package daemon

import (
	"slices"
	"sync"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/status"
)

// record keeps what status shows of a router beyond its snapshot: the
// last advert its machine accepted and its recent transitions with their
// steps. The router, under its mutex, writes heard and begins
// transitions; the executor fills in the steps; status reads.
type record struct {
	ready     chan struct{} // closed once the router has its first state
	readyOnce sync.Once
	changed   func() // called when a transition finishes (status file rewrite)

	mu sync.Mutex
	// The last accepted advert and when, kept as received: status
	// formats it, not every advert (docs/daemon.md, "Cost of an
	// advertisement").
	heard   carp.Advert
	heardAt time.Time
	hist    []status.Transition // oldest first, at most status.MaxTransitions
	next    uint64              // sequence number of the next transition; hist[i] is next-len(hist)+i
}

// newRecord returns an empty record; changed (may be nil) is called after
// each finished transition.
func newRecord(changed func()) *record {
	return &record{ready: make(chan struct{}), next: 1, changed: changed}
}

// markReady says the router has taken its first state (BACKUP, an
// owner's MASTER, or INIT for a fault).
func (rc *record) markReady() { rc.readyOnce.Do(func() { close(rc.ready) }) }

// hear records an accepted advert.
func (rc *record) hear(now time.Time, ad carp.Advert) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.heard, rc.heardAt = ad, now
}

// begin adds j's transition, not yet started, and returns its sequence
// number. A nil record (executor tests) records nothing.
func (rc *record) begin(j job) uint64 {
	if rc == nil {
		return 0
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	// The machine has no FAULT state (a fault holds it in INIT), but
	// keepalived's operators read FAULT, as status and the hooks say.
	from, to := j.from.String(), j.to.String()
	if j.to == carp.Init && j.notify == "FAULT" {
		to = "FAULT"
	}
	if n := len(rc.hist); n > 0 && j.from == carp.Init && rc.hist[n-1].To == "FAULT" {
		from = "FAULT"
	}
	if len(rc.hist) == status.MaxTransitions {
		rc.hist = slices.Delete(rc.hist, 0, 1)
	}
	rc.hist = append(rc.hist, status.Transition{At: j.queued, From: from, To: to,
		Notify: j.notify, Reason: j.reason, Steps: []status.Step{}})
	rc.next++
	return rc.next - 1
}

// update changes transition seq, if it is still kept.
func (rc *record) update(seq uint64, f func(*status.Transition)) {
	if rc == nil || seq == 0 {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	i := len(rc.hist) - int(rc.next-seq)
	if i >= 0 && i < len(rc.hist) {
		f(&rc.hist[i])
	}
}

// start records how long transition seq waited for the executor.
func (rc *record) start(seq uint64, queued time.Duration) {
	rc.update(seq, func(t *status.Transition) { t.Queued = status.Duration(queued) })
}

// step records one finished step of transition seq.
func (rc *record) step(seq uint64, name string, took time.Duration, err error) {
	s := status.Step{Name: name, Took: status.Duration(took)}
	if err != nil {
		s.Error = err.Error()
	}
	rc.update(seq, func(t *status.Transition) { t.Steps = append(t.Steps, s) })
}

// finish marks transition seq done after took.
func (rc *record) finish(seq uint64, took time.Duration) {
	rc.update(seq, func(t *status.Transition) { t.Took, t.Done = status.Duration(took), true })
	if rc != nil && rc.changed != nil {
		rc.changed()
	}
}

// snapshot returns copies of the last heard advert and the transitions.
func (rc *record) snapshot() (*status.Heard, []status.Transition) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var h *status.Heard
	if !rc.heardAt.IsZero() {
		ad := rc.heard
		h = &status.Heard{At: rc.heardAt, From: ad.Src.String(), TTL: ad.TTL, Advertised: advertised(ad.Proto, ad)}
	}
	ts := slices.Clone(rc.hist)
	for i := range ts {
		ts[i].Steps = slices.Clone(ts[i].Steps)
	}
	return h, ts
}
