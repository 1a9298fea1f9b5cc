//go:build linux

package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pidFile remembers the running child across a carpd that was SIGKILLed, so
// that the next run stops that child instead of starting a second one on the
// same port.
type pidFile struct {
	path string // "" when no state directory is configured
	argv []string
}

func (f pidFile) write(pid int) error {
	if f.path == "" {
		return nil
	}
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("writing pid file: %w", err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return fmt.Errorf("writing pid file: %w", err)
	}
	return nil
}

func (f pidFile) remove() {
	if f.path != "" {
		_ = os.Remove(f.path)
	}
}

// leftover returns the PID from the pid file if that process still runs the
// same command line; 0 otherwise (no file, stale PID, PID reused by another
// program).
func (f pidFile) leftover() (int, error) {
	if f.path == "" {
		return 0, nil
	}
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0, fmt.Errorf("pid file %s: bad content %q", f.path, b)
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return 0, nil // gone
	}
	want := []byte(strings.Join(f.argv, "\x00") + "\x00")
	if !bytes.Equal(cmdline, want) || gone(pid) {
		return 0, nil
	}
	return pid, nil
}

// gone reports whether pid no longer runs: no such process, or a zombie
// waiting for its parent.
func gone(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	// "pid (comm) S ...": comm may contain spaces and parentheses.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return true
	}
	return stat[i+2] == 'Z' || stat[i+2] == 'X'
}

// pgid returns the process group of pid.
func pgid(pid int) int {
	g, err := unix.Getpgid(pid)
	if err != nil {
		return 0
	}
	return g
}

// stopLeftover stops a process that is not our child: SIGTERM to its group
// (or to it alone when it does not lead one), SIGKILL after grace. Its
// parent (init or a subreaper) reaps it, so this polls /proc.
func stopLeftover(pid int, grace time.Duration) error {
	target := pid
	if pgid(pid) == pid {
		target = -pid
	}
	if err := unix.Kill(target, syscall.SIGTERM); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signalling leftover PID %d: %w", pid, err)
	}
	if waitGone(pid, grace) {
		return nil
	}
	_ = unix.Kill(target, syscall.SIGKILL)
	if waitGone(pid, killWait) {
		return nil
	}
	return fmt.Errorf("leftover PID %d not gone %v after SIGKILL", pid, killWait)
}

// waitGone polls until pid is gone or d has passed.
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if gone(pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
