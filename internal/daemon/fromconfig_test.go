package daemon

import (
	"syscall"
	"testing"

	"github.com/carpd/carpd/internal/config"
	"github.com/google/go-cmp/cmp"
)

// TestFromConfigScriptUser gives every hook and track script of every
// router the script user, each router its own copy.
func TestFromConfigScriptUser(t *testing.T) {
	f := &config.File{
		ScriptUser: &config.ScriptUser{Name: "nobody", UID: 65534, GID: 65534, Groups: []uint32{65534, 100}},
		Routers: []config.Router{
			{Name: "a", TrackScripts: []config.TrackScript{{Name: "chk", Argv: []string{"/bin/true"}}}},
			{Name: "b"},
		},
	}
	rs := FromConfig(f)
	want := &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{65534, 100}}
	got := []*syscall.Credential{rs[0].Hooks.User, rs[0].TrackScripts[0].User, rs[1].Hooks.User}
	if diff := cmp.Diff([]*syscall.Credential{want, want, want}, got); diff != "" {
		t.Errorf("users (-want +got):\n%s", diff)
	}
	if rs[0].Hooks.User == rs[1].Hooks.User {
		t.Errorf("two routers share one credential")
	}
	f.ScriptUser = nil
	if u := FromConfig(f)[0].Hooks.User; u != nil {
		t.Errorf("without script_user: %+v, want carpd's own user", u)
	}
}
