package daemon

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/sdnotify"
	"github.com/carpd/carpd/internal/status"
)

// TestStatusLine is what `systemctl status` shows for a few reports.
func TestStatusLine(t *testing.T) {
	mqtt := status.Router{Name: "mqtt", State: "MASTER"}
	mqtt6 := status.Router{Name: "mqtt6", State: "FAULT", Faults: []string{"link down", "track script db"}}
	ok := &status.Probe{Peer: "198.18.0.2", Paths: []status.Path{{Direction: "out", State: "ok"},
		{Direction: "in", State: "ok"}}}
	tests := []struct {
		name string
		rep  status.Report
		want string
	}{
		{"one router, no broker", status.Report{Routers: []status.Router{mqtt}}, "mqtt MASTER"},
		{"broker and bridge", status.Report{Routers: []status.Router{mqtt},
			Broker: &status.Broker{Phase: "running", Ready: true, Probe: ok}}, "mqtt MASTER, broker ready, bridge ok"},
		{"two routers, a fault", status.Report{Routers: []status.Router{mqtt, mqtt6},
			Broker: &status.Broker{Phase: "running", Ready: true, Probe: ok}},
			"mqtt MASTER; mqtt6 FAULT (link down, track script db), broker ready, bridge ok"},
		{"broker unhealthy, bridge broken", status.Report{Routers: []status.Router{mqtt},
			Broker: &status.Broker{Phase: "backoff", Unhealthy: []string{"crash loop"},
				Probe: &status.Probe{Peer: "198.18.0.2", Paths: []status.Path{{Direction: "out", State: "ok"},
					{Direction: "in", State: "broken"}}}}},
			"mqtt MASTER, broker unhealthy (crash loop), bridge broken (in)"},
		{"broker starting, probe off", status.Report{Routers: []status.Router{mqtt},
			Broker: &status.Broker{Phase: "starting", Probe: &status.Probe{Off: "no peer"}}}, "mqtt MASTER, broker starting"},
		{"bridge not probed yet", status.Report{Routers: []status.Router{mqtt},
			Broker: &status.Broker{Phase: "running", Ready: true, Probe: &status.Probe{Peer: "198.18.0.2",
				Paths: []status.Path{{Direction: "out", State: "unknown"}}}}}, "mqtt MASTER, broker ready, bridge unknown"},
		{"failed reload", status.Report{Routers: []status.Router{mqtt},
			Config: &status.Config{ReloadError: "/etc/carpd/carpd.yaml:7: vips: bad\n/etc/carpd/carpd.yaml:9: vhid: 0"}},
			"reload failed, running the previous configuration: /etc/carpd/carpd.yaml:7: vips: bad (and 1 more); mqtt MASTER"},
		{"nothing running", status.Report{}, "no virtual routers"},
	}
	for _, tt := range tests {
		if got := statusLine(tt.rep); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

// statusMsgs returns the STATUS= values among msgs, in order.
func statusMsgs(msgs []string) []string {
	var out []string
	for _, m := range msgs {
		if s, ok := strings.CutPrefix(m, "STATUS="); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestNotifyStatusAndReload runs a daemon under a fake NOTIFY_SOCKET:
// STATUS= follows the router through MASTER, FAULT and back, once per
// change; a reload is RELOADING=1 with MONOTONIC_USEC, then READY=1, and
// a failed one shows in STATUS= and status until a reload succeeds.
func TestNotifyStatusAndReload(t *testing.T) {
	mgr, notifier := listenManager(t, func() []string { return nil })
	fn := newFakeNet(&segment{}, map[string]string{"eth0": "198.18.0.1"})
	n := newNodeWith(t, fn, Options{Notify: notifier}, vrrpRouter("vr", 7, 100, "198.18.0.100/32"))
	n.start()
	has := func(msg string) func() bool {
		return func() bool { return slices.Contains(mgr.Messages(), msg) }
	}
	waitFor(t, 3*time.Second, "STATUS=vr MASTER", has("STATUS=vr MASTER"))
	fn.setLink("eth0", false)
	waitFor(t, 2*time.Second, "STATUS=vr FAULT (link down)", has("STATUS=vr FAULT (link down)"))
	if got := n.router("vr").State; got != "FAULT" {
		t.Errorf("status state %q, want FAULT", got)
	}
	fn.setLink("eth0", true)
	waitFor(t, 3*time.Second, "MASTER again", func() bool {
		s := statusMsgs(mgr.Messages())
		return len(s) > 0 && s[len(s)-1] == "vr MASTER" && slices.Contains(s, "vr FAULT (link down)")
	})

	loaded := n.d.Status().Config.Loaded
	n.d.BeginReload()
	n.d.EndReload(errors.New("carpd.yaml:7: vips: bad\ncarpd.yaml:9: vhid: 0"))
	const failed = "STATUS=reload failed, running the previous configuration: carpd.yaml:7: vips: bad (and 1 more); vr MASTER"
	waitFor(t, 2*time.Second, "STATUS of the failed reload", has(failed))
	if c := n.d.Status().Config; c.ReloadError == "" || !c.Loaded.Equal(loaded) {
		t.Errorf("after a failed reload: config %+v, want the error and loaded unchanged %v", c, loaded)
	}
	n.d.BeginReload()
	n.d.EndReload(nil)
	waitFor(t, 2*time.Second, "STATUS back", func() bool {
		s := statusMsgs(mgr.Messages())
		return s[len(s)-1] == "vr MASTER"
	})
	if c := n.d.Status().Config; c.ReloadError != "" || !c.Loaded.After(loaded) {
		t.Errorf("after a good reload: config %+v, want no error and loaded after %v", c, loaded)
	}
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}

	// READY=1 is the next message after each RELOADING=1 but STATUS=.
	msgs := mgr.Messages()
	var next []string
	for i, m := range msgs {
		if !strings.HasPrefix(m, "RELOADING=1\nMONOTONIC_USEC=") {
			continue
		}
		for _, after := range msgs[i+1:] {
			if !strings.HasPrefix(after, "STATUS=") {
				next = append(next, after)
				break
			}
		}
	}
	if !slices.Equal(next, []string{sdnotify.Ready, sdnotify.Ready}) {
		t.Errorf("after each RELOADING=1: %q, want READY=1 twice; messages %q", next, msgs)
	}
	s := statusMsgs(msgs)
	for i := 1; i < len(s); i++ {
		if s[i] == s[i-1] {
			t.Errorf("STATUS=%s sent twice in a row: %q", s[i], s)
		}
	}
	t.Logf("STATUS= sequence: %q", s)
}
