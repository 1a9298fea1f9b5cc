//go:build !linux

package control

import (
	"errors"
	"net"
)

// peerUID refuses every peer: carpd runs on Linux only, and without
// SO_PEERCRED nothing says who connected.
func peerUID(net.Conn) (int, error) {
	return 0, errors.New("reading peer credentials: not supported on this system")
}
