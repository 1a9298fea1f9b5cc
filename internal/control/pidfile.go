package control

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// PIDFile is the name of the pid file in the state directory.
const PIDFile = "carpd.pid"

// LockPID takes the pid file of dir with an exclusive flock and writes our
// pid into it. The lock, not the file's content, says a carpd is running:
// the kernel drops it when the process dies, so a crash leaves no stale
// lock. release removes the file and drops the lock.
func LockPID(dir string) (release func(), err error) {
	path := filepath.Join(dir, PIDFile)
	// O_NOFOLLOW: a link planted here must not make root truncate and
	// write the file it points to.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening pid file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another carpd (pid %s) is running with state directory %s",
				strings.TrimSpace(string(b)), dir)
		}
		return nil, fmt.Errorf("locking pid file %s: %w", path, err)
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("writing pid file %s: %w", path, err)
	}
	return func() {
		os.Remove(path)
		f.Close()
	}, nil
}
