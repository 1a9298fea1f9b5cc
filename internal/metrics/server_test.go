package metrics

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// pipeListener hands out the server ends of net.Pipe connections, so the
// server runs inside a synctest bubble with a fake clock. Its queue plays
// the kernel's accept queue: a dial succeeds before the server accepts.
type pipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn, 64), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// dial connects a client; the test closes it.
func (l *pipeListener) dial(t *testing.T) net.Conn {
	c, s := net.Pipe()
	l.conns <- s
	t.Cleanup(func() { c.Close() })
	return c
}

// serveTest serves the default limits on a pipe listener until the test
// (inside its bubble) ends.
func serveTest(t *testing.T) (*pipeListener, limits) {
	t.Helper()
	ln := newPipeListener()
	lim := defaultLimits()
	s := serve(ln, static(report()), slog.New(slog.DiscardHandler), lim)
	t.Cleanup(func() { s.Close() })
	return ln, lim
}

// get sends one GET /metrics with extra header bytes and returns the
// response; the request is written from a goroutine because a pipe write
// blocks until the server reads, and the server may stop reading.
func get(t *testing.T, c net.Conn, pad int) (*http.Response, error) {
	t.Helper()
	req := "GET /metrics HTTP/1.1\r\nHost: carpd\r\nX-Pad: " + strings.Repeat("a", pad) + "\r\n\r\n"
	go func() { _, _ = io.WriteString(c, req) }()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, err
}

// TestServerHeaderLimit: a scrape's header is a few hundred bytes; one
// of 16 KiB is answered 431 instead of being buffered (net/http's default
// takes 1 MiB).
func TestServerHeaderLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln, lim := serveTest(t)
		for _, tc := range []struct {
			pad  int
			want int
		}{
			{pad: 512, want: http.StatusOK},
			{pad: 2 * lim.MaxHeaderBytes, want: http.StatusRequestHeaderFieldsTooLarge},
		} {
			resp, err := get(t, ln.dial(t), tc.pad)
			if err != nil {
				t.Fatalf("header of %d bytes: %v", tc.pad, err)
			}
			if resp.StatusCode != tc.want {
				t.Errorf("header of %d bytes: status %d, want %d", tc.pad, resp.StatusCode, tc.want)
			}
		}
	})
}

// TestServerIdleTimeout: a kept-alive connection that sends no further
// request is closed by the server after the idle timeout, not held for
// ever.
func TestServerIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln, lim := serveTest(t)
		c := ln.dial(t)
		resp, err := get(t, c, 0)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("status %d, close %v: want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
		}
		start := time.Now()
		_ = c.SetReadDeadline(start.Add(10 * lim.Idle))
		_, err = c.Read(make([]byte, 1))
		if !errors.Is(err, io.EOF) {
			t.Fatalf("idle connection: read error %v, want EOF (closed by the server)", err)
		}
		if took := time.Since(start); took != lim.Idle {
			t.Errorf("idle connection closed after %v, want %v", took, lim.Idle)
		}
	})
}

// TestServerMaxConns: with every slot held by a silent connection, one
// more is not served until a slot frees.
func TestServerMaxConns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ln, lim := serveTest(t)
		holders := make([]net.Conn, lim.MaxConns)
		for i := range holders {
			holders[i] = ln.dial(t)
		}
		type result struct {
			resp *http.Response
			err  error
		}
		got := make(chan result, 1)
		extra := ln.dial(t)
		go func() {
			resp, err := get(t, extra, 0)
			got <- result{resp, err}
		}()
		synctest.Wait()
		select {
		case r := <-got:
			t.Fatalf("connection %d answered while %d were held (error %v)", lim.MaxConns+1, lim.MaxConns, r.err)
		default:
		}
		holders[0].Close()
		synctest.Wait()
		select {
		case r := <-got:
			if r.err != nil || r.resp.StatusCode != http.StatusOK {
				t.Fatalf("after a slot freed: %v %v", r.resp, r.err)
			}
		default:
			t.Fatalf("connection %d not served after a slot freed", lim.MaxConns+1)
		}
	})
}
