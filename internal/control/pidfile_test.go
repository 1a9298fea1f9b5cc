package control

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPIDFileSymlink: a link planted at the pid file is refused, and the
// file it points to is left as it was.
func TestPIDFileSymlink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep me\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, PIDFile)); err != nil {
		t.Fatal(err)
	}
	release, err := LockPID(dir)
	if err == nil {
		release()
		t.Fatal("LockPID followed a symbolic link")
	}
	if !strings.Contains(err.Error(), "opening pid file") {
		t.Errorf("error %v, want it to name the pid file", err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "keep me\n" {
		t.Errorf("link target now holds %q", b)
	}
}
