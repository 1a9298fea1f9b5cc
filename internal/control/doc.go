// Package control is carpd's control protocol: the requests and answers
// that `carpd status` and `carpd demote` exchange with a running carpd
// over the Unix socket in its state directory, the client side (Call),
// the server side's framing (Listen, Server: one JSON request and one JSON
// answer per connection, bounded by Timeout, refused unless the peer's uid
// as the kernel recorded it is root or carpd's own), and the pid file that
// says a carpd owns the state directory (LockPID).
//
// It owns the wire, not what a request does: the daemon supplies the
// Server's Handle. It must not import internal/daemon, so the client
// commands link the protocol without the daemon.
package control
