package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/control"
	"github.com/carpd/carpd/internal/status"
	"github.com/google/go-cmp/cmp"
)

// fakeControl serves one connection on dir's control socket: it
// records the request and answers resp.
func fakeControl(t *testing.T, dir string, resp control.Response) <-chan control.Request {
	t.Helper()
	ln, err := net.Listen("unix", control.SocketPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan control.Request, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		var req control.Request
		_ = json.NewDecoder(conn).Decode(&req)
		got <- req
		_ = json.NewEncoder(conn).Encode(resp)
	}()
	return got
}

// runStatus runs `carpd status` with args at the clock now.
func runStatus(now time.Time, args ...string) (string, error) {
	cmd := newStatus(func() time.Time { return now })
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func statusFixture(now time.Time) status.Report {
	prio := uint8(200)
	return status.Report{PID: 99, Started: now.Add(-time.Minute), Routers: []status.Router{{
		Name: "vr", Iface: "eth0", Proto: "vrrp3", ID: 7, State: "MASTER", Since: now.Add(-30 * time.Second),
		Reason: "master down", Master: "198.18.0.1", VIPs: []string{"198.18.0.100/32"},
		Advertised: status.Advertised{Priority: &prio, Interval: "1s"},
		Counters:   status.Counters{Sent: 30, Dropped: map[string]uint64{"auth": 2}, Transitions: 2},
		Transitions: []status.Transition{{At: now.Add(-30 * time.Second), From: "BACKUP", To: "MASTER",
			Notify: "MASTER", Reason: "master down", Done: true, Took: status.Duration(3 * time.Millisecond),
			Steps: []status.Step{{Name: "vip-add", Took: status.Duration(time.Millisecond)}}}},
	}}}
}

// TestStatusCommand checks the request, the table and the JSON of
// `carpd status` against a fake control socket.
func TestStatusCommand(t *testing.T) {
	now := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	rep := statusFixture(now)

	dir := t.TempDir()
	reqs := fakeControl(t, dir, control.Response{Status: &rep})
	out, err := runStatus(now, "--state-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(control.Request{Op: "status"}, <-reqs); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
	var want bytes.Buffer
	if err := status.Render(&want, rep, now); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.String(), out); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	if !strings.Contains(out, "vr      eth0   vrrp3  7   MASTER  30s") {
		t.Errorf("table lacks the router line:\n%s", out)
	}

	dir = t.TempDir()
	fakeControl(t, dir, control.Response{Status: &rep})
	out, err = runStatus(now, "--state-dir", dir, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var back status.Report
	if err := json.Unmarshal([]byte(out), &back); err != nil {
		t.Fatalf("--json printed %q: %v", out, err)
	}
	if diff := cmp.Diff(rep, back); diff != "" {
		t.Errorf("--json (-want +got):\n%s", diff)
	}
}

// TestStatusErrors checks the messages for a daemon that is not running
// (no socket, a stale socket file) and one that refuses the request.
func TestStatusErrors(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	_, err := runStatus(now, "--state-dir", dir)
	if err == nil || !strings.Contains(err.Error(), "carpd is not running") {
		t.Errorf("no socket: %v, want carpd is not running", err)
	}

	stale := t.TempDir()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: control.SocketPath(stale), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(control.SocketPath(stale)); err != nil {
		t.Fatal(err)
	}
	_, err = runStatus(now, "--state-dir", stale)
	if err == nil || !strings.Contains(err.Error(), "carpd is not running") {
		t.Errorf("stale socket: %v, want carpd is not running", err)
	}

	dir = t.TempDir()
	fakeControl(t, dir, control.Response{Error: "busy"})
	if _, err := runStatus(now, "--state-dir", dir); err == nil || err.Error() != "busy" {
		t.Errorf("refused request: %v, want busy", err)
	}
}

// TestExplain covers permission denied, which a root test cannot provoke
// on a real socket.
func TestExplain(t *testing.T) {
	base := &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EACCES)}
	err := explain(fmt.Errorf("connecting to carpd: %w", base), "/run/carpd/carpd.sock")
	if err == nil || !strings.HasPrefix(err.Error(), "permission denied on /run/carpd/carpd.sock: the control socket is root-only") ||
		!errors.Is(err, syscall.EACCES) {
		t.Errorf("EACCES: %v", err)
	}
	other := errors.New("reading response: EOF")
	if got := explain(other, "x"); got != other {
		t.Errorf("other error rewritten: %v", got)
	}
}
