package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/control"
	"github.com/carpd/carpd/internal/status"
)

// Defaults for Options.
const (
	DefaultShutdownTimeout = 15 * time.Second
	DefaultClaimHold       = 30 * time.Second
	defaultQueueLen        = 64
)

// Options configure a Daemon.
type Options struct {
	Net Net
	// Log receives everything the daemon logs; nil discards.
	Log *slog.Logger
	// StateDir holds the pid file, control socket and status file;
	// "" means config.DefaultStateDir.
	StateDir string
	// ShutdownTimeout bounds Run's clean-up after its context ends; hooks
	// still running then are killed. 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// ClaimHold is how long a failed VIP claim keeps demoting the router
	// unless a later claim succeeds. 0 means DefaultClaimHold.
	ClaimHold time.Duration
	// QueueLen is the number of received adverts a router may have
	// waiting; more are dropped and counted ("queue"). 0 means 64.
	QueueLen int
	// NewBroker, if set, builds the MQTT broker to supervise for the
	// daemon's whole life, with its DNAT, health check and bridge probe
	// (internal/broker, wired in by cmd/carpd). New calls it once the
	// routers are resolved.
	NewBroker func(BrokerHost) (Broker, error)
	// Notify receives the service manager notifications of notify.go;
	// nil sends none.
	Notify Notifier
	// Watchdog is the service manager's watchdog timeout (systemd
	// WatchdogSec); 0 means none.
	Watchdog time.Duration
	// Version is carpd's version for status and carpd_build_info.
	Version string
	// ScriptUser is who hooks and track scripts run as (script_user); nil
	// runs them as carpd's own user. Reload replaces it.
	ScriptUser *config.ScriptUser
}

// Daemon runs a set of virtual routers.
type Daemon struct {
	opts  Options
	net   Net
	log   *slog.Logger
	specs []*config.Router // as resolved by New, started by Run
	// user is who scripts of routers started from now on run as; guarded
	// by lifeMu once Run started.
	user    *config.ScriptUser
	started time.Time
	// prevVIPs are the VIPs the last run on the state directory held
	// (previousVIPs), read by Run before its first status write.
	prevVIPs map[string]map[netip.Addr]bool
	// loaded and reloadErr are status.Config; guarded by mu.
	loaded    time.Time
	reloadErr string
	// stopping is set when STOPPING=1 is sent: no STATUS= follows it.
	stopping atomic.Bool
	// sentStatus is the last STATUS= line; owned by statusWriter.
	sentStatus string

	// lifeMu serialises Run's start and stop with Reload.
	lifeMu sync.Mutex
	// mu guards the maps; it is never held while waiting for a router.
	mu      sync.Mutex
	routers map[string]*router
	order   []string
	sockets map[sockKey]*socket
	ifaces  map[string]*ifaceRes
	watch   *watcher
	vm      vmacs
	bsvc    Broker // nil without a broker
	// hass is the broker (which tells Home Assistant, when
	// broker.home_assistant is enabled), set by New, nil without a
	// broker, and never changes after.
	hass statePublisher
	// hb carries the heartbeat, nil when it does not run; hbBoot
	// identifies this run in it. Set by New, never changed after.
	hb     HeartbeatLink
	hbBoot uint64

	// ctl answers the control socket with answer.
	ctl *control.Server

	hookCtx    context.Context
	hookCancel context.CancelFunc
	dirty      chan struct{}
}

// New checks routers against the system without changing anything:
// every router must be valid, its interfaces must exist and its source
// address be known. All problems are reported at once.
func New(o Options, routers []config.Router) (*Daemon, error) {
	if o.Net == nil {
		return nil, errors.New("no network stack: carpd runs on Linux only")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.StateDir == "" {
		o.StateDir = config.DefaultStateDir
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.ClaimHold <= 0 {
		o.ClaimHold = DefaultClaimHold
	}
	if o.QueueLen <= 0 {
		o.QueueLen = defaultQueueLen
	}
	d := &Daemon{opts: o, net: o.Net, log: o.Log, user: o.ScriptUser, routers: make(map[string]*router),
		sockets: make(map[sockKey]*socket), ifaces: make(map[string]*ifaceRes), dirty: make(chan struct{}, 1)}
	d.ctl = &control.Server{Handle: d.answer, Log: o.Log}
	d.hookCtx, d.hookCancel = context.WithCancel(context.Background())
	specs, err := d.resolve(routers)
	if err != nil {
		return nil, err
	}
	if len(specs) == 0 {
		return nil, errors.New("no virtual router configured")
	}
	d.specs = specs
	for _, s := range specs {
		if _, ok := o.Net.(VMACNet); s.VMAC && !ok {
			return nil, fmt.Errorf("router %s: vmac is not supported by this network stack", s.Name)
		}
	}
	if err := d.newBroker(); err != nil {
		return nil, err
	}
	return d, nil
}

// Run takes over the system: it creates or checks the state directory
// (PrepareStateDir), takes the pid lock, removes leftover VIPs of a
// crashed run, opens the control socket and runs every router until ctx
// ends. Then each router leaves
// (bow-out, VIPs removed, down hooks if MASTER, notify STOP) within
// ShutdownTimeout, and Run returns nil. An error means start-up failed;
// whatever was started is undone.
func (d *Daemon) Run(ctx context.Context) error {
	dir := d.opts.StateDir
	if err := PrepareStateDir(dir); err != nil {
		return err
	}
	release, err := control.LockPID(dir)
	if err != nil {
		return err
	}
	defer release()
	d.prevVIPs = previousVIPs(dir)
	defer d.hookCancel()
	d.mu.Lock()
	d.started = time.Now()
	d.loaded = d.started
	d.mu.Unlock()
	ln, err := control.Listen(dir)
	if err != nil {
		return err
	}
	defer os.Remove(control.SocketPath(dir))
	defer ln.Close()
	go d.ctl.Serve(ln)
	stopStatus := make(chan struct{})
	statusDone := make(chan struct{})
	go d.statusWriter(stopStatus, statusDone)
	defer func() {
		close(stopStatus)
		<-statusDone
	}()

	if d.bsvc != nil {
		// The broker goes first and stops last: the routers' transitions
		// wait for it, and their demotion removes the DNAT before it
		// stops.
		d.bsvc.Start()
		defer d.bsvc.Stop()
	}
	if err := d.startAll(); err != nil {
		d.stopAll("start-up failed")
		return err
	}
	d.log.Info("running", "routers", len(d.specs), "state_dir", dir)
	stopNotify := d.startNotify()
	<-ctx.Done()
	d.log.Info("shutting down")
	stopNotify()
	d.stopAll("shutdown")
	return nil
}

// startAll opens the sockets and interface handles, reconciles, and
// starts the routers of New. Opening comes first so that a start-up that
// cannot work (no privilege, say) fails before any address is touched.
func (d *Daemon) startAll() (err error) {
	d.lifeMu.Lock()
	defer d.lifeMu.Unlock()
	var opened []*socket
	var prepared []*config.Router
	defer func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, s := range opened {
			d.releaseSocket(s)
		}
		if err == nil {
			return
		}
		// Routers that started release their own child in stopAll.
		for _, s := range prepared {
			if _, ok := d.routers[s.Name]; !ok {
				d.releaseVMAC(s)
			}
		}
	}()
	for _, s := range d.specs {
		prepared = append(prepared, s)
		if err := d.prepareVMAC(s); err != nil {
			return err
		}
		d.mu.Lock()
		_, err := d.iface(s.Iface)
		if err == nil {
			_, err = d.iface(addrIface(s))
		}
		var sock *socket
		if err == nil {
			sock, err = d.acquireSocket(s)
		}
		d.mu.Unlock()
		if err != nil {
			return err
		}
		opened = append(opened, sock)
	}
	d.reconcile(d.specs)
	d.removeUnlisted(d.specs, d.prevVIPs)
	for _, s := range d.specs {
		if err := d.startRouter(s); err != nil {
			return err
		}
	}
	d.updateWatch()
	return nil
}

// stopAll stops every router within ShutdownTimeout, then closes the
// sockets, announcers and watch.
func (d *Daemon) stopAll(why string) {
	if d.bsvc != nil {
		d.bsvc.Interrupt()
	}
	d.lifeMu.Lock()
	defer d.lifeMu.Unlock()
	d.mu.Lock()
	var rs []*router
	for _, name := range d.order {
		rs = append(rs, d.routers[name])
	}
	d.mu.Unlock()
	d.stopRouters(rs, why)
	d.mu.Lock()
	w := d.watch
	d.watch = nil
	for _, res := range d.ifaces {
		res.close()
	}
	d.ifaces = make(map[string]*ifaceRes)
	d.mu.Unlock()
	w.stop()
	d.statusChanged()
}

// stopRouters shuts routers down in parallel and waits for their
// executors, killing running hooks if ShutdownTimeout passes.
func (d *Daemon) stopRouters(rs []*router, why string) {
	if len(rs) == 0 {
		return
	}
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() { d.stopRouter(r, why) })
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d.opts.ShutdownTimeout):
		d.log.Error("stopping routers took too long; killing running hooks", "timeout", d.opts.ShutdownTimeout)
		d.hookCancel()
		select {
		case <-done:
		case <-time.After(2 * hookWaitDelay):
			d.log.Error("routers still busy after killing hooks; leaving them")
		}
	}
}

// Demote adds n to the manual demotion of router name (after setting it
// to 0 if reset) and returns the new value.
func (d *Daemon) Demote(name string, n int, reset bool) (int, error) {
	r, err := d.router(name)
	if err != nil {
		return 0, err
	}
	return r.demote(n, reset)
}

// Resign makes router name, or every router if name is "", step down
// once if it is MASTER (SIGUSR2).
func (d *Daemon) Resign(name string) error {
	if name != "" {
		r, err := d.router(name)
		if err != nil {
			return err
		}
		r.resign()
		return nil
	}
	for _, r := range d.all() {
		r.resign()
	}
	return nil
}

// router finds a running router by name.
func (d *Daemon) router(name string) (*router, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, ok := d.routers[name]
	if !ok {
		return nil, fmt.Errorf("no router named %q", name)
	}
	return r, nil
}

// all returns the running routers in configuration order.
func (d *Daemon) all() []*router {
	d.mu.Lock()
	defer d.mu.Unlock()
	rs := make([]*router, 0, len(d.order))
	for _, name := range d.order {
		rs = append(rs, d.routers[name])
	}
	return rs
}

// Status returns the state of every router and socket.
func (d *Daemon) Status() status.Report {
	st := status.Report{PID: os.Getpid(), Version: d.opts.Version, Routers: []status.Router{}}
	for _, r := range d.all() {
		st.Routers = append(st.Routers, r.status())
	}
	d.mu.Lock()
	st.Started = d.started
	if !d.loaded.IsZero() {
		st.Config = &status.Config{Loaded: d.loaded, ReloadError: d.reloadErr}
	}
	if d.bsvc != nil {
		st.Broker = d.bsvc.Status()
	}
	for _, s := range d.sockets {
		st.Sockets = append(st.Sockets, s.status())
	}
	d.mu.Unlock()
	slices.SortFunc(st.Sockets, func(a, b status.Socket) int {
		if a.Iface != b.Iface {
			return strings.Compare(a.Iface, b.Iface)
		}
		return a.Family - b.Family
	})
	return st
}

// LogStatus logs one line per router (SIGUSR1).
func (d *Daemon) LogStatus() {
	for _, rs := range d.Status().Routers {
		d.log.Info("status", "router", rs.Name, "iface", rs.Iface, "proto", rs.Proto, "id", rs.ID,
			"state", rs.State, "since", rs.Since, "reason", rs.Reason, "master", rs.Master,
			"sent", rs.Counters.Sent, "received", rs.Counters.Received, "dropped", rs.Counters.Dropped,
			"demotion", rs.Demotion.Total, "faults", rs.Faults)
	}
}

// statusChanged asks the status writer to rewrite the status file.
func (d *Daemon) statusChanged() {
	select {
	case d.dirty <- struct{}{}:
	default:
	}
}

// statusWriter rewrites the status file whenever asked, and once more
// when stopped.
func (d *Daemon) statusWriter(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	failing := false
	write := func() {
		st := d.Status()
		err := writeStatus(d.opts.StateDir, st)
		if err != nil && !failing {
			d.log.Error("writing status file", "error", err)
		}
		failing = err != nil
		d.notifyStatus(st)
	}
	for {
		select {
		case <-d.dirty:
			write()
		case <-stop:
			write()
			return
		}
	}
}
