package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// env returns a getenv over m.
func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// listen opens a fake service manager socket in dir and returns its
// path and the datagrams it receives.
func listen(t *testing.T, dir string) (string, <-chan string) {
	t.Helper()
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ch := make(chan string, 16)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(ch)
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return path, ch
}

// TestNotify sends to a fake NOTIFY_SOCKET, by path and abstract name.
func TestNotify(t *testing.T) {
	path, got := listen(t, t.TempDir())
	n, err := Open(env(map[string]string{"NOTIFY_SOCKET": path}))
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range []string{Ready, Watchdog, "STATUS=two lines\nWATCHDOG=1", Stopping} {
		if err := n.Notify(msg); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if m != msg {
				t.Errorf("received %q, want %q", m, msg)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q not received", msg)
		}
	}

	abstract := "@carpd-test-" + filepath.Base(t.TempDir())
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: abstract, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n, err = Open(env(map[string]string{"NOTIFY_SOCKET": abstract}))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(Ready); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	k, err := conn.Read(buf)
	if err != nil || string(buf[:k]) != Ready {
		t.Errorf("abstract socket received %q, %v", buf[:k], err)
	}
}

// TestOpen covers the unset, refused and gone cases.
func TestOpen(t *testing.T) {
	n, err := Open(env(nil))
	if n != nil || err != nil {
		t.Errorf("unset: %v, %v; want nil, nil", n, err)
	}
	if _, err := Open(env(map[string]string{"NOTIFY_SOCKET": "vsock:2:1"})); err == nil {
		t.Errorf("vsock address accepted")
	}
	n, err = Open(env(map[string]string{"NOTIFY_SOCKET": filepath.Join(t.TempDir(), "none")}))
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(Ready); err == nil {
		t.Errorf("sending to a missing socket succeeded")
	}
}

// TestWatchdogInterval reads WATCHDOG_USEC and WATCHDOG_PID.
func TestWatchdogInterval(t *testing.T) {
	tests := []struct {
		env     map[string]string
		want    time.Duration
		wantErr bool
	}{
		{nil, 0, false},
		{map[string]string{"WATCHDOG_USEC": "30000000"}, 30 * time.Second, false},
		{map[string]string{"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "42"}, 500 * time.Millisecond, false},
		{map[string]string{"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "43"}, 0, false},
		{map[string]string{"WATCHDOG_USEC": "x"}, 0, true},
		{map[string]string{"WATCHDOG_USEC": "0"}, 0, true},
		{map[string]string{"WATCHDOG_USEC": "1", "WATCHDOG_PID": "me"}, 0, true},
	}
	for _, tt := range tests {
		got, err := WatchdogInterval(env(tt.env), 42)
		if diff := cmp.Diff(tt.want, got); diff != "" || (err != nil) != tt.wantErr {
			t.Errorf("%v: err %v (want error %v), interval (-want +got):\n%s", tt.env, err, tt.wantErr, diff)
		}
	}
}

// TestReloadingAndStatus are the messages of a reload and of a status
// line as sd_notify(3) spells them.
func TestReloadingAndStatus(t *testing.T) {
	if got, want := Reloading(1234567891*time.Microsecond+999), "RELOADING=1\nMONOTONIC_USEC=1234567891"; got != want {
		t.Errorf("Reloading = %q, want %q", got, want)
	}
	if got, want := Status("vr MASTER\nREADY=1"), "STATUS=vr MASTER READY=1"; got != want {
		t.Errorf("Status = %q, want %q", got, want)
	}
}
