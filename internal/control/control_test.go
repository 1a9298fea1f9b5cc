package control

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/status"
	"github.com/google/go-cmp/cmp"
)

// testServer is a Server whose handler records what it was asked.
type testServer struct {
	*Server
	handled atomic.Int64
	mu      sync.Mutex
	reqs    []Request
	logs    bytes.Buffer // written by the server's goroutines under mu
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// serve starts a Server in a fresh state directory, answering status with
// pid 42, demote with N+1 and anything else with an error; peer replaces
// SO_PEERCRED unless nil. It stops when the test ends.
func serve(t *testing.T, peer func(net.Conn) (int, error)) (*testServer, string) {
	t.Helper()
	dir := t.TempDir()
	ts := &testServer{}
	ts.Server = &Server{
		Log:     slog.New(slog.NewJSONHandler(lockedWriter{&ts.mu, &ts.logs}, nil)),
		PeerUID: peer,
		Handle: func(req Request) Response {
			ts.handled.Add(1)
			ts.mu.Lock()
			ts.reqs = append(ts.reqs, req)
			ts.mu.Unlock()
			switch req.Op {
			case "status":
				return Response{Status: &status.Report{PID: 42}}
			case "demote":
				n := req.N + 1
				return Response{Demote: &n}
			}
			return Response{Error: "unknown op " + req.Op}
		},
	}
	ln, err := Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ts.Serve(ln)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ts, dir
}

func (ts *testServer) logged() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.logs.String()
}

func uidIs(uid int) func(net.Conn) (int, error) {
	return func(net.Conn) (int, error) { return uid, nil }
}

// TestCallServe: requests reach the handler as sent and its answers come
// back, an answer with Error set as an error; the socket is 0600.
func TestCallServe(t *testing.T) {
	ts, dir := serve(t, uidIs(os.Geteuid()))
	if fi, err := os.Stat(SocketPath(dir)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket mode %v (%v), want 0600", fi.Mode(), err)
	}
	resp, err := Call(t.Context(), dir, Request{Op: "status"})
	if err != nil || resp.Status == nil || resp.Status.PID != 42 {
		t.Errorf("status = %+v, %v; want pid 42", resp, err)
	}
	resp, err = Call(t.Context(), dir, Request{Op: "demote", Router: "vr", N: -3, Reset: true})
	if err != nil || resp.Demote == nil || *resp.Demote != -2 {
		t.Errorf("demote = %+v, %v; want -2", resp, err)
	}
	if _, err := Call(t.Context(), dir, Request{Op: "reboot"}); err == nil || err.Error() != "unknown op reboot" {
		t.Errorf("reboot: error %v, want the handler's", err)
	}
	want := []Request{{Op: "status"}, {Op: "demote", Router: "vr", N: -3, Reset: true}, {Op: "reboot"}}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if diff := cmp.Diff(want, ts.reqs); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestServeBadRequest: what is not one JSON request is answered with the
// reason, not handled.
func TestServeBadRequest(t *testing.T) {
	ts, dir := serve(t, uidIs(os.Geteuid()))
	conn, err := net.Dial("unix", SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(Timeout))
	if _, err := conn.Write([]byte("status\n")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 512)
	n, _ := conn.Read(b)
	if got := string(b[:n]); !strings.HasPrefix(got, `{"error":"reading request: invalid character`) {
		t.Errorf("answer %q, want a reading request error", got)
	}
	if got := ts.handled.Load(); got != 0 {
		t.Errorf("%d requests handled, want none", got)
	}
}

// TestServerPeerUID: root and carpd's own uid are served; any other uid
// is answered with an error, counted and logged, and its request is not
// handled.
func TestServerPeerUID(t *testing.T) {
	const other = 65534
	if os.Geteuid() == other {
		t.Skip("the test plays uid 65534, which is this process's")
	}
	for _, uid := range []int{0, os.Geteuid()} {
		ts, dir := serve(t, uidIs(uid))
		if _, err := Call(t.Context(), dir, Request{Op: "demote", Router: "vr", N: 1}); err != nil {
			t.Errorf("demote as uid %d: %v", uid, err)
		}
		if ts.Refused() != 0 || ts.handled.Load() != 1 {
			t.Errorf("uid %d: refused %d, handled %d; want 0, 1", uid, ts.Refused(), ts.handled.Load())
		}
	}

	ts, dir := serve(t, uidIs(other))
	_, err := Call(t.Context(), dir, Request{Op: "demote", Router: "vr", N: 50})
	if err == nil || !strings.Contains(err.Error(), "permission denied: uid 65534 may not use carpd's control socket") {
		t.Fatalf("demote as uid %d: error %v, want permission denied", other, err)
	}
	if got := ts.handled.Load(); got != 0 {
		t.Errorf("%d requests handled, want none", got)
	}
	if got := ts.Refused(); got != 1 {
		t.Errorf("refused count %d, want 1", got)
	}
	if logs := ts.logged(); !strings.Contains(logs, `"msg":"refusing control connection","op":"demote"`) {
		t.Errorf("refusal not logged with its op:\n%s", logs)
	}

	failing := func(net.Conn) (int, error) { return 0, errors.New("reading peer credentials: no") }
	ts, dir = serve(t, failing)
	if _, err := Call(t.Context(), dir, Request{Op: "status"}); err == nil || err.Error() != "reading peer credentials: no" {
		t.Errorf("status with unreadable credentials: error %v", err)
	}
	if got := ts.handled.Load(); got != 0 {
		t.Errorf("%d requests handled without credentials, want none", got)
	}
}

// TestListenStale: a socket file left by a crashed carpd is replaced.
func TestListenStale(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: SocketPath(dir), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(SocketPath(dir)); err != nil {
		t.Fatalf("stale socket file: %v", err)
	}
	ln2, err := Listen(dir)
	if err != nil {
		t.Fatalf("listening over a stale socket: %v", err)
	}
	ln2.Close()
}
