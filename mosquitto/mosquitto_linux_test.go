//go:build linux

package mosquitto

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/secret"
	"github.com/carpd/carpd/internal/testutil"
	"github.com/carpd/carpd/supervisor"
)

// testPassword is the probe user's password in the generated password file;
// the tests check that it never reaches a log.
const testPassword = "pr0be-s3cret-xyzzy"

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	t  *testing.T
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// needMosquitto skips the test without mosquitto(8) and mosquitto_passwd(1)
// (Debian package mosquitto).
func needMosquitto(t *testing.T) {
	t.Helper()
	for _, p := range []string{"mosquitto", "mosquitto_passwd"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not found (Debian package mosquitto): %v", p, err)
		}
	}
}

// brokerConf writes a mosquitto.conf with one listener on addr, a password
// file with user "probe", and extra lines, and returns its path.
func brokerConf(t *testing.T, addr string, extra ...string) string {
	t.Helper()
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	if err := os.WriteFile(pw, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mosquitto_passwd", "-b", pw, "probe", testPassword).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	host, port, _ := net.SplitHostPort(addr)
	lines := []string{
		"listener " + port + " " + host,
		"allow_anonymous false",
		"password_file " + pw,
		"persistence false",
		"log_dest stderr",
	}
	if os.Geteuid() == 0 {
		// Keep root: the files live in a 0700 test directory.
		lines = append(lines, "user root")
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(strings.Join(append(lines, extra...), "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}

func testBroker(addr string) Broker {
	return Broker{Addr: addr, Username: "probe", Password: secret.Secret(testPassword), Timeout: time.Second}
}

// startBroker supervises a mosquitto on addr until the test ends.
func startBroker(t *testing.T, addr string, log *slog.Logger) (*supervisor.Child, *events) {
	t.Helper()
	return superviseMosquitto(t, brokerConf(t, addr), MQTTReady(testBroker(addr), "carpd-ready-test"), log)
}

// superviseMosquitto runs mosquitto -c conf under a Child with the tests'
// short timers until the test ends.
func superviseMosquitto(t *testing.T, conf string, ready supervisor.ReadyFunc, log *slog.Logger) (*supervisor.Child, *events) {
	t.Helper()
	ev := newEvents()
	c, err := supervisor.New(supervisor.Config{
		Name:          "mosquitto",
		Command:       []string{"mosquitto", "-c", conf},
		Ready:         ready,
		ReadyTimeout:  5 * time.Second,
		ReadyInterval: 20 * time.Millisecond,
		StopTimeout:   3 * time.Second,
		BackoffBase:   50 * time.Millisecond,
		BackoffCap:    200 * time.Millisecond,
		OnEvent:       ev.add,
		Logger:        log,
	})
	if err != nil {
		t.Fatal(err)
	}
	runChild(t, c)
	return c, ev
}

func TestMosquittoReady(t *testing.T) {
	needMosquitto(t)
	testutil.CheckGoroutines(t)
	logs := &lockedBuffer{t: t}
	log := slog.New(slog.NewTextHandler(logs, nil))
	addr := testutil.FreeAddr(t)
	c, ev := startBroker(t, addr, log)
	ready := ev.wait(t, supervisor.EventReady, 10*time.Second)
	t.Logf("mosquitto time to ready (TCP + CONNECT/CONNACK): %v", ready.Took)
	if !strings.Contains(logs.String(), "component=mosquitto") ||
		!strings.Contains(logs.String(), "mosquitto version") {
		t.Error("mosquitto's own lines are not in the log with component=mosquitto")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	bad := testBroker(addr)
	bad.Password = secret.Secret("wrong")
	if err := MQTTReady(bad, "carpd-ready-bad")(ctx); err == nil {
		t.Error("readiness with a wrong password succeeded")
	} else if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error shows the password: %v", err)
	}
	log.Info("credentials", "broker", testBroker(addr), "password", testBroker(addr).Password)
	res, err := c.Restart(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("mosquitto restart: stop %v, ready %v, total %v", res.Stop, res.Ready, res.Total)
	if strings.Contains(logs.String(), testPassword) {
		t.Error("the password appears in the log")
	}
}

func TestMosquittoCannotBind(t *testing.T) {
	needMosquitto(t)
	testutil.CheckGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	_, ev := startBroker(t, addr, slog.New(slog.NewTextHandler(&lockedBuffer{t: t}, nil)))
	exit := ev.wait(t, supervisor.EventExited, 10*time.Second)
	if exit.Exit.Code != 1 {
		t.Errorf("exit %v, want exit status 1", exit.Exit)
	}
	// mosquitto 2.0.11 says "Error: Address already in use".
	if exit.Err == nil || !strings.Contains(exit.Err.Error(), "Error: Address already in use") {
		t.Errorf("exit error %v lacks mosquitto's own error line", exit.Err)
	}
	t.Logf("reported: %v", exit.Err)
}

func TestMosquittoHealth(t *testing.T) {
	needMosquitto(t)
	testutil.CheckGoroutines(t)
	log := slog.New(slog.NewTextHandler(&lockedBuffer{t: t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	addr := testutil.FreeAddr(t)
	c, ev := startBroker(t, addr, log)
	ev.wait(t, supervisor.EventReady, 10*time.Second)

	changes := make(chan bool, 10)
	const interval, failures = 200 * time.Millisecond, 3
	h, err := NewHealth(HealthConfig{
		Broker:   testBroker(addr),
		ClientID: "carpd-health-test",
		Topic:    "carpd/health/test",
		Interval: interval,
		Timeout:  300 * time.Millisecond,
		Failures: failures,
		OnChange: func(healthy bool, _ error) { changes <- healthy },
		Logger:   log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitCond(t, 5*time.Second, "a healthy round trip", func() bool { return !h.Status().LastOK.IsZero() })
	t.Logf("health RTT: %v", h.Status().RTT)

	pid := c.State().PID
	stopped := time.Now()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	// Unhealthy after `failures` rounds, each at most one interval
	// apart (a round is shorter than the interval).
	bound := failures*interval + time.Second
	if got := nextChange(t, changes, bound); got {
		t.Fatal("healthy reported while the broker is stopped")
	}
	t.Logf("unhealthy %v after SIGSTOP (bound %v)", time.Since(stopped).Round(time.Millisecond), bound)
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	if got := nextChange(t, changes, 5*time.Second); !got {
		t.Fatal("unhealthy reported twice")
	}
	t.Logf("healthy %v after SIGCONT", time.Since(resumed).Round(time.Millisecond))
}

func nextChange(t *testing.T, ch <-chan bool, d time.Duration) bool {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("no health change within %v", d)
	}
	return false
}

// waitCond polls cond every 20 ms for up to d.
func waitCond(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
