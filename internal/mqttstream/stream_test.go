//go:build linux

package mqttstream

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// broker is a mosquitto on 127.0.0.1 at a free port.
type broker struct {
	addr string
	cmd  *exec.Cmd
}

// startBroker starts mosquitto (Debian package mosquitto) or skips.
func startBroker(t *testing.T) *broker {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		t.Skipf("mosquitto not found (Debian package mosquitto): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	text := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n", port)
	if os.Geteuid() == 0 {
		// Root mosquitto switches to user mosquitto, which may not exist.
		text += "user root\n"
	}
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &broker{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), cmd: exec.Command(bin, "-c", conf)}
	b.cmd.Stderr = &logWriter{t}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.cmd.Process.Signal(syscall.SIGCONT)
		_ = b.cmd.Process.Kill()
		_ = b.cmd.Wait()
	})
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", b.addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return b
		}
		if i == 50 {
			t.Fatalf("mosquitto not listening on %s after 5 s: %v", b.addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type logWriter struct{ t *testing.T }

func (w *logWriter) Write(p []byte) (int, error) {
	w.t.Logf("mosquitto: %s", p)
	return len(p), nil
}

// pause stops the broker for d (SIGSTOP, then SIGCONT): its sockets stay
// open, nothing is processed.
func (b *broker) pause(t *testing.T, d time.Duration) {
	t.Helper()
	if err := b.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	if err := b.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
}

func startStream(t *testing.T, cfg Config) *Stream {
	t.Helper()
	s, err := Start(cfg, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Stop(0) })
	waitFlowing(t, s)
	return s
}

func waitFlowing(t *testing.T, s *Stream) {
	t.Helper()
	for i := 0; s.Received() < 20; i++ {
		if i == 250 {
			t.Fatalf("stream not flowing after 5 s: received %d", s.Received())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitResumed(t *testing.T, s *Stream, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := s.WaitResumed(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestPause stops the broker for less than the clients' keepalive: the
// connections survive, every message arrives once, and the longest gap is
// the pause.
func TestPause(t *testing.T) {
	b := startBroker(t)
	s := startStream(t, Config{Addr: b.addr, Keepalive: 3 * time.Second, PingTimeout: 3 * time.Second})
	const pause = time.Second
	start := time.Now()
	b.pause(t, pause)
	waitResumed(t, s, 5*time.Second)
	r := s.Stop(500 * time.Millisecond)
	t.Logf("sent %d, received %d, lost %d, dups %d, gap %v ending %v after the pause began",
		r.Sent, r.Received, r.Lost, r.Dups, r.Gap, r.GapEnd.Sub(start))
	if r.Lost != 0 || r.Dups != 0 || r.Received != r.Sent {
		t.Errorf("sent %d, received %d, lost %d, dups %d; want all received once", r.Sent, r.Received, r.Lost, r.Dups)
	}
	if r.Gap < pause-3*DefaultEvery || r.Gap > pause+500*time.Millisecond {
		t.Errorf("longest gap %v, want about the pause %v", r.Gap, pause)
	}
	if end := r.GapEnd.Sub(start); end < pause || end > pause+500*time.Millisecond {
		t.Errorf("gap ended %v after the pause began, want just after %v", end, pause)
	}
	for _, e := range s.Events() {
		if e.Kind != Connected {
			t.Errorf("event %v during a pause shorter than the keepalive", e)
		}
	}
}

// TestStall stops the broker for longer than keepalive plus ping timeout:
// both clients see the connection lost and reconnect, and the counts add
// up (received = sent - lost + dups).
func TestStall(t *testing.T) {
	b := startBroker(t)
	var events []Event
	evc := make(chan Event, 100)
	s := startStream(t, Config{Addr: b.addr, OnEvent: func(e Event) { evc <- e }})
	const stall = 4 * time.Second
	b.pause(t, stall)
	waitResumed(t, s, 10*time.Second)
	r := s.Stop(500 * time.Millisecond)
	t.Logf("sent %d, received %d, lost %d, dups %d, gap %v", r.Sent, r.Received, r.Lost, r.Dups, r.Gap)
	if r.Received != r.Sent-r.Lost+r.Dups {
		t.Errorf("received %d, want sent %d - lost %d + dups %d", r.Received, r.Sent, r.Lost, r.Dups)
	}
	if r.Gap < stall-3*DefaultEvery {
		t.Errorf("longest gap %v, want at least the stall %v", r.Gap, stall)
	}
	close(evc)
	for e := range evc {
		events = append(events, e)
	}
	if diff := cmpKinds(s.Events(), events); diff != "" {
		t.Errorf("OnEvent and Events differ: %s", diff)
	}
	kinds := map[string]int{}
	for _, e := range events {
		t.Logf("%v %v", e.At.Format("15:04:05.000"), e)
		kinds[e.Client+" "+e.Kind]++
	}
	for _, want := range []string{"pub connected", "sub connected", "pub connection lost", "sub connection lost", "pub reconnected", "sub reconnected"} {
		if kinds[want] == 0 {
			t.Errorf("no %q event; got %v", want, kinds)
		}
	}
}

func cmpKinds(a, b []Event) string {
	if len(a) != len(b) {
		return fmt.Sprintf("%d events vs %d", len(a), len(b))
	}
	for i := range a {
		if a[i].String() != b[i].String() {
			return fmt.Sprintf("event %d: %v vs %v", i, a[i], b[i])
		}
	}
	return ""
}
