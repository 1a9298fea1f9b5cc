package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carpd/carpd/internal/config"
)

// fakeReloader records what reload asks of the daemon.
type fakeReloader struct {
	calls []string
	ended error
}

func (f *fakeReloader) BeginReload() { f.calls = append(f.calls, "begin") }
func (f *fakeReloader) Reload([]config.Router, *config.ScriptUser) error {
	f.calls = append(f.calls, "reload")
	return nil
}
func (f *fakeReloader) EndReload(err error) {
	f.calls = append(f.calls, "end")
	f.ended = err
}

// TestReload drives SIGHUP's reload on a good file, a broken one and a
// command line: begin and end always bracket the attempt (RELOADING=1 and
// READY=1 for systemd), a broken file never reaches the daemon, and its
// errors are logged at err priority as FILE:LINE: reason.
func TestReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "carpd.yaml")
	good := "routers:\n  - iface: eth0\n    vhid: 29\n    vips: [198.18.0.2]\n"
	if err := os.WriteFile(path, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	load := func() (*config.File, error) { return config.FromArgs([]string{"-c", path}) }
	f, err := load()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log, err := newLogger(&logs, true, logFlags{format: "text"}, false)
	if err != nil {
		t.Fatal(err)
	}

	d := &fakeReloader{}
	reload(d, f, load, log)
	if got := strings.Join(d.calls, ","); got != "begin,reload,end" || d.ended != nil {
		t.Errorf("good file: calls %s, ended with %v; want begin,reload,end and nil", got, d.ended)
	}

	if err := os.WriteFile(path, []byte(good+"    vhid: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, logs = &fakeReloader{}, bytes.Buffer{}
	log, _ = newLogger(&logs, true, logFlags{format: "text"}, false)
	reload(d, f, load, log)
	if got := strings.Join(d.calls, ","); got != "begin,end" || d.ended == nil {
		t.Errorf("broken file: calls %s, ended with %v; want begin,end and an error", got, d.ended)
	}
	t.Logf("journal output of the refused reload:\n%s", logs.String())
	var refused []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, "reload refused") {
			refused = append(refused, l)
		}
	}
	if len(refused) == 0 {
		t.Fatalf("no refusal logged:\n%s", logs.String())
	}
	for _, l := range refused {
		if !strings.HasPrefix(l, "<3>level=ERROR ") || !strings.Contains(l, `error="`+path+":") {
			t.Errorf("refusal %q: want <3>, ERROR and FILE:LINE: reason", l)
		}
	}

	d = &fakeReloader{}
	reload(d, &config.File{}, func() (*config.File, error) { return config.FromArgs([]string{"-i", "eth0"}) }, log)
	if got := strings.Join(d.calls, ","); got != "begin,end" || d.ended == nil {
		t.Errorf("command line: calls %s, ended with %v; want begin,end and an error", got, d.ended)
	}
}
