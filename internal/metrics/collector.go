package metrics

import (
	"strconv"
	"time"

	"github.com/carpd/carpd/internal/status"
	"github.com/prometheus/client_golang/prometheus"
)

// Source is what the metrics are read from; *daemon.Daemon is one.
type Source interface {
	Status() status.Report
}

// states are the values of carpd_router_state's state label.
var states = [...]string{"INIT", "BACKUP", "MASTER"}

// descs are the metric descriptions; see the package comment.
type descs struct {
	info, state, since, transitions, lastTook, sent, sendErrors, received, dropped, garp, demotion,
	socketDropped, brokerReady, brokerRestarts, brokerReadyTime, natRules, probeOK, probeLatency,
	probeFailures, probeLastOK *prometheus.Desc
}

func newDescs() descs {
	r := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"router"}, labels...), nil)
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return descs{
		info:        r("carpd_router_info", "A configured virtual router.", "iface", "proto", "id"),
		state:       r("carpd_router_state", "1 for the router's current state, 0 for the others.", "state"),
		since:       r("carpd_router_state_since_timestamp_seconds", "When the router entered its current state."),
		transitions: r("carpd_router_transitions_total", "State changes of the router."),
		lastTook: r("carpd_router_last_transition_duration_seconds",
			"Time the steps of the router's last finished transition took."),
		sent:       r("carpd_router_adverts_sent_total", "Advertisements sent."),
		sendErrors: r("carpd_router_advert_send_errors_total", "Advertisements that could not be sent."),
		received:   r("carpd_router_adverts_received_total", "Advertisements the state machine accepted."),
		dropped:    r("carpd_router_adverts_dropped_total", "Received advertisements dropped, by reason.", "reason"),
		garp: r("carpd_router_garp_rounds_total",
			"Gratuitous ARP / unsolicited neighbour advertisement rounds sent, each covering every VIP."),
		demotion: r("carpd_router_demotion", "Total demotion of the router."),
		socketDropped: d("carpd_socket_dropped_total", "Packets on a shared socket for no configured router.",
			"iface", "family", "src", "group", "reason"),
		brokerReady:     d("carpd_broker_ready", "1 when the supervised broker passed its readiness check."),
		brokerRestarts:  d("carpd_broker_restarts_total", "Restarts of the supervised broker after crashes."),
		brokerReadyTime: d("carpd_broker_time_to_ready_seconds", "Readiness time of the broker's last start."),
		natRules:        d("carpd_nat_rules", "DNAT rules applied."),
		probeOK:         d("carpd_probe_ok", "1 when the last bridge probe in this direction arrived.", "direction"),
		probeLatency: d("carpd_probe_latency_seconds",
			"Publish-to-delivery time of the last successful bridge probe.", "direction"),
		probeFailures: d("carpd_probe_failures", "Failed bridge probes in a row.", "direction"),
		probeLastOK: d("carpd_probe_last_success_timestamp_seconds",
			"When a bridge probe in this direction last arrived.", "direction"),
	}
}

// collector reads a Source at every scrape.
type collector struct {
	src Source
	d   descs
}

// NewCollector returns a collector of src's status.
func NewCollector(src Source) prometheus.Collector {
	return &collector{src: src, d: newDescs()}
}

// Describe sends every description, including those of sections a
// report may lack: a description without samples is allowed.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	d := c.d
	for _, x := range []*prometheus.Desc{d.info, d.state, d.since, d.transitions, d.lastTook, d.sent,
		d.sendErrors, d.received, d.dropped, d.garp, d.demotion, d.socketDropped, d.brokerReady,
		d.brokerRestarts, d.brokerReadyTime, d.natRules, d.probeOK, d.probeLatency, d.probeFailures,
		d.probeLastOK} {
		ch <- x
	}
}

// Collect reads one report and sends its samples.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	rep := c.src.Status()
	for _, r := range rep.Routers {
		c.router(ch, r)
	}
	for _, s := range rep.Sockets {
		group := s.Group
		if s.Unicast {
			group = "unicast"
		}
		for reason, n := range s.Dropped {
			ch <- counter(c.d.socketDropped, n, s.Iface, strconv.Itoa(s.Family), s.Src, group, reason)
		}
	}
	c.broker(ch, rep.Broker)
}

// router sends one router's samples.
func (c *collector) router(ch chan<- prometheus.Metric, r status.Router) {
	d, name := c.d, r.Name
	ch <- gauge(d.info, 1, name, r.Iface, r.Proto, strconv.Itoa(int(r.ID)))
	for _, s := range states {
		ch <- gauge(d.state, boolean(r.State == s), name, s)
	}
	if !r.Since.IsZero() {
		ch <- gauge(d.since, float64(r.Since.UnixNano())/1e9, name)
	}
	for i := len(r.Transitions) - 1; i >= 0; i-- {
		if t := r.Transitions[i]; t.Done {
			ch <- gauge(d.lastTook, seconds(t.Took), name)
			break
		}
	}
	k := r.Counters
	ch <- counter(d.transitions, k.Transitions, name)
	ch <- counter(d.sent, k.Sent, name)
	ch <- counter(d.sendErrors, k.SendErrors, name)
	ch <- counter(d.received, k.Received, name)
	ch <- counter(d.garp, k.Announcements, name)
	for reason, n := range k.Dropped {
		ch <- counter(d.dropped, n, name, reason)
	}
	ch <- gauge(d.demotion, float64(r.Demotion.Total), name)
}

// broker sends the supervised broker's samples, when there is one.
func (c *collector) broker(ch chan<- prometheus.Metric, b *status.Broker) {
	if b == nil {
		return
	}
	d := c.d
	ch <- gauge(d.brokerReady, boolean(b.Ready))
	ch <- counter(d.brokerRestarts, uint64(max(b.Restarts, 0)))
	if v, ok := parseSeconds(b.TimeToReady); ok {
		ch <- gauge(d.brokerReadyTime, v)
	}
	ch <- gauge(d.natRules, float64(len(b.NAT.Rules)))
	if b.Probe == nil {
		return
	}
	for _, x := range b.Probe.Paths {
		ch <- gauge(d.probeOK, boolean(x.State == "ok"), x.Direction)
		if v, ok := parseSeconds(x.RTT); ok {
			ch <- gauge(d.probeLatency, v, x.Direction)
		}
		ch <- gauge(d.probeFailures, float64(x.Failures), x.Direction)
		if !x.LastOK.IsZero() {
			ch <- gauge(d.probeLastOK, float64(x.LastOK.UnixNano())/1e9, x.Direction)
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

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v uint64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func boolean(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func seconds(d status.Duration) float64 { return float64(d) / 1e9 }
