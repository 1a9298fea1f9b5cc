//go:build linux

package link

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// within runs fn on a locked OS thread inside ns and restores the thread's
// namespace before unlocking it. If restoring fails the thread stays locked,
// so the runtime retires it instead of handing a goroutine a thread in the
// wrong namespace (PITFALLS §B.9).
func within(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("getting thread namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering namespace: %w", err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return fmt.Errorf("restoring thread namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}
