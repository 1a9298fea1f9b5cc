//go:build linux

package broker

import (
	"context"
	"os"
	"time"

	"github.com/carpd/carpd/internal/hass"
	"github.com/carpd/carpd/mosquitto"
	"github.com/carpd/carpd/mosquitto/mqconf"
)

// hassSvc runs the Home Assistant publisher (broker.home_assistant) next
// to the broker and feeds it the bridge probe's latencies; the routers
// feed it their states through the Service's AddRouter, RemoveRouter and
// SetMaster.
type hassSvc struct {
	s      *Service
	pub    *hass.Publisher
	cancel context.CancelFunc
	done   chan struct{}
}

// newHassSvc builds the publisher for the local broker b, with the node id
// and state prefix derived from the host name unless configured.
func newHassSvc(s *Service, b mosquitto.Broker, version string) *hassSvc {
	host, err := os.Hostname()
	if err != nil {
		s.log.Warn("no host name for the Home Assistant node id; using carpd", "error", err)
	}
	h := s.cfg.HomeAssistant.Resolve(host)
	node := hass.Node{ID: h.NodeID, DiscoveryPrefix: h.DiscoveryPrefix, StatePrefix: h.StateTopicPrefix,
		Version: version, ExpireAfter: 3 * hass.DefaultRefresh}
	pub := hass.New(hass.Config{Broker: b, ClientID: "carpd-hass-" + h.NodeID, Node: node,
		Log: s.host.Logger().With("component", "hass")})
	if pr := s.cfg.Probe; pr != nil {
		var dirs []string
		for _, d := range []mqconf.Direction{mqconf.Out, mqconf.In} {
			if pr.Direction&d != 0 {
				dirs = append(dirs, d.String())
			}
		}
		pub.AddProbe(dirs...)
	}
	return &hassSvc{s: s, pub: pub, done: make(chan struct{})}
}

func (h *hassSvc) start() {
	var ctx context.Context
	ctx, h.cancel = context.WithCancel(context.Background())
	go func() {
		defer close(h.done)
		if h.s.probe == nil {
			h.pub.Run(ctx)
			return
		}
		go h.feedProbe(ctx)
		h.pub.Run(ctx)
	}()
}

// stop sends what is queued (the routers' last states) and offline,
// bounded by the publisher's StopTimeout, while the broker still runs.
func (h *hassSvc) stop() {
	h.cancel()
	<-h.done
}

// feedProbe passes each direction's latency on at most once per probe
// interval: a newer success, or unknown once the direction is broken.
func (h *hassSvc) feedProbe(ctx context.Context) {
	tick := time.NewTicker(h.s.cfg.Probe.Interval)
	defer tick.Stop()
	lastOK := map[mqconf.Direction]time.Time{}
	broken := map[mqconf.Direction]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, ps := range h.s.probe.paths() {
			d := ps.Direction
			switch {
			case ps.State == mosquitto.PathBroken:
				if !broken[d] {
					broken[d] = true
					h.pub.SetLatency(d.String(), 0, false)
				}
			case ps.LastOK.After(lastOK[d]):
				lastOK[d], broken[d] = ps.LastOK, false
				h.pub.SetLatency(d.String(), ps.RTT, true)
			}
		}
	}
}

// AddRouter announces a started router to Home Assistant, if enabled.
func (s *Service) AddRouter(router string) {
	if s.hass != nil {
		s.hass.pub.AddRouter(router)
	}
}

// RemoveRouter deletes the entity of a router removed by a reload.
func (s *Service) RemoveRouter(router string) {
	if s.hass != nil {
		s.hass.pub.RemoveRouter(router)
	}
}

// SetMaster tells Home Assistant whether router is MASTER. It only queues:
// a router never waits on MQTT.
func (s *Service) SetMaster(router string, master bool) {
	if s.hass != nil {
		s.hass.pub.SetMaster(router, master)
	}
}

// AddAdvertsLost announces router's adverts-lost sensor, if Home
// Assistant is enabled.
func (s *Service) AddAdvertsLost(router string) {
	if s.hass != nil {
		s.hass.pub.AddAdvertsLost(router)
	}
}

// SetAdvertsLost tells Home Assistant whether router's adverts from a live
// peer are lost. It only queues.
func (s *Service) SetAdvertsLost(router string, lost bool) {
	if s.hass != nil {
		s.hass.pub.SetAdvertsLost(router, lost)
	}
}
