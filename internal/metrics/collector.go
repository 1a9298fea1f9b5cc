package metrics

import (
	"runtime"
	"strconv"
	"time"

	"github.com/carpd/carpd/internal/status"
)

// Source is what the metrics are read from; *daemon.Daemon is one.
type Source interface {
	Status() status.Report
}

// states are the values of carpd_router_state's state label.
var states = [...]string{"INIT", "BACKUP", "MASTER", "FAULT"}

// desc describes a family: name, help, type and label names.
type desc struct {
	name, help string
	kind       kind
	labels     []string
}

// descs are the metric descriptions; see the package comment.
type descs struct {
	info, state, since, transitions, lastTook, sent, sendErrors, received, dropped, garp, demotion,
	socketDropped, brokerReady, brokerRestarts, brokerReadyTime, natRules, probeOK, probeLatency,
	probeFailures, probeLastOK, buildInfo, reloadOK, reloadTime, hookFailures desc
	splitBrain, peerAge, advertsLost, advertsLostTotal desc
}

func newDescs() descs {
	r := func(name, help string, k kind, labels ...string) desc {
		return desc{name, help, k, append([]string{"router"}, labels...)}
	}
	d := func(name, help string, k kind, labels ...string) desc { return desc{name, help, k, labels} }
	return descs{
		info:        r("carpd_router_info", "A configured virtual router.", gauge, "iface", "proto", "id"),
		state:       r("carpd_router_state", "1 for the router's current state, 0 for the others.", gauge, "state"),
		since:       r("carpd_router_state_since_timestamp_seconds", "When the router entered its current state.", gauge),
		transitions: r("carpd_router_transitions_total", "State changes of the router.", counter),
		lastTook: r("carpd_router_last_transition_duration_seconds",
			"Time the steps of the router's last finished transition took.", gauge),
		sent:       r("carpd_router_adverts_sent_total", "Advertisements sent.", counter),
		sendErrors: r("carpd_router_advert_send_errors_total", "Advertisements that could not be sent.", counter),
		received:   r("carpd_router_adverts_received_total", "Advertisements the state machine accepted.", counter),
		dropped: r("carpd_router_adverts_dropped_total", "Received advertisements dropped, by reason.", counter,
			"reason"),
		garp: r("carpd_router_garp_rounds_total",
			"Gratuitous ARP / unsolicited neighbour advertisement rounds sent, each covering every VIP.", counter),
		demotion: r("carpd_router_demotion", "Total demotion of the router.", gauge),
		socketDropped: d("carpd_socket_dropped_total", "Packets on a shared socket for no configured router.",
			counter, "iface", "family", "src", "group", "reason"),
		brokerReady:     d("carpd_broker_ready", "1 when the supervised broker passed its readiness check.", gauge),
		brokerRestarts:  d("carpd_broker_restarts_total", "Restarts of the supervised broker after crashes.", counter),
		brokerReadyTime: d("carpd_broker_time_to_ready_seconds", "Readiness time of the broker's last start.", gauge),
		natRules:        d("carpd_nat_rules", "DNAT rules applied.", gauge),
		probeOK: d("carpd_probe_ok", "1 when the last bridge probe in this direction arrived.", gauge,
			"direction"),
		probeLatency: d("carpd_probe_latency_seconds",
			"Publish-to-delivery time of the last successful bridge probe.", gauge, "direction"),
		probeFailures: d("carpd_probe_failures", "Failed bridge probes in a row.", gauge, "direction"),
		probeLastOK: d("carpd_probe_last_success_timestamp_seconds",
			"When a bridge probe in this direction last arrived.", gauge, "direction"),
		buildInfo: d("carpd_build_info", "Always 1; the labels are carpd's version and the Go version that built it.",
			gauge, "version", "goversion"),
		reloadOK: d("carpd_config_last_reload_successful",
			"1 unless the last configuration reload was refused (the previous configuration then keeps running).",
			gauge),
		reloadTime: d("carpd_config_last_reload_success_timestamp_seconds",
			"When the running configuration was loaded: at start or by the last successful reload.", gauge),
		splitBrain: r("carpd_split_brain_seconds_total",
			"Time this router and its peer were both MASTER, as the heartbeat showed.", counter),
		peerAge: r("carpd_peer_heartbeat_age_seconds", "Age of the peer's last heartbeat for this router.", gauge),
		advertsLost: r("carpd_peer_adverts_lost",
			"1 while the master-down timer is due but the peer is alive and MASTER over the broker path.", gauge),
		advertsLostTotal: r("carpd_peer_adverts_lost_total", "Episodes of adverts lost from a live MASTER peer.",
			counter),
		hookFailures: r("carpd_hook_failures_total", "Hook runs that failed (non-zero exit or timeout), by hook.",
			counter, "hook"),
	}
}

// batch gathers the samples of one scrape by family.
type batch struct {
	order []string
	fams  map[string]*family
}

// add appends a sample of d with the label values in d's label order; a
// count that does not match is a bug in this file, hence the panic.
func (b *batch) add(d desc, v float64, values ...string) {
	if len(values) != len(d.labels) {
		panic("metrics: " + d.name + ": " + strconv.Itoa(len(values)) + " label values for " +
			strconv.Itoa(len(d.labels)) + " labels")
	}
	f := b.fams[d.name]
	if f == nil {
		if b.fams == nil {
			b.fams = map[string]*family{}
		}
		f = &family{name: d.name, help: d.help, kind: d.kind}
		b.fams[d.name] = f
		b.order = append(b.order, d.name)
	}
	s := sample{value: v, labels: make([]label, len(values))}
	for i, x := range values {
		s.labels[i] = label{d.labels[i], x}
	}
	f.samples = append(f.samples, s)
}

func (b *batch) families() []family {
	out := make([]family, 0, len(b.order))
	for _, name := range b.order {
		out = append(out, *b.fams[name])
	}
	return out
}

// collect reads one report of src into families.
func collect(src Source) []family {
	var b batch
	d := newDescs()
	rep := src.Status()
	b.add(d.buildInfo, 1, rep.Version, runtime.Version())
	if c := rep.Config; c != nil {
		b.add(d.reloadOK, boolean(c.ReloadError == ""))
		b.add(d.reloadTime, float64(c.Loaded.UnixNano())/1e9)
	}
	for _, r := range rep.Routers {
		router(&b, d, r)
	}
	for _, s := range rep.Sockets {
		group := s.Group
		if s.Unicast {
			group = "unicast"
		}
		for reason, n := range s.Dropped {
			b.add(d.socketDropped, float64(n), s.Iface, strconv.Itoa(s.Family), s.Src, group, reason)
		}
	}
	broker(&b, d, rep.Broker)
	return b.families()
}

// router adds one router's samples.
func router(b *batch, d descs, r status.Router) {
	name := r.Name
	b.add(d.info, 1, name, r.Iface, r.Proto, strconv.Itoa(int(r.ID)))
	for _, s := range states {
		b.add(d.state, boolean(r.State == s), name, s)
	}
	if !r.Since.IsZero() {
		b.add(d.since, float64(r.Since.UnixNano())/1e9, name)
	}
	for i := len(r.Transitions) - 1; i >= 0; i-- {
		if t := r.Transitions[i]; t.Done {
			b.add(d.lastTook, seconds(t.Took), name)
			break
		}
	}
	k := r.Counters
	b.add(d.transitions, float64(k.Transitions), name)
	b.add(d.sent, float64(k.Sent), name)
	b.add(d.sendErrors, float64(k.SendErrors), name)
	b.add(d.received, float64(k.Received), name)
	b.add(d.garp, float64(k.Announcements), name)
	for reason, n := range k.Dropped {
		b.add(d.dropped, float64(n), name, reason)
	}
	for hook, n := range k.HookFailures {
		b.add(d.hookFailures, float64(n), name, hook)
	}
	b.add(d.demotion, float64(r.Demotion.Total), name)
	if p := r.Peer; p != nil {
		b.add(d.splitBrain, p.DualSeconds, name)
		b.add(d.advertsLost, boolean(p.AdvertsLost), name)
		b.add(d.advertsLostTotal, float64(p.AdvertsLostTotal), name)
		if !p.At.IsZero() {
			b.add(d.peerAge, seconds(p.Age), name)
		}
	}
}

// broker adds the supervised broker's samples, when there is one.
func broker(b *batch, d descs, br *status.Broker) {
	if br == nil {
		return
	}
	b.add(d.brokerReady, boolean(br.Ready))
	b.add(d.brokerRestarts, float64(max(br.Restarts, 0)))
	if v, ok := parseSeconds(br.TimeToReady); ok {
		b.add(d.brokerReadyTime, v)
	}
	b.add(d.natRules, float64(len(br.NAT.Rules)))
	if br.Probe == nil {
		return
	}
	for _, x := range br.Probe.Paths {
		b.add(d.probeOK, boolean(x.State == "ok"), x.Direction)
		if v, ok := parseSeconds(x.RTT); ok {
			b.add(d.probeLatency, v, x.Direction)
		}
		b.add(d.probeFailures, float64(x.Failures), x.Direction)
		if !x.LastOK.IsZero() {
			b.add(d.probeLastOK, float64(x.LastOK.UnixNano())/1e9, x.Direction)
		}
	}
}

// parseSeconds reads a Go duration string of the broker section; ""
// (unknown) and junk give false.
func parseSeconds(s string) (float64, bool) {
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, false
	}
	return v.Seconds(), true
}

func boolean(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func seconds(d status.Duration) float64 { return float64(d) / 1e9 }
