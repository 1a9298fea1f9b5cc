package testutil

import (
	"net"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// Notify is a service manager's notify socket (sd_notify(3)) in a temporary
// directory: it keeps every datagram.
type Notify struct {
	// Path is the socket, for NOTIFY_SOCKET.
	Path string

	mu   sync.Mutex
	msgs []string
}

// ListenNotify opens a Notify until the test ends. If seen is not nil, it
// is called with each datagram before the datagram is kept, so whatever
// seen records is in place once Count or Messages shows the datagram.
func ListenNotify(t testing.TB, seen func(msg string)) *Notify {
	t.Helper()
	n := &Notify{Path: filepath.Join(t.TempDir(), "notify")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.Path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			msg := string(buf[:k])
			if seen != nil {
				seen(msg)
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, msg)
			n.mu.Unlock()
		}
	}()
	return n
}

// Messages returns the datagrams received so far, in order.
func (n *Notify) Messages() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.msgs)
}

// Count returns how many of the datagrams received so far are msg.
func (n *Notify) Count(msg string) int {
	c := 0
	for _, m := range n.Messages() {
		if m == msg {
			c++
		}
	}
	return c
}
