package daemon

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/config"
	"github.com/google/go-cmp/cmp"
)

// hassRecorder is a statePublisher that records the calls.
type hassRecorder struct {
	mu    sync.Mutex
	calls []string
}

func (h *hassRecorder) add(s string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, s)
}

func (h *hassRecorder) AddRouter(r string)          { h.add("add " + r) }
func (h *hassRecorder) RemoveRouter(r string)       { h.add("remove " + r) }
func (h *hassRecorder) SetMaster(r string, on bool) { h.add(fmt.Sprintf("master %s %v", r, on)) }
func (h *hassRecorder) AddAdvertsLost(r string)     { h.add("add adverts-lost " + r) }
func (h *hassRecorder) SetAdvertsLost(r string, on bool) {
	h.add(fmt.Sprintf("adverts-lost %s %v", r, on))
}

func (h *hassRecorder) lines() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

// TestHassStates checks what the routers tell Home Assistant: each router
// announced at start, OFF on entering BACKUP, ON on promotion, OFF on
// leaving at shutdown; a router removed by a reload is removed, one
// stopped at shutdown is not.
func TestHassStates(t *testing.T) {
	seg := &segment{}
	rec := &hassRecorder{}
	a := newNode(t, seg, "198.18.0.1", vrrpRouter("vr", 7, 200, "198.18.0.100/32"),
		vrrpRouter("extra", 8, 200, "198.18.0.101/32"))
	a.d.hass = rec
	a.start()
	b := newNode(t, seg, "198.18.0.2", vrrpRouter("vr", 7, 100, "198.18.0.100/32")).start()
	a.waitState("vr", "MASTER", 3*time.Second)
	a.waitState("extra", "MASTER", 3*time.Second)
	b.waitState("vr", "BACKUP", time.Second)
	if err := a.d.Reload([]config.Router{vrrpRouter("vr", 7, 200, "198.18.0.100/32")}, nil); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	var vr, extra []string
	for _, l := range rec.lines() {
		switch {
		case l == "add vr" || l == "master vr true" || l == "master vr false":
			vr = append(vr, l)
		default:
			extra = append(extra, l)
		}
	}
	wantVR := []string{"add vr", "master vr false", "master vr true", "master vr false"}
	if diff := cmp.Diff(wantVR, vr); diff != "" {
		t.Errorf("router vr (-want +got):\n%s", diff)
	}
	wantExtra := []string{"add extra", "master extra false", "master extra true", "master extra false", "remove extra"}
	if diff := cmp.Diff(wantExtra, extra); diff != "" {
		t.Errorf("router extra (-want +got):\n%s", diff)
	}
}
