package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/carpd/carpd/internal/config"
)

// maxHookOutput bounds the output of one hook kept for the log.
const maxHookOutput = 16 << 10

// hookWaitDelay is how long a finished or killed hook may keep its output
// pipes open (a background child holding stdout) before Wait gives up.
const hookWaitDelay = time.Second

// errHookTimeout marks a hook killed because it ran out of time.
var errHookTimeout = errors.New("timed out")

// runHook runs argv (the configuration makes argv[0] absolute) as user
// (nil: carpd's own) with scriptEnv(env), and returns its combined output.
// The hook gets its own process group; when timeout passes or ctx ends,
// the whole group is killed, so a script's children die with it. It never
// goes through a shell.
func runHook(ctx context.Context, argv, env []string, timeout time.Duration, user *config.ScriptUser) ([]byte, error) {
	if len(argv) == 0 {
		return nil, errors.New("empty command")
	}
	timeout = hookTimeout(timeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = scriptEnv(os.LookupEnv, env)
	out := &capped{max: maxHookOutput}
	cmd.Stdout, cmd.Stderr = out, out
	// Own process group, so the group can be killed as one and a
	// terminal's Ctrl-C does not reach it directly.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: credential(user)}
	cmd.Cancel = func() error {
		// The group id is the child's pid (Setpgid with Pgid 0).
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = hookWaitDelay
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		// The group was killed; make sure nothing of it survives Wait
		// returning early through WaitDelay.
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		return out.Bytes(), fmt.Errorf("%w after %v", errHookTimeout, timeout)
	}
	return out.Bytes(), err
}

// hookTimeout is how long a hook with timeout t may run: t, or the
// configuration's default when t is not set (a router built in code).
func hookTimeout(t time.Duration) time.Duration {
	if t <= 0 {
		return config.DefaultHookTimeout
	}
	return t
}

// credential is who a hook runs as: a fresh copy for every run, since
// exec reads it while other hooks start.
func credential(u *config.ScriptUser) *syscall.Credential {
	if u == nil {
		return nil
	}
	// Groups empty (not NoSetGroups) clears carpd's supplementary groups.
	return &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: append([]uint32(nil), u.Groups...)}
}

// scriptEnv is the whole environment of a hook or track script: the safe
// PATH, the locale and time zone carpd was given, and extra (CARPD_*).
// Nothing else of carpd's passes: not the service manager's sockets
// (NOTIFY_SOCKET, WATCHDOG_*, LISTEN_*), which a script could use to
// speak for carpd, nor anything secret.
func scriptEnv(lookup func(string) (string, bool), extra []string) []string {
	env := []string{"PATH=" + config.SafePath}
	for _, k := range []string{"LANG", "TZ"} {
		if v, ok := lookup(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return append(env, extra...)
}

// capped is a writer that keeps the first max bytes and counts the rest.
type capped struct {
	buf     bytes.Buffer
	max     int
	dropped int
}

func (c *capped) Write(p []byte) (int, error) {
	room := c.max - c.buf.Len()
	if room >= len(p) {
		return c.buf.Write(p)
	}
	c.buf.Write(p[:max(room, 0)])
	c.dropped += len(p) - max(room, 0)
	return len(p), nil
}

// Bytes returns the kept output, with a note if some was dropped.
func (c *capped) Bytes() []byte {
	if c.dropped == 0 {
		return c.buf.Bytes()
	}
	return fmt.Appendf(c.buf.Bytes(), "\n[%d more bytes dropped]", c.dropped)
}

// hookEnv is the environment every hook of a router gets: the state it is
// run for and who it is about.
func hookEnv(r *config.Router, state string) []string {
	vips := make([]string, len(r.VIPs))
	for i, p := range r.VIPs {
		vips[i] = p.String()
	}
	return []string{
		"CARPD_STATE=" + state,
		"CARPD_ROUTER=" + r.Name,
		"CARPD_IFACE=" + r.Iface,
		"CARPD_VIPS=" + strings.Join(vips, " "),
		"CARPD_PROTO=" + r.Machine.Proto.String(),
		"CARPD_ID=" + strconv.Itoa(int(r.Machine.ID)),
	}
}

// scriptArgv is an up or down script's command line as ucarp builds it
// (ucarp src/spawn.c: execl(script, script, iface, vip, [xparam])): the
// configured argv, then the interface, the VIP address and, if set, the
// extra parameter.
func scriptArgv(base []string, r *config.Router, vip string) []string {
	argv := append(append([]string(nil), base...), r.Iface, vip)
	if r.Hooks.XParam != "" {
		argv = append(argv, r.Hooks.XParam)
	}
	return argv
}

// notifyArgv is a notify script's command line as keepalived builds it
// for a VRRP instance (keepalived vrrp_notify.c): the configured argv, then
// INSTANCE, the name, the state and the priority.
func notifyArgv(base []string, name, state string, prio int) []string {
	return append(append([]string(nil), base...), "INSTANCE", name, state, strconv.Itoa(prio))
}

// stateHook is the hook run on entering state (a notify word), by its
// name in the configuration and in carpd_hook_failures_total.
func stateHook(h *config.Hooks, state string) (string, []string) {
	switch state {
	case "MASTER":
		return "master", h.Master
	case "BACKUP":
		return "backup", h.Backup
	case "FAULT":
		return "fault", h.Fault
	case "STOP":
		return "stop", h.Stop
	}
	return "", nil
}

// hookFailures counts a router's failed hook runs by hook (up, down,
// notify) for status and carpd_hook_failures_total.
type hookFailures struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (h *hookFailures) add(which string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[string]uint64{}
	}
	h.n[which]++
}

// counts returns a copy; nil when no hook failed.
func (h *hookFailures) counts() map[string]uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.n)
}
