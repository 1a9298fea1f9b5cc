package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/net/netutil"
)

// Handler serves src's metrics, with the Go runtime and process
// essentials (see runtime.go and process_linux.go), in the text
// exposition format. A process figure that cannot be read is logged and
// left out; the rest is still served.
func Handler(src Source, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fams := append(collect(src), goFamilies()...)
		proc, err := processFamilies()
		if err != nil {
			log.Warn("collecting process metrics", "error", err)
		}
		fams = append(fams, proc...)
		var buf bytes.Buffer
		if err := write(&buf, fams); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		// An error here means the scraper went away; there is no one to tell.
		_, _ = w.Write(buf.Bytes())
	})
}

// limits bound what one client can hold of the metrics server: carpd runs
// as root on a LAN with untrusted hosts, and a scrape is one small GET.
type limits struct {
	// ReadHeader, Read and Write bound reading the request's header, the
	// whole request, and writing the answer (http.Server's timeouts).
	ReadHeader, Read, Write time.Duration
	// Idle is how long a keep-alive connection may wait for its next
	// request; without it a connection would be held for ever.
	Idle time.Duration
	// MaxHeaderBytes bounds the request header; net/http reads up to
	// 4 KiB beyond it before answering 431.
	MaxHeaderBytes int
	// MaxConns is how many connections are served at once. Further
	// connections wait in the kernel's accept queue, not in carpd, until
	// one ends: a scraper that comes while the slots are taken is served
	// late (at most Read after the holders' start) instead of refused,
	// and a flood costs carpd no goroutine or buffer.
	MaxConns int
}

// defaultLimits suit a Prometheus scraper: one request every 10 to 60 s,
// on a kept-alive connection or a new one, with a header of a few hundred
// bytes and an answer of a few KiB. Idle outlasts a one-minute scrape
// interval so that the connection is reused.
func defaultLimits() limits {
	return limits{
		ReadHeader:     5 * time.Second,
		Read:           10 * time.Second,
		Write:          10 * time.Second,
		Idle:           2 * time.Minute,
		MaxHeaderBytes: 8 << 10,
		MaxConns:       16,
	}
}

// Server serves /metrics on one address.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// Listen binds addr (host:port) at once, so a bad or taken address stops
// start-up, and serves src's metrics on /metrics until Close, within
// defaultLimits.
func Listen(addr string, src Source, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("opening metrics listener: %w", err)
	}
	return serve(ln, src, log, defaultLimits()), nil
}

// serve serves src's metrics on ln within lim until Close.
func serve(ln net.Listener, src Source, log *slog.Logger, lim limits) *Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", Handler(src, log))
	s := &Server{
		srv: &http.Server{Handler: mux,
			ReadHeaderTimeout: lim.ReadHeader, ReadTimeout: lim.Read, WriteTimeout: lim.Write,
			IdleTimeout: lim.Idle, MaxHeaderBytes: lim.MaxHeaderBytes,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
		ln: ln, done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(netutil.LimitListener(ln, lim.MaxConns)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serving metrics", "error", err)
		}
	}()
	return s
}

// Addr is the address served, with the port the kernel chose for ":0".
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops serving, letting a scrape in progress finish for a second.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}
