package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"time"

	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/daemon"
	"github.com/carpd/carpd/internal/metrics"
	"github.com/carpd/carpd/internal/sdnotify"
	"github.com/spf13/cobra"
)

// runMain is what `carpd run` does once cobra has parsed its flags; tests
// replace it to see what a command line parses to.
var runMain = runDaemon

func newRun(journal bool) *cobra.Command {
	var rf *runFlags
	cmd := &cobra.Command{
		Use:   "run (-c FILE | UCARP-FLAGS) [flags]",
		Short: "Run the virtual routers of a config file or of a ucarp command line",
		Long: `Run runs the virtual routers of FILE (-c), or the one router a ucarp
command line describes, until SIGTERM or SIGINT; then every master bows
out (CARP advbase/advskew 255, VRRP priority 0), the VIPs are removed, down
hooks and notify STOP run, and carpd exits 0. With -c, only --state-dir,
-D, -f, -z and -B may come with it. ucarp's short flags cluster (-Pz) and
take their values attached (-v29); ucarp's numbers (-v, -b, -k, -r) may be
written as C reads them: 0x1d, 035 or 29.

Signals: SIGHUP reloads FILE (an invalid file is refused and the running
configuration kept); SIGUSR1 logs the state of every router; SIGUSR2 makes
every master step down once (like ucarp).

Under systemd (Type=notify, scripts/carpd.service) carpd sends READY=1 once
every router has its first state, WATCHDOG=1 while every router goroutine
answers (when WatchdogSec is set), STATUS= with the routers' states when
they change, RELOADING=1 and READY=1 around a SIGHUP reload
(Type=notify-reload on systemd >= 253) and STOPPING=1 on shutdown. On
journald the text log lines carry their syslog priority and no time.`,
		Example: `  carpd run -c /etc/carpd/carpd.yaml
  carpd run -i eth0.29 -s 198.18.0.3 -v 29 -o /etc/ucarp/pass -a 198.18.0.2 -u up.sh -d down.sh -Pz`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runMain(cmd.Context(), rf, cmd.OutOrStdout(), errOut{cmd.ErrOrStderr(), journal})
		},
	}
	rf = addRunFlags(cmd)
	return cmd
}

// newLogger builds the daemon's logger; on the journal (onJournal) the
// text format has priorities and no time.
func newLogger(w io.Writer, journal bool, lf logFlags, debug bool) (*slog.Logger, error) {
	level := slog.LevelInfo
	switch lf.level {
	case "":
		if debug {
			level = slog.LevelDebug
		}
	case "debug":
		level = slog.LevelDebug
	case "info":
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", lf.level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch lf.format {
	case "text":
		if journal {
			return slog.New(newJournalHandler(w, opts)), nil
		}
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", lf.format)
}

// runDaemon is carpd run.
func runDaemon(ctx context.Context, rf *runFlags, stdout io.Writer, stderr errOut) error {
	lf := rf.log
	// A bad --log-format or --log-level is a usage error, found before the
	// configuration is read.
	if _, err := newLogger(io.Discard, false, lf, false); err != nil {
		return usageError(err)
	}
	f, err := config.FromFlags(rf.cfg)
	if f != nil {
		for _, w := range f.Warnings {
			stderr.print(prioWarning, "carpd: warning: "+w)
		}
	}
	if err != nil {
		return usageError(fmt.Errorf("configuration refused:\n%w", err))
	}
	if f.Daemonize && os.Getenv(daemonizedEnv) == "" {
		return daemonize(f.StateDir, stdout)
	}
	log, err := newLogger(stderr.w, stderr.journal, lf, f.Debug)
	if err != nil {
		return err
	}
	o, err := serviceOptions(os.Getenv, os.Getpid())
	if err != nil {
		return err
	}
	o.Net, o.Log, o.StateDir = daemon.NewLinux(), log, f.StateDir
	o.Version = strings.TrimPrefix(versionString(), "carpd ")
	o.NewBroker = newBroker(f, strings.TrimPrefix(versionString(), "carpd "))
	o.ScriptUser = f.ScriptUser
	d, err := daemon.New(o, f.Routers)
	if err != nil {
		return err
	}
	if lf.metrics != "" {
		f.MetricsListen = lf.metrics
	}
	if f.MetricsListen != "" {
		srv, err := metrics.Listen(f.MetricsListen, d, log)
		if err != nil {
			return err
		}
		defer srv.Close()
		log.Info("serving metrics", "addr", srv.Addr().String())
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	load := func() (*config.File, error) { return config.FromFlags(rf.cfg) }
	go handleSignals(ctx, sigs, d, f, load, log)
	return d.Run(ctx)
}

// handleSignals serves SIGHUP, SIGUSR1 and SIGUSR2 until ctx ends.
func handleSignals(ctx context.Context, sigs <-chan os.Signal, d *daemon.Daemon, f *config.File,
	load func() (*config.File, error), log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case s := <-sigs:
			switch s {
			case syscall.SIGHUP:
				reload(d, f, load, log)
			case syscall.SIGUSR1:
				d.LogStatus()
			case syscall.SIGUSR2:
				log.Info("SIGUSR2: every master steps down once")
				_ = d.Resign("")
			}
		}
	}
}

// reloader is what reload drives; *daemon.Daemon is one.
type reloader interface {
	BeginReload()
	Reload([]config.Router, *config.ScriptUser) error
	EndReload(error)
}

// reload re-reads the configuration file (SIGHUP); an invalid one is
// logged at error level, one FILE:LINE: reason per line, and the running
// configuration stays. The service manager hears RELOADING=1 before and
// READY=1 after either way (Type=notify-reload), and STATUS= says when
// the reload failed. load reads the configuration again from the command
// line carpd started with.
func reload(d reloader, f *config.File, load func() (*config.File, error), log *slog.Logger) {
	d.BeginReload()
	applied, err := reloadFile(d, f, load, log)
	d.EndReload(err)
	msg := "reload refused; keeping the running configuration"
	if applied {
		msg = "reload applied with errors"
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			log.Error(msg, "error", line)
		}
	}
}

// reloadFile is reload's attempt; the error says why nothing (applied
// false) or not all of the new file was applied.
func reloadFile(d reloader, f *config.File, load func() (*config.File, error), log *slog.Logger) (applied bool, err error) {
	if f.Path == "" {
		return false, errors.New("started from a command line, there is no file to reload")
	}
	log.Info("SIGHUP: reloading", "file", f.Path)
	nf, err := load()
	if nf != nil {
		for _, w := range nf.Warnings {
			log.Warn("configuration warning", "warning", w)
		}
	}
	if err != nil {
		return false, err
	}
	if nf.StateDir != f.StateDir {
		log.Warn("state directory change needs a restart; keeping the old one", "state_dir", f.StateDir)
	}
	if brokerChanged(f.Broker, nf.Broker) {
		log.Warn("broker section changes need a restart; keeping the running broker")
	}
	if err := d.Reload(nf.Routers, nf.ScriptUser); err != nil {
		return true, err
	}
	log.Info("reloaded", "routers", len(nf.Routers))
	return false, nil
}

// daemonizedEnv marks the background copy started by daemonize.
const daemonizedEnv = "CARPD_DAEMONIZED"

// daemonize starts this command again in the background (ucarp -B): a new
// session, standard input from /dev/null, output appended to
// STATE_DIR/carpd.log. It waits briefly so a copy that fails at once
// (bad privileges, another carpd) is reported here rather than only in
// the log.
func daemonize(stateDir string, stdout io.Writer) error {
	logf, err := openLog(stateDir)
	if err != nil {
		return err
	}
	defer logf.Close()
	logPath := logf.Name()
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding carpd's executable: %w", err)
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), daemonizedEnv+"=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting in the background: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		return fmt.Errorf("background carpd exited at once (%v); see %s", err, logPath)
	case <-time.After(500 * time.Millisecond):
	}
	fmt.Fprintf(stdout, "carpd running in the background, pid %d, logging to %s\n", cmd.Process.Pid, logPath)
	return nil
}

// openLog checks the state directory and opens the log of a daemonized
// carpd in it, refusing a link planted in its place: root would append
// to whatever file it points to.
func openLog(stateDir string) (*os.File, error) {
	if err := daemon.PrepareStateDir(stateDir); err != nil {
		return nil, err
	}
	path := filepath.Join(stateDir, "carpd.log")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening log file: %w", err)
	}
	return f, nil
}

// brokerChanged reports whether a reload changed the broker section, which
// is applied only at start (the broker runs for carpd's whole life).
func brokerChanged(a, b *config.Broker) bool {
	if a == nil || b == nil {
		return a != b
	}
	x, y := *a, *b
	x.Conf, y.Conf, x.Line, y.Line = nil, nil, 0, 0
	return !reflect.DeepEqual(x, y)
}

// serviceOptions reads what a service manager passes in the environment:
// the notify socket (systemd Type=notify) and the watchdog interval.
func serviceOptions(getenv func(string) string, pid int) (daemon.Options, error) {
	var o daemon.Options
	n, err := sdnotify.Open(getenv)
	if err != nil {
		return o, err
	}
	if n == nil {
		return o, nil
	}
	o.Notify = n
	o.Watchdog, err = sdnotify.WatchdogInterval(getenv, pid)
	return o, err
}
