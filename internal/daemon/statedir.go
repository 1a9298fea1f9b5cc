package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// PrepareStateDir creates dir (mode 0700) if it does not exist and
// refuses a directory that anyone but carpd's user could write to or
// redirect: the pid lock, the control socket, the status file and the log
// of a daemonized carpd live there, and carpd runs as root. It must be a
// directory, not a symbolic link, owned by the effective uid, with mode
// exactly 0700.
func PrepareStateDir(dir string) error {
	created := false
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return fmt.Errorf("creating state directory: %w", err)
		}
		switch err := os.Mkdir(dir, 0o700); {
		case err == nil:
			created = true
		case !errors.Is(err, fs.ErrExist):
			return fmt.Errorf("creating state directory: %w", err)
		}
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("checking state directory: %w", err)
	}
	if err := checkStateDir(dir, fi, os.Geteuid()); err != nil && !created {
		return err
	}
	// The fd, not the path, is checked and changed from here on, so a
	// symbolic link swapped in after the Lstat is not followed.
	f, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("opening state directory: %w", err)
	}
	defer f.Close()
	if created {
		// The umask may have taken bits from the 0700 of Mkdir; the
		// directory is ours, so set them back.
		if err := f.Chmod(0o700); err != nil {
			return fmt.Errorf("restricting state directory: %w", err)
		}
	}
	if fi, err = f.Stat(); err != nil {
		return fmt.Errorf("checking state directory: %w", err)
	}
	return checkStateDir(dir, fi, os.Geteuid())
}

// checkStateDir says what is wrong with fi, the state directory dir, for
// a carpd running as euid, and how to fix it.
func checkStateDir(dir string, fi fs.FileInfo, euid int) error {
	refuse := func(format string, a ...any) error {
		return fmt.Errorf("refusing to start: state directory %s %s", dir, fmt.Sprintf(format, a...))
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return refuse("is a symbolic link; give carpd the directory itself (state_dir, --state-dir)")
	case !fi.IsDir():
		return refuse("is not a directory (%s)", fi.Mode().Type())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != euid {
		return refuse("is owned by uid %d, not by carpd's uid %d: chown %d %s", st.Uid, euid, euid, dir)
	}
	if mode := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky); mode != 0o700 {
		return refuse("has mode %04o, want 0700 (no group or other access): chmod 0700 %s", unixMode(fi.Mode()), dir)
	}
	return nil
}

// unixMode is fi's mode as chmod writes it, special bits included.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		u |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		u |= 0o1000
	}
	return u
}
