package daemon

import (
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/config"
	"github.com/google/go-cmp/cmp"
)

// TestCredential converts script_user into the credential exec runs a
// script with, a fresh copy every time: exec reads it while another
// router's hooks may start.
func TestCredential(t *testing.T) {
	u := &config.ScriptUser{Name: "nobody", UID: 65534, GID: 65534, Groups: []uint32{65534, 100}}
	want := &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{65534, 100}}
	a, b := credential(u), credential(u)
	if diff := cmp.Diff(want, a); diff != "" {
		t.Errorf("credential (-want +got):\n%s", diff)
	}
	if a == b || &a.Groups[0] == &b.Groups[0] || &a.Groups[0] == &u.Groups[0] {
		t.Errorf("two runs share one credential or its groups")
	}
	if c := credential(nil); c != nil {
		t.Errorf("without script_user: %+v, want carpd's own user", c)
	}
}

// TestScriptUser runs the hooks and track scripts of a router as
// Options.ScriptUser, and as the user Reload gives from then on: the
// track script restarts under the new user and the next up hook runs as
// it. It needs root to switch users.
func TestScriptUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run scripts as another user")
	}
	r := vrrpRouter("vr", 7, 100, "198.18.0.100/32")
	r.Hooks = config.Hooks{Up: []string{"/bin/sh", "-c", "id -u"}}
	// Failing every run, so each run's output is logged.
	r.TrackScripts = []config.TrackScript{{Name: "who", Argv: []string{"/bin/sh", "-c", "id -u; exit 1"},
		Interval: 50 * time.Millisecond, Timeout: 5 * time.Second, Rise: 1, Fall: 1, Weight: -1}}
	nobody := &config.ScriptUser{Name: "nobody", UID: 65534, GID: 65534}
	n := newNodeWith(t, newFakeNet(&segment{}, map[string]string{"eth0": "198.18.0.1"}),
		Options{ScriptUser: nobody}, r).start()
	outputs := func(msg string) []string {
		var out []string
		for _, rec := range n.logs.records(msg) {
			if s, ok := rec["output"].(string); ok {
				out = append(out, strings.TrimSpace(s))
			}
		}
		return out
	}
	n.waitState("vr", "MASTER", 5*time.Second)
	waitFor(t, 5*time.Second, "the up hook run", func() bool { return len(outputs("hook done")) > 0 })
	waitFor(t, 5*time.Second, "the track script failing", func() bool { return len(outputs("track script failing")) > 0 })
	if diff := cmp.Diff([]string{"65534"}, outputs("hook done")); diff != "" {
		t.Errorf("up hook's uid (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"65534"}, outputs("track script failing")); diff != "" {
		t.Errorf("track script's uid (-want +got):\n%s", diff)
	}

	if err := n.d.Reload([]config.Router{r}, nil); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	waitFor(t, 5*time.Second, "the track script failing as root", func() bool {
		return slices.Contains(outputs("track script failing"), "0")
	})
	if err := n.d.Resign("vr"); err != nil {
		t.Fatalf("Resign: %v", err)
	}
	waitFor(t, 10*time.Second, "a second up hook run", func() bool { return len(outputs("hook done")) > 1 })
	if diff := cmp.Diff([]string{"65534", "0"}, outputs("hook done")); diff != "" {
		t.Errorf("up hooks' uids before and after the reload (-want +got):\n%s", diff)
	}
}
