package mosquitto

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// alertWait bounds the look for a TLS alert after a failed write. The alert
// arrived before the reset that failed the write, so it is already queued.
const alertWait = 100 * time.Millisecond

// alertConn is a client TLS connection that explains a failed write by the
// TLS alert the broker sent before closing. In TLS 1.3 the client's
// handshake is over once it has sent its Finished, before the server has
// checked the client certificate; a server that rejects it sends an alert
// such as certificate_required (RFC 8446 §4.4.2.4) and closes. The client's
// next write, the MQTT CONNECT, then fails with "connection reset by peer",
// while the alert that says why waits unread (seen with mosquitto 2.0.11 and
// OpenSSL 3).
type alertConn struct{ *tls.Conn }

func (c alertConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err == nil || !(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
		return n, err
	}
	// The connection is dead, so reading from it cannot take anything
	// from a reader that still needs it.
	_ = c.Conn.SetReadDeadline(time.Now().Add(alertWait))
	_, rerr := c.Conn.Read(make([]byte, 1))
	var op *net.OpError
	if errors.As(rerr, &op) && op.Op == "remote error" {
		return n, fmt.Errorf("broker refused the TLS session: %w (then %v)", rerr, err)
	}
	return n, err
}
