package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPrepareStateDir: a directory carpd's user alone can use is taken,
// one it creates gets 0700 whatever the umask, and anything else is
// refused with the path and the reason.
func TestPrepareStateDir(t *testing.T) {
	tests := []struct {
		name  string
		umask int                            // during PrepareStateDir
		setup func(t *testing.T, dir string) // dir does not exist yet
		want  string                         // in the error; "" = accepted
	}{
		{"created", 0o022, func(*testing.T, string) {}, ""},
		// A umask that takes the owner's bits makes Mkdir's 0700 a 0500.
		{"created under umask 0277", 0o277, func(*testing.T, string) {}, ""},
		{"0700", 0o022, func(t *testing.T, dir string) { mkdir(t, dir, 0o700) }, ""},
		{"0755", 0o022, func(t *testing.T, dir string) { mkdir(t, dir, 0o755) },
			"has mode 0755, want 0700 (no group or other access): chmod 0700 "},
		{"0710", 0o022, func(t *testing.T, dir string) { mkdir(t, dir, 0o710) }, "has mode 0710"},
		{"sticky", 0o022, func(t *testing.T, dir string) { mkdir(t, dir, 0o700|os.ModeSticky) }, "has mode 1700"},
		{"symlink to a 0700 directory", 0o022, func(t *testing.T, dir string) {
			target := filepath.Join(t.TempDir(), "real")
			mkdir(t, target, 0o700)
			if err := os.Symlink(target, dir); err != nil {
				t.Fatal(err)
			}
		}, "is a symbolic link"},
		{"regular file", 0o022, func(t *testing.T, dir string) {
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			tt.setup(t, dir)
			// The umask is the process's: this test is not parallel, and
			// the package's parallel tests start after the sequential ones.
			old := syscall.Umask(tt.umask)
			err := PrepareStateDir(dir)
			syscall.Umask(old)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				fi, err := os.Lstat(dir)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode() != os.ModeDir|0o700 {
					t.Errorf("mode %v, want drwx------", fi.Mode())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), dir) {
				t.Errorf("error %v, want one naming %s and containing %q", err, dir, tt.want)
			}
		})
	}
}

// TestPrepareStateDirOwner: a directory owned by another user is refused
// even with mode 0700 (it could be emptied and refilled by that user).
func TestPrepareStateDirOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the directory to another user")
	}
	dir := filepath.Join(t.TempDir(), "state")
	mkdir(t, dir, 0o700)
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	err := PrepareStateDir(dir)
	if err == nil || !strings.Contains(err.Error(), "is owned by uid 65534, not by carpd's uid 0: chown 0 "+dir) {
		t.Errorf("error %v, want the owner refused", err)
	}
}

// mkdir makes dir with exactly mode, whatever the umask.
func mkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}
