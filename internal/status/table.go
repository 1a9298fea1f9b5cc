package status

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// Render writes r as `carpd status` shows it: a summary table with one
// line per router, then per router its last transition's reason, the
// last advert heard, demotion, faults and recent transitions with their
// steps, then the broker with its health, DNAT and probe when present. Times
// are shown relative to now and in now's location.
func Render(w io.Writer, r Report, now time.Time) error {
	p := &printer{w: w, now: now}
	p.printf("carpd pid %d, running for %s\n", r.PID, ago(now, r.Started))
	if c := r.Config; c != nil && c.ReloadError != "" {
		p.printf("last reload refused; running the configuration loaded %s ago:\n", ago(now, c.Loaded))
		for _, line := range strings.Split(c.ReloadError, "\n") {
			p.printf("  %s\n", line)
		}
	}
	p.printf("\n")
	p.summary(r.Routers)
	for _, rt := range r.Routers {
		p.router(rt)
	}
	p.sockets(r.Sockets)
	p.broker(r.Broker)
	return p.err
}

// shownTransitions is how many recent transitions the table shows per
// router.
const shownTransitions = 5

// printer keeps the first write error so the renderers stay linear.
type printer struct {
	w   io.Writer
	now time.Time
	err error
}

func (p *printer) printf(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

// summary is the one-line-per-router table.
func (p *printer) summary(rs []Router) {
	if len(rs) == 0 {
		p.printf("no virtual routers running\n")
		return
	}
	tw := tabwriter.NewWriter(p.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTER\tIFACE\tPROTO\tID\tSTATE\tFOR\tMASTER\tADVERTISED\tSENT\tRECEIVED\tDROPPED")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", r.Name, r.Iface, r.Proto, r.ID, r.State,
			ago(p.now, r.Since), orDash(r.Master), r.Advertised.preference(), r.Counters.Sent, r.Counters.Received,
			counts(r.Counters.Dropped))
	}
	if p.err == nil {
		p.err = tw.Flush()
	}
}

// router is the detail block of one router.
func (p *printer) router(r Router) {
	p.printf("\n%s (%s %s id %d): %s for %s: %s\n", r.Name, r.Proto, r.Iface, r.ID, r.State, ago(p.now, r.Since),
		orDash(r.Reason))
	p.printf("  vips        %s\n", orDash(strings.Join(r.VIPs, " ")))
	p.printf("  advertised  %s, interval %s\n", r.Advertised.preference(), r.Advertised.Interval)
	if h := r.Heard; h != nil {
		p.printf("  heard       %s %s ago: %s, interval %s, ttl %d\n", h.From, ago(p.now, h.At),
			h.Advertised.preference(), h.Interval, h.TTL)
	} else {
		p.printf("  heard       nothing yet\n")
	}
	p.peer(r.Peer)
	d := r.Demotion
	claim := ""
	if d.Claim {
		claim = ", claim failed"
	}
	p.printf("  demotion    %d (manual %d, tracking %d%s)\n", d.Total, d.Manual, d.Tracking, claim)
	if len(r.Faults) > 0 {
		p.printf("  faults      %s\n", strings.Join(r.Faults, ", "))
	}
	c := r.Counters
	p.printf("  counters    sent %d, send errors %d, received %d, dropped %s, announcements %d, transitions %d\n",
		c.Sent, c.SendErrors, c.Received, counts(c.Dropped), c.Announcements, c.Transitions)
	if len(r.Transitions) == 0 {
		return
	}
	shown := r.Transitions[max(len(r.Transitions)-shownTransitions, 0):]
	p.printf("  last %d of %d transitions (oldest first; --json has all)\n", len(shown), len(r.Transitions))
	for _, t := range shown {
		took := "running"
		if t.Done {
			took = "took " + t.Took.String()
		}
		p.printf("    %s  %s -> %s  %s, queued %s: %s\n", t.At.In(p.now.Location()).Format("2006-01-02 15:04:05.000"),
			t.From, t.To, took, t.Queued, orDash(t.Reason))
		if len(t.Steps) > 0 {
			p.printf("      %s\n", steps(t.Steps))
		}
	}
}

// sockets lists the shared sockets that dropped packets for no router.
func (p *printer) sockets(ss []Socket) {
	var lines []string
	for _, s := range ss {
		if len(s.Dropped) == 0 {
			continue
		}
		to := s.Group
		if s.Unicast {
			to = "unicast"
		}
		lines = append(lines, fmt.Sprintf("  %s IPv%d %s %s: dropped %s\n", s.Iface, s.Family, s.Src, to, counts(s.Dropped)))
	}
	if len(lines) == 0 {
		return
	}
	p.printf("\nsockets (packets for no configured router)\n%s", strings.Join(lines, ""))
}

// broker is the supervised broker's block: process, health, DNAT and
// bridge probe.
func (p *printer) broker(b *Broker) {
	if b == nil {
		return
	}
	ready := "not ready"
	if b.Ready {
		ready = "ready after " + orDash(b.TimeToReady)
	}
	p.printf("\nbroker %s: %s, %s", b.Addr, b.Phase, ready)
	if b.PID != 0 {
		p.printf(", pid %d, up %s", b.PID, orDash(b.Uptime))
	}
	p.printf(", restarts %d\n", b.Restarts)
	if b.CrashLoop || b.Failures > 0 {
		p.printf("  failing     %d in a row, crash loop %v\n", b.Failures, b.CrashLoop)
	}
	if b.LastExit != "" || b.LastError != "" {
		p.printf("  last exit   %s: %s\n", orDash(b.LastExit), orDash(b.LastError))
	}
	if len(b.Unhealthy) > 0 {
		p.printf("  demoting    %s\n", strings.Join(b.Unhealthy, ", "))
	}
	if h := b.Health; h != nil {
		p.printf("  health      healthy %v, rtt %s, last ok %s ago, failures %d", h.Healthy, orDash(h.RTT),
			ago(p.now, h.LastOK), h.Failures)
		p.lastErr(h.LastErr)
	}
	p.printf("  nat         %s, %d rules", orDash(b.NAT.Mode), len(b.NAT.Rules))
	p.lastErr(b.NAT.LastError)
	for _, r := range b.NAT.Rules {
		p.printf("    %s\n", r)
	}
	p.probe(b.Probe)
}

// lastErr ends a line, with the error if there is one.
func (p *printer) lastErr(e string) {
	if e != "" {
		p.printf(", last error: %s", printable(e))
	}
	p.printf("\n")
}

// probe is the bridge probe's part of the broker block.
func (p *printer) probe(pr *Probe) {
	if pr == nil {
		return
	}
	if pr.Off != "" {
		p.printf("  probe       %s\n", pr.Off)
		return
	}
	p.printf("  probe       peer %s\n", printable(orDash(pr.Peer)))
	for _, x := range pr.Paths {
		last := "never"
		if !x.LastOK.IsZero() {
			last = ago(p.now, x.LastOK) + " ago"
		}
		p.printf("    %-3s  %s for %s, last success %s, rtt %s, failures in a row %d", x.Direction, x.State,
			ago(p.now, x.Since), last, orDash(x.RTT), x.Failures)
		p.lastErr(x.LastErr)
	}
	for _, k := range slices.Sorted(maps.Keys(pr.BridgeState)) {
		p.printf("    bridge %s = %s\n", printable(k), printable(pr.BridgeState[k]))
	}
	if pr.BridgeRefused > 0 {
		p.printf("    bridge notifications refused %d (too many topics or too long)\n", pr.BridgeRefused)
	}
}

// preference is the advertised values in a few words.
func (a Advertised) preference() string {
	switch {
	case a.Priority != nil:
		return fmt.Sprintf("priority %d", *a.Priority)
	case a.AdvBase != nil && a.AdvSkew != nil:
		s := fmt.Sprintf("advbase %d advskew %d", *a.AdvBase, *a.AdvSkew)
		if a.Demote != nil && *a.Demote != 0 {
			s += fmt.Sprintf(" demote %d", *a.Demote)
		}
		return s
	}
	return "-"
}

// steps formats transition steps on one line.
func steps(ss []Step) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.Name + " " + s.Took.String()
		if s.Error != "" {
			parts[i] += " (failed: " + s.Error + ")"
		}
	}
	return strings.Join(parts, ", ")
}

// counts formats a drop map sorted by reason, "-" when empty.
func counts(m map[string]uint64) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// ago is the time from t to now, rounded for reading: milliseconds below
// a second, seconds above; "-" for a zero t.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < time.Second && d > -time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// printable quotes s, Go style, when it holds a character that is not
// printable or not UTF-8, so a string the peer broker chose (a bridge
// topic, a reason in an error) cannot drive the operator's terminal.
func printable(s string) string {
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// peer is the heartbeat's view of the peer, when it runs for the router.
func (p *printer) peer(pr *Peer) {
	if pr == nil {
		return
	}
	if pr.At.IsZero() {
		p.printf("  peer        no heartbeat yet (split_brain %s)\n", pr.SplitBrain)
	} else {
		// Between the quiet heartbeats of a settled pair the last one is
		// too old for the rules, and due: not a fault.
		fresh := "stale"
		switch {
		case pr.Fresh:
			fresh = "fresh"
		case pr.Every > 0 && p.now.Sub(pr.At) < 2*time.Duration(pr.Every):
			fresh = "quiet, every " + time.Duration(pr.Every).String()
		}
		pref := "-"
		if pr.Advertised != nil {
			pref = pr.Advertised.preference()
		}
		p.printf("  peer        %s %s, heartbeat %s ago (%s): %s; %d heartbeats, split_brain %s\n",
			printable(pr.Node), pr.State, ago(p.now, pr.At), fresh, pref, pr.Heartbeats, pr.SplitBrain)
	}
	if pr.AdvertsLost {
		p.printf("  WARNING     adverts from the peer lost, peer alive over the broker path (docs/troubleshooting.md)\n")
	}
	if pr.DualMaster {
		p.printf("  WARNING     both nodes MASTER (split brain)\n")
	}
	if pr.DualSeconds > 0 || pr.AdvertsLostTotal > 0 {
		p.printf("  split brain %s dual-master in all, %d lost-adverts episodes\n",
			time.Duration(pr.DualSeconds*float64(time.Second)).Round(time.Millisecond), pr.AdvertsLostTotal)
	}
}
