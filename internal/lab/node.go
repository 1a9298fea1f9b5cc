//go:build linux

package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netns"
)

// runTimeout bounds Run when its context has no deadline of its own.
const runTimeout = time.Minute

// Run runs argv inside the node's namespace ("ip netns exec") and returns its
// combined standard output and error. It kills the command when ctx is done;
// without a deadline on ctx it gives up after a minute. The error names the
// command and includes its output.
func (n *Node) Run(ctx context.Context, argv ...string) ([]byte, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("lab: %s: Run without a command", n.Name)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, runTimeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.NS}, argv...)...)
	// A background child holding the output pipe must not keep Run waiting
	// after the command itself has gone.
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("lab: running %q in %s: %w: %s", argv, n.Name, err,
			strings.TrimSpace(string(out)))
	}
	return out, nil
}

// Do runs fn on the calling goroutine, locked to its OS thread, with that
// thread switched into the node's network namespace, and switches back before
// unlocking. Sockets and netlink handles opened in fn stay bound to the node's
// namespace after Do returns. Goroutines started by fn run on other threads,
// in the original namespace. Package net caches interface names for IPv6
// zones process-wide, so inside fn give zones as numbers ("%3"), not names
// that exist in several namespaces ("%eth0"). fn may call t.Fatal: the namespace is restored
// on the way out. Do panics if it cannot switch the thread back, because the
// goroutine would otherwise run on in the node's namespace.
func (n *Node) Do(fn func() error) error {
	target, err := netns.GetFromName(n.NS)
	if err != nil {
		return fmt.Errorf("lab: opening namespace %s: %w", n.NS, err)
	}
	defer target.Close()

	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("lab: opening the thread's namespace: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("lab: entering namespace %s: %w", n.NS, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// Still locked: the runtime discards the thread when this
			// goroutine ends instead of reusing it elsewhere.
			panic(fmt.Sprintf("lab: cannot leave namespace %s: %v", n.NS, err))
		}
		runtime.UnlockOSThread()
	}()
	return fn()
}

// LinkDown sets the node's switch port down, so the node's interface loses
// carrier (NO-CARRIER, operstate DOWN) as when a cable is pulled. It
// fails the lab's test on error.
func (n *Node) LinkDown() { n.setPort("down") }

// LinkUp undoes LinkDown.
func (n *Node) LinkUp() { n.setPort("up") }

func (n *Node) setPort(state string) {
	tb := n.lab.tb
	tb.Helper()
	if n.port == "" {
		tb.Fatalf("lab: %s has no switch port", n.Name)
	}
	if err := runTool(nil, "ip", "-n", n.lab.Switch.NS, "link", "set", n.port, state); err != nil {
		tb.Fatalf("lab: setting %s's port %s: %v", n.Name, state, err)
	}
}

// HasAddr reports whether addr is configured on any interface of the node,
// for example to wait for a virtual address to arrive or leave. It fails the
// lab's test when the addresses cannot be listed.
func (n *Node) HasAddr(addr netip.Addr) bool {
	tb := n.lab.tb
	tb.Helper()
	out, err := toolOutput(nil, "ip", "-n", n.NS, "-o", "addr", "show")
	if err != nil {
		tb.Fatalf("lab: listing addresses of %s: %v", n.Name, err)
	}
	// Lines look like "2: eth0    inet 198.18.0.1/24 brd ...".
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] != "inet" && f[i] != "inet6" {
				continue
			}
			if p, err := netip.ParsePrefix(f[i+1]); err == nil && p.Addr() == addr {
				return true
			}
		}
	}
	return false
}
