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

// Server serves /metrics on one address.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// Listen binds addr (host:port) at once, so a bad or taken address stops
// start-up, and serves src's metrics on /metrics until Close.
func Listen(addr string, src Source, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("opening metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", Handler(src, log))
	s := &Server{
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)},
		ln: ln, done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serving metrics", "error", err)
		}
	}()
	return s, nil
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
