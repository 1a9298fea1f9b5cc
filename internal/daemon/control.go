package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/carpd/carpd/internal/status"
	"net"
	"os"
	"path/filepath"
	"time"
)

// SocketFile is the name of the control socket in the state directory.
const SocketFile = "carpd.sock"

// controlTimeout bounds one control connection.
const controlTimeout = 5 * time.Second

// Request is one control request, sent as one JSON object per
// connection:
//
//	{"op":"status"}
//	{"op":"demote","router":"carp1","n":1}     add n (default 1 in the CLI) to the manual demotion
//	{"op":"demote","router":"carp1","reset":true}  set it to 0 (then add n)
//	{"op":"resign","router":"carp1"}           step down once if MASTER; no router = all
type Request struct {
	Op     string `json:"op"`
	Router string `json:"router,omitempty"`
	N      int    `json:"n,omitempty"`
	Reset  bool   `json:"reset,omitempty"`
}

// Response answers a Request; Error is set when it failed.
type Response struct {
	Error  string         `json:"error,omitempty"`
	Status *status.Report `json:"status,omitempty"`
	Demote *int           `json:"demote,omitempty"` // the manual demotion after a demote
}

// SocketPath returns the control socket path of a state directory.
func SocketPath(stateDir string) string { return filepath.Join(stateDir, SocketFile) }

// Call sends one request to the carpd serving stateDir and returns its
// answer; a Response with Error set comes back as an error.
func Call(ctx context.Context, stateDir string, req Request) (Response, error) {
	var dialer net.Dialer
	ctx, cancel := context.WithTimeout(ctx, controlTimeout)
	defer cancel()
	conn, err := dialer.DialContext(ctx, "unix", SocketPath(stateDir))
	if err != nil {
		return Response{}, fmt.Errorf("connecting to carpd: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return Response{}, fmt.Errorf("sending request: %w", err)
	}
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		return Response{}, fmt.Errorf("reading response: %w", err)
	}
	if resp.Error != "" {
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}

// listenControl opens the control socket, readable by root only. A socket
// file left by a crash is removed first: we hold the pid lock, so no live
// carpd owns it.
func listenControl(dir string) (net.Listener, error) {
	path := SocketPath(dir)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing stale control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("opening control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("restricting control socket: %w", err)
	}
	return ln, nil
}

// serveControl answers connections until ln is closed.
func (d *Daemon) serveControl(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			d.log.Warn("accepting control connection", "error", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go d.handleControl(conn)
	}
}

// handleControl answers one request.
func (d *Daemon) handleControl(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(controlTimeout))
	var req Request
	var resp Response
	// The request is read even from a peer that is refused: closing a Unix
	// socket with unread data resets it, and the peer would not see why.
	decErr := json.NewDecoder(conn).Decode(&req)
	if err := d.checkPeer(conn); err != nil {
		n := d.ctlRefused.Add(1)
		d.log.Warn("refusing control connection", "op", req.Op, "error", err, "refused", n)
		resp.Error = err.Error()
	} else if decErr != nil {
		resp.Error = "reading request: " + decErr.Error()
	} else {
		resp = d.answer(req)
	}
	if err := json.NewEncoder(conn).Encode(resp); err != nil {
		d.log.Debug("answering control request", "op", req.Op, "error", err)
	}
}

// checkPeer lets only root, or the user carpd runs as, use the control
// socket. Its mode (0600 in a 0700 directory) already says so; this
// holds even if the mode is loosened or a process with CAP_DAC_OVERRIDE
// but another uid connects. Demote and resign move the VIPs.
func (d *Daemon) checkPeer(conn net.Conn) error {
	uid, err := d.peerUID(conn)
	if err != nil {
		return err
	}
	if euid := os.Geteuid(); uid != 0 && uid != euid {
		return fmt.Errorf("permission denied: uid %d may not use carpd's control socket (root or uid %d only)", uid, euid)
	}
	return nil
}

// answer executes one request.
func (d *Daemon) answer(req Request) Response {
	switch req.Op {
	case "status":
		st := d.Status()
		return Response{Status: &st}
	case "demote":
		n, err := d.Demote(req.Router, req.N, req.Reset)
		if err != nil {
			return Response{Error: err.Error()}
		}
		return Response{Demote: &n}
	case "resign":
		if err := d.Resign(req.Router); err != nil {
			return Response{Error: err.Error()}
		}
		return Response{}
	}
	return Response{Error: fmt.Sprintf("unknown op %q (status, demote, resign)", req.Op)}
}
