package daemon

import (
	"context"
	"slices"
	"time"

	"github.com/carpd/carpd/internal/config"
)

// scriptTrackers runs a router's track scripts, one goroutine each. The
// set is owned by the router goroutine; results come back through post
// and are ignored once their tracker was replaced.
type scriptTrackers struct {
	r       *router
	running map[string]*scriptTracker
}

// scriptTracker is one running track script.
type scriptTracker struct {
	def    config.TrackScript
	user   *config.ScriptUser // script_user when started
	cancel context.CancelFunc
}

// startScripts starts a tracker for every definition.
func startScripts(r *router, defs []config.TrackScript) *scriptTrackers {
	s := &scriptTrackers{r: r, running: make(map[string]*scriptTracker)}
	for _, d := range defs {
		s.start(d)
	}
	return s
}

// update brings the running set to defs after a reload: unchanged scripts
// keep running with their state, changed ones restart (their state
// starts over as OK), removed ones stop and their demotion is dropped.
func (s *scriptTrackers) update(now time.Time, defs []config.TrackScript) {
	want := make(map[string]config.TrackScript, len(defs))
	for _, d := range defs {
		want[d.Name] = d
	}
	for name, t := range s.running {
		if d, ok := want[name]; ok && scriptEqual(d, t.def) && userEqual(s.r.user, t.user) {
			delete(want, name)
			continue
		}
		t.cancel()
		delete(s.running, name)
		s.r.clearTracker(now, "script "+name)
	}
	for _, d := range defs {
		if _, ok := want[d.Name]; ok {
			s.start(d)
		}
	}
}

// stop cancels every tracker; a running script is killed.
func (s *scriptTrackers) stop() {
	for name, t := range s.running {
		t.cancel()
		delete(s.running, name)
	}
}

func (s *scriptTrackers) start(d config.TrackScript) {
	ctx, cancel := context.WithCancel(context.Background())
	t := &scriptTracker{def: d, user: s.r.user, cancel: cancel}
	s.running[d.Name] = t
	go t.loop(ctx, func(failed bool, out string, err error) {
		s.r.post(func(now time.Time) {
			if s.running[d.Name] != t {
				return // replaced or stopped meanwhile
			}
			if failed {
				s.r.log.Warn("track script failing", "tracker", "script "+d.Name, "error", err, "output", out)
			}
			s.r.trackResult(now, "script "+d.Name, d.Weight, failed)
		})
	})
}

// loop runs the script every interval and reports state changes: Fall
// consecutive failures make it failed, Rise consecutive successes OK
// again. It starts OK, so a router is not demoted before the script had
// a chance to fail.
func (t *scriptTracker) loop(ctx context.Context, report func(failed bool, out string, err error)) {
	d := t.def
	interval := d.Interval
	if interval <= 0 {
		interval = config.DefaultTrackInterval
	}
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = interval
	}
	rise, fall := max(d.Rise, config.DefaultTrackRise), max(d.Fall, config.DefaultTrackFall)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	failed, good, bad := false, 0, 0
	for {
		out, err := runHook(ctx, d.Argv, nil, timeout, t.user)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			good, bad = good+1, 0
		} else {
			good, bad = 0, bad+1
		}
		switch {
		case failed && good >= rise:
			failed = false
			report(false, "", nil)
		case !failed && bad >= fall:
			failed = true
			report(true, truncate(out, 256), err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// scriptEqual reports whether two definitions run the same way.
func scriptEqual(a, b config.TrackScript) bool {
	return a.Name == b.Name && slices.Equal(a.Argv, b.Argv) && a.Interval == b.Interval &&
		a.Timeout == b.Timeout && a.Rise == b.Rise && a.Fall == b.Fall && a.Weight == b.Weight
}

// userEqual reports whether two script users run scripts as the same
// credential.
func userEqual(a, b *config.ScriptUser) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.UID == b.UID && a.GID == b.GID && slices.Equal(a.Groups, b.Groups)
}
