//go:build linux

package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RogueBroker is a mosquitto an attacker runs on its own address, accepting
// anyone, to see who connects to it and with which credentials.
type RogueBroker struct {
	Proc *Proc
}

// Connect is one CONNECT a RogueBroker logged.
type Connect struct {
	// From is the client's address and port, ClientID its client id.
	From, ClientID string
	// Username is the user name it sent; empty without one.
	Username string
}

// RogueBroker starts mosquitto in n's namespace listening on n's IPv4
// address, port 1883, with anonymous access and every log type, and waits
// up to 10 s until it listens. It is stopped by PID when tb's test ends. It
// skips tb when mosquitto is not installed and fails it on error.
func (n *Node) RogueBroker(tb testing.TB) *RogueBroker {
	tb.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		tb.Skipf("lab: mosquitto not found (Debian package mosquitto): %v", err)
	}
	conf := filepath.Join(tb.TempDir(), "rogue.conf")
	lines := []string{
		"listener 1883 " + n.IP4.Addr().String(),
		"allow_anonymous true",
		"persistence false",
		"log_dest stderr",
		"log_type all",
		"connection_messages true",
		"user root",
	}
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		tb.Fatalf("lab: writing %s: %v", conf, err)
	}
	r := &RogueBroker{Proc: n.Start(tb, bin, "-c", conf)}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = WaitFor(ctx, 20*time.Millisecond, func() bool {
		return strings.Contains(r.Proc.Output(), "Opening ipv4 listen socket on port 1883")
	})
	if err != nil {
		tb.Fatalf("lab: rogue mosquitto on %s not listening: %v; log:\n%s", n.Name, err, r.Proc.Output())
	}
	return r
}

// Connects returns every CONNECT the broker has logged so far.
func (r *RogueBroker) Connects() []Connect {
	return ParseConnects(r.Proc.Output())
}

// ParseConnects reads mosquitto's connection messages, such as
//
//	1700000000: New client connected from 198.18.0.2:40112 as probe-n2 (p2, c1, k5, u'carpd').
//
// (mosquitto 2.0 src/handle_connect.c; the u'…' part only with a user name).
func ParseConnects(log string) []Connect {
	const marker = "New client connected from "
	var out []Connect
	for _, line := range strings.Split(log, "\n") {
		_, rest, ok := strings.Cut(line, marker)
		if !ok {
			continue
		}
		var c Connect
		var opts string
		c.From, rest, _ = strings.Cut(rest, " as ")
		c.ClientID, opts, _ = strings.Cut(rest, " (")
		if _, u, ok := strings.Cut(opts, "u'"); ok {
			c.Username = u[:max(strings.LastIndex(u, "'"), 0)]
		}
		out = append(out, c)
	}
	return out
}

// String shows a connect as the attack tables list it.
func (c Connect) String() string {
	return fmt.Sprintf("%s as %s user %q", c.From, c.ClientID, c.Username)
}
