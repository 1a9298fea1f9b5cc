package mosquitto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/carpd/carpd/mosquitto/mqconf"
)

// HealthConfig configures a Health check. Zero durations and counts take the
// defaults named on each field.
type HealthConfig struct {
	// Broker is the local broker at its static address.
	Broker Broker
	// ClientID is the check's own MQTT client ID, for example
	// "carpd-health-n1".
	ClientID string
	// Topic is published to and subscribed to; the check's user needs
	// both rights on it. It should not be bridged.
	Topic string
	// Interval is the time between round trips (5 s).
	Interval time.Duration
	// Timeout bounds one round trip, connecting included (2 s).
	Timeout time.Duration
	// Failures is how many failed round trips in a row make the broker
	// unhealthy (3).
	Failures int
	// OnChange, if set, is called from Run's goroutine when the broker
	// becomes unhealthy (healthy false, err the last failure) and when
	// it recovers. It must not block.
	OnChange func(healthy bool, err error)
	// Logger gets state changes (slog.Default() if nil).
	Logger *slog.Logger
}

// HealthStatus is a snapshot of a Health check.
type HealthStatus struct {
	// Healthy is false from Failures failed round trips in a row until
	// the next success. It starts true.
	Healthy bool
	// Failures counts failed round trips in a row.
	Failures int
	// LastOK is when the last round trip succeeded.
	LastOK time.Time
	// RTT is the last successful round trip: publish, PUBACK, delivery
	// back through the subscription.
	RTT time.Duration
	// LastErr is the last failure, "" if none.
	LastErr string
}

// Health checks a broker with a periodic MQTT round trip: a QoS 1 message
// published on a topic the check subscribes to must come back.
type Health struct {
	cfg HealthConfig
	log *slog.Logger
	w   waiters
	s   *session // owned by Run

	mu sync.Mutex
	st HealthStatus
}

// NewHealth checks cfg and returns a Health that does nothing until Run.
func NewHealth(cfg HealthConfig) (*Health, error) {
	if cfg.Broker.Addr == "" || cfg.ClientID == "" {
		return nil, errors.New("health check needs a broker address and a client ID")
	}
	if err := mqconf.ValidTopic(cfg.Topic); err != nil {
		return nil, fmt.Errorf("health check topic: %w", err)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = mqconf.DefaultHealthInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = mqconf.DefaultHealthTimeout
	}
	if cfg.Failures <= 0 {
		cfg.Failures = mqconf.DefaultHealthFailures
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &Health{cfg: cfg, log: cfg.Logger.With("check", "health", "broker", cfg.Broker.Addr)}
	h.st.Healthy = true
	return h, nil
}

// Status returns a snapshot.
func (h *Health) Status() HealthStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.st
}

// Run checks every Interval until ctx is done, then disconnects and returns
// nil.
func (h *Health) Run(ctx context.Context) error {
	defer h.drop()
	tick := time.NewTicker(h.cfg.Interval)
	defer tick.Stop()
	for {
		rtt, err := h.round(ctx)
		if ctx.Err() != nil {
			return nil
		}
		h.record(rtt, err)
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// round does one round trip, connecting first if needed.
func (h *Health) round(ctx context.Context) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	if h.s != nil && !h.s.alive() {
		h.drop()
	}
	if h.s == nil {
		s, err := dialSession(ctx, h.cfg.Broker, h.cfg.ClientID, []sub{{h.cfg.Topic, h.w.deliver}}, nil)
		if err != nil {
			return 0, err
		}
		h.s = s
	}
	nonce := newNonce()
	got := h.w.add(nonce)
	defer h.w.remove(nonce)
	t0 := time.Now()
	if err := h.s.publish(ctx, h.cfg.Topic, nonce); err != nil {
		h.drop()
		return 0, err
	}
	select {
	case at := <-got:
		return at.Sub(t0), nil
	case <-ctx.Done():
		// Accepted but not delivered back: do not trust this client.
		h.drop()
		return 0, fmt.Errorf("round trip on %s: no delivery within %v", h.cfg.Topic, h.cfg.Timeout)
	}
}

func (h *Health) drop() {
	if h.s != nil {
		h.s.close()
		h.s = nil
	}
}

// record books a result and reports state changes once.
func (h *Health) record(rtt time.Duration, err error) {
	h.mu.Lock()
	was := h.st.Healthy
	if err == nil {
		h.st.Failures, h.st.LastOK, h.st.RTT, h.st.Healthy = 0, time.Now(), rtt, true
	} else {
		h.st.Failures++
		h.st.LastErr = err.Error()
		if h.st.Failures >= h.cfg.Failures {
			h.st.Healthy = false
		}
	}
	st := h.st
	h.mu.Unlock()
	switch {
	case was && !st.Healthy:
		h.log.Error("broker unhealthy", "failures", st.Failures, "err", err)
	case !was && st.Healthy:
		h.log.Info("broker healthy again", "rtt", rtt)
	default:
		if err != nil {
			h.log.Debug("health round trip failed", "failures", st.Failures, "err", err)
		}
		return
	}
	if h.cfg.OnChange != nil {
		h.cfg.OnChange(st.Healthy, err)
	}
}
