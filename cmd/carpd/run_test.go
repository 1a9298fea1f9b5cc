package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOpenLogSymlink: the log of a daemonized carpd is not opened through
// a link planted in the state directory, and the link's target is left
// as it was.
func TestOpenLogSymlink(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "carpd.log")); err != nil {
		t.Fatal(err)
	}
	f, err := openLog(dir)
	if err == nil {
		f.Close()
		t.Fatal("openLog followed a symbolic link")
	}
	if !strings.Contains(err.Error(), "opening log file") {
		t.Errorf("error %v, want it to name the log file", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me\n" {
		t.Errorf("link target now holds %q", b)
	}
}

// TestOpenLogStateDir: daemonizing checks the state directory first, as
// run does, so a 0755 directory is refused before anything is written.
func TestOpenLogStateDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := openLog(dir)
	if err == nil {
		f.Close()
		t.Fatal("openLog accepted a 0755 state directory")
	}
	if !strings.Contains(err.Error(), "refusing to start: state directory "+dir+" has mode 0755") {
		t.Errorf("error %v, want the mode refused", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "carpd.log")); err == nil {
		t.Errorf("carpd.log created in a refused directory")
	}
}
