package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/carpd/carpd/internal/status"
)

// SocketFile is the name of the control socket in the state directory.
const SocketFile = "carpd.sock"

// Timeout bounds one control connection, on both sides.
const Timeout = 5 * time.Second

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
	ctx, cancel := context.WithTimeout(ctx, Timeout)
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
