package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Syslog priorities journald reads from a "<N>" line prefix
// (sd-daemon(3)); carpd uses these four.
const (
	prioErr     = 3
	prioWarning = 4
	prioInfo    = 6
	prioDebug   = 7
)

// onJournal reports whether fd is the stream systemd connected to
// journald: JOURNAL_STREAM holds "DEVICE:INODE" of that stream, and it
// only counts while fd still is that file, since a service's child may
// inherit the variable with its standard error redirected elsewhere
// (systemd.exec(5), $JOURNAL_STREAM). stat is syscall.Fstat but for tests.
func onJournal(getenv func(string) string, fd int, stat func(int, *syscall.Stat_t) error) bool {
	dev, ino, ok := strings.Cut(getenv("JOURNAL_STREAM"), ":")
	if !ok {
		return false
	}
	d, err1 := strconv.ParseUint(dev, 10, 64)
	i, err2 := strconv.ParseUint(ino, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	var st syscall.Stat_t
	if stat(fd, &st) != nil {
		return false
	}
	// Dev and Ino are not uint64 on every platform.
	return uint64(st.Dev) == d && uint64(st.Ino) == i
}

// errOut is standard error as carpd writes to it outside the logger:
// start-up warnings and errors, and check's findings. On the journal every
// line carries its priority; elsewhere the text is unchanged.
type errOut struct {
	w       io.Writer
	journal bool
}

// print writes msg, prefixing each of its lines with prio on the journal.
func (e errOut) print(prio int, msg string) {
	if !e.journal {
		fmt.Fprintln(e.w, msg)
		return
	}
	var b strings.Builder
	for _, line := range strings.Split(msg, "\n") {
		fmt.Fprintf(&b, "<%d>%s\n", prio, line)
	}
	io.WriteString(e.w, b.String())
}

// levelPrio maps a slog level to its syslog priority: levels between
// slog's four go to the less severe neighbour.
func levelPrio(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return prioErr
	case l >= slog.LevelWarn:
		return prioWarning
	case l >= slog.LevelInfo:
		return prioInfo
	}
	return prioDebug
}

// journalHandler is slog's text format for journald: each line starts
// with the record's priority and has no time, since journald stamps every
// line itself (sd-daemon(3)).
type journalHandler struct {
	inner slog.Handler // a TextHandler writing into *out.buf
	out   *journalOut
}

// journalOut is shared by a handler and those derived from it.
type journalOut struct {
	mu  sync.Mutex
	buf bytes.Buffer
	w   io.Writer
}

func newJournalHandler(w io.Writer, opts *slog.HandlerOptions) *journalHandler {
	o := *opts
	next := o.ReplaceAttr
	o.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		if next != nil {
			return next(groups, a)
		}
		return a
	}
	out := &journalOut{w: w}
	return &journalHandler{inner: slog.NewTextHandler(&out.buf, &o), out: out}
}

func (h *journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

// Handle formats r into the shared buffer and writes it with its prefix
// in one write, so concurrent records never interleave.
func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	h.out.buf.Reset()
	if _, err := fmt.Fprintf(&h.out.buf, "<%d>", levelPrio(r.Level)); err != nil {
		return err
	}
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	_, err := h.out.w.Write(h.out.buf.Bytes())
	return err
}

func (h *journalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &journalHandler{inner: h.inner.WithAttrs(as), out: h.out}
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	return &journalHandler{inner: h.inner.WithGroup(name), out: h.out}
}
