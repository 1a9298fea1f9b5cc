// Package sdnotify speaks the service manager notification protocol of
// sd_notify(3): newline-separated VAR=VALUE datagrams sent to the
// AF_UNIX datagram socket named by $NOTIFY_SOCKET, and the watchdog
// interval systemd passes in $WATCHDOG_USEC. It is a few lines of
// net.UnixConn, so carpd needs neither cgo nor libsystemd.
//
// The package only sends; deciding when a daemon is ready or alive is
// the caller's business.
package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Messages carpd sends (sd_notify(3)).
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)

// Notifier sends notifications to one socket.
type Notifier struct {
	addr *net.UnixAddr
}

// Open returns a Notifier for the socket in NOTIFY_SOCKET as getenv
// reports it, or nil when the variable is unset (not started by a
// service manager, or Type= other than notify). An absolute path and a
// Linux abstract address ("@name") are accepted.
func Open(getenv func(string) string) (*Notifier, error) {
	s := getenv("NOTIFY_SOCKET")
	if s == "" {
		return nil, nil
	}
	if !strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "@") {
		return nil, fmt.Errorf("NOTIFY_SOCKET %q: want an absolute path or @abstract name", s)
	}
	// Go's net package maps a leading "@" to the abstract namespace.
	return &Notifier{addr: &net.UnixAddr{Name: s, Net: "unixgram"}}, nil
}

// Notify sends state, one or more VAR=VALUE lines, as one datagram. A
// fresh socket per call, as libsystemd does, keeps working across a
// restart of the service manager.
func (n *Notifier) Notify(state string) error {
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("connecting to the notify socket: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sending %q to the notify socket: %w", state, err)
	}
	return nil
}

// WatchdogInterval returns the interval systemd expects WATCHDOG=1
// within (WatchdogSec=), read from WATCHDOG_USEC, or 0 when there is no
// watchdog or it is meant for another process (WATCHDOG_PID is set and is
// not pid).
func WatchdogInterval(getenv func(string) string, pid int) (time.Duration, error) {
	us := getenv("WATCHDOG_USEC")
	if us == "" {
		return 0, nil
	}
	if p := getenv("WATCHDOG_PID"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return 0, fmt.Errorf("WATCHDOG_PID %q: %w", p, err)
		}
		if n != pid {
			return 0, nil
		}
	}
	n, err := strconv.ParseUint(us, 10, 63)
	if err != nil {
		return 0, fmt.Errorf("WATCHDOG_USEC %q: %w", us, err)
	}
	if n == 0 {
		return 0, errors.New("WATCHDOG_USEC is 0")
	}
	return time.Duration(n) * time.Microsecond, nil
}

// Reloading is the message that opens a reload (sd_notify(3)): RELOADING=1
// with the CLOCK_MONOTONIC time in µs, which systemd ≥ 253 requires of a
// Type=notify-reload service to match the message to the reload it asked
// for; older versions ignore MONOTONIC_USEC. READY=1 closes the reload.
func Reloading(monotonic time.Duration) string {
	return "RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(monotonic.Microseconds(), 10)
}

// Status is the message that sets the one-line status `systemctl status`
// shows; a newline would end the value, so it becomes a space.
func Status(s string) string {
	return "STATUS=" + strings.ReplaceAll(s, "\n", " ")
}
