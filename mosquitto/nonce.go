package mosquitto

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"sync"
	"time"
)

// newNonce returns a random token that makes each probe message unique, so
// that a late, duplicate or foreign message is never taken for an answer.
func newNonce() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documentation)
	return hex.EncodeToString(b[:])
}

// waiters hands received probe messages to the round waiting for them by
// nonce, the first word of the payload.
type waiters struct {
	mu sync.Mutex
	m  map[string]chan time.Time
}

func (w *waiters) add(nonce string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[string]chan time.Time)
	}
	w.m[nonce] = ch
	return ch
}

func (w *waiters) remove(nonce string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, nonce)
}

// deliver is a message handler; it never blocks.
func (w *waiters) deliver(m message) {
	nonce, _, _ := strings.Cut(m.payload, " ")
	w.mu.Lock()
	ch := w.m[nonce]
	w.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- m.at:
	default: // a duplicate (QoS 1 redelivery)
	}
}
