package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// Listen opens the control socket of dir, readable by root only. A
// socket file left by a crash is removed first: the caller holds the pid
// lock (LockPID), so no live carpd owns it.
func Listen(dir string) (net.Listener, error) {
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

// Server answers control connections: one request and one answer each.
type Server struct {
	// Handle executes an accepted request. It is called from one
	// goroutine per connection.
	Handle func(Request) Response
	// Log receives refusals and accept errors; nil discards.
	Log *slog.Logger
	// PeerUID says who is at the other end of a connection; nil means
	// the kernel's record (SO_PEERCRED). Tests replace it to play
	// another user.
	PeerUID func(net.Conn) (int, error)

	refused atomic.Uint64
}

// Refused returns how many connections were refused for their uid.
func (s *Server) Refused() uint64 { return s.refused.Load() }

// Serve answers connections until ln is closed.
func (s *Server) Serve(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log().Warn("accepting control connection", "error", err)
			time.Sleep(10 * time.Millisecond) // a persistent error must not spin
			continue
		}
		go s.serveConn(conn)
	}
}

func (s *Server) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// serveConn answers one request.
func (s *Server) serveConn(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(Timeout))
	var req Request
	var resp Response
	// The request is read even from a peer that is refused: closing a Unix
	// socket with unread data resets it, and the peer would not see why.
	decErr := json.NewDecoder(conn).Decode(&req)
	if err := s.checkPeer(conn); err != nil {
		n := s.refused.Add(1)
		s.log().Warn("refusing control connection", "op", req.Op, "error", err, "refused", n)
		resp.Error = err.Error()
	} else if decErr != nil {
		resp.Error = "reading request: " + decErr.Error()
	} else {
		resp = s.Handle(req)
	}
	if err := json.NewEncoder(conn).Encode(resp); err != nil {
		s.log().Debug("answering control request", "op", req.Op, "error", err)
	}
}

// checkPeer lets only root, or the user carpd runs as, use the control
// socket. Its mode (0600 in a 0700 directory) already says so; this
// holds even if the mode is loosened or a process with CAP_DAC_OVERRIDE
// but another uid connects. Demote and resign move the VIPs.
func (s *Server) checkPeer(conn net.Conn) error {
	peer := s.PeerUID
	if peer == nil {
		peer = peerUID
	}
	uid, err := peer(conn)
	if err != nil {
		return err
	}
	if euid := os.Geteuid(); uid != 0 && uid != euid {
		return fmt.Errorf("permission denied: uid %d may not use carpd's control socket (root or uid %d only)", uid, euid)
	}
	return nil
}
