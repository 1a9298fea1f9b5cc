//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// streamID is f's "DEVICE:INODE" as systemd writes it to JOURNAL_STREAM.
func streamID(t *testing.T, f *os.File) string {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// TestOnJournal checks the detection against real descriptors: a pipe
// standing for journald's stream socket, and a file that is not it.
func TestOnJournal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	defer w2.Close()
	other, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	pipe := streamID(t, w)
	tests := []struct {
		name   string
		stream string
		fd     int
		want   bool
	}{
		{"the stream", pipe, int(w.Fd()), true},
		{"the stream's other end", pipe, int(r.Fd()), true}, // one inode
		{"another pipe", pipe, int(w2.Fd()), false},
		{"redirected to a file", pipe, int(other.Fd()), false},
		{"unset", "", int(w.Fd()), false},
		{"no colon", strings.ReplaceAll(pipe, ":", ""), int(w.Fd()), false},
		{"not numbers", "a:b", int(w.Fd()), false},
		{"closed descriptor", pipe, 1 << 20, false},
	}
	for _, tt := range tests {
		getenv := func(k string) string {
			if k == "JOURNAL_STREAM" {
				return tt.stream
			}
			return ""
		}
		if got := onJournal(getenv, tt.fd, syscall.Fstat); got != tt.want {
			t.Errorf("%s: JOURNAL_STREAM=%q: onJournal = %v, want %v", tt.name, tt.stream, got, tt.want)
		}
	}
}

// logAll logs one record of each level through a derived logger.
func logAll(t *testing.T, journal bool, format string) string {
	t.Helper()
	var buf bytes.Buffer
	log, err := newLogger(&buf, journal, logFlags{format: format, level: "debug"}, false)
	if err != nil {
		t.Fatal(err)
	}
	rl := log.With("router", "mqtt")
	rl.Debug("transition step", "step", "garp")
	rl.Info("transition", "from", "BACKUP", "to", "MASTER")
	rl.WithGroup("hook").Warn("hook failed", "which", "up")
	log.Error("reload refused; keeping the running configuration", "error", "carpd.yaml:7: bad vip")
	log.Log(t.Context(), slog.LevelInfo+2, "between info and warn")
	return buf.String()
}

// TestJournalLog is the text format on the journal: the sd-daemon(3)
// priority first and no time of its own.
func TestJournalLog(t *testing.T) {
	got := logAll(t, true, "text")
	t.Logf("journald output:\n%s", got)
	want := `<7>level=DEBUG msg="transition step" router=mqtt step=garp
<6>level=INFO msg=transition router=mqtt from=BACKUP to=MASTER
<4>level=WARN msg="hook failed" router=mqtt hook.which=up
<3>level=ERROR msg="reload refused; keeping the running configuration" error="carpd.yaml:7: bad vip"
<6>level=INFO+2 msg="between info and warn"
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("journal output (-want +got):\n%s", diff)
	}
}

// TestLogOffJournal keeps the formats as they were away from the
// journal, and JSON everywhere: a time on every line, no prefix.
func TestLogOffJournal(t *testing.T) {
	for _, c := range []struct {
		journal bool
		format  string
		time    string
	}{{false, "text", "time="}, {false, "json", `{"time":`}, {true, "json", `{"time":`}} {
		out := logAll(t, c.journal, c.format)
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 5 {
			t.Errorf("journal %v, %s: %d lines, want 5:\n%s", c.journal, c.format, len(lines), out)
		}
		for _, l := range lines {
			if !strings.HasPrefix(l, c.time) {
				t.Errorf("journal %v, %s: line %q does not start with %s", c.journal, c.format, l, c.time)
			}
		}
	}
}

// TestStartupErrorsOnJournal runs carpd with an invalid file and its
// standard error on a file named by JOURNAL_STREAM: the configuration
// errors, printed before any logger exists, carry err priority on every
// line. With the variable pointing elsewhere the output has no prefix.
func TestStartupErrorsOnJournal(t *testing.T) {
	bad := filepath.Join(configdata, "errors.yaml")
	run := func(journal bool) string {
		t.Helper()
		f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		stream := "1:1"
		if journal {
			stream = streamID(t, f)
		}
		cmd := exec.Command(os.Args[0], "run", "--state-dir", filepath.Join(t.TempDir(), "state"), "-c", bad)
		cmd.Env = append(os.Environ(), labMainEnv+"=1", "JOURNAL_STREAM="+stream)
		cmd.Stderr = f
		var ee *exec.ExitError
		if err := cmd.Run(); !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
			t.Fatalf("carpd run -c errors.yaml: %v, want exit status 2", err)
		}
		out, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	out := run(true)
	t.Logf("on the journal:\n%s", out)
	_, refused, ok := strings.Cut(out, "<3>carpd: configuration refused:\n")
	if !ok || !strings.Contains(refused, "errors.yaml:") {
		t.Fatalf("want <3>carpd: configuration refused: and the errors, got:\n%s", out)
	}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		prio, text, _ := strings.Cut(l, ">")
		if prio == "<4" && strings.HasPrefix(text, "carpd: warning: ") {
			continue
		}
		if prio != "<3" {
			t.Errorf("line %q: want <3> (or <4> for a warning)", l)
		}
		if text != "carpd: configuration refused:" && !strings.HasPrefix(text, bad+":") {
			t.Errorf("line %q: want FILE:LINE: reason", l)
		}
	}
	plain := run(false)
	if strings.Contains(plain, "<3>") || !strings.Contains(plain, "\ncarpd: configuration refused:\n") {
		t.Errorf("off the journal, output changed:\n%s", plain)
	}
}
