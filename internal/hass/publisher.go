package hass

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carpd/carpd/mosquitto"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Publisher defaults.
const (
	DefaultQueueLen    = 64
	DefaultBackoffBase = 250 * time.Millisecond
	DefaultBackoffCap  = 10 * time.Second
	DefaultStopTimeout = 2 * time.Second
	// DefaultRefresh is how often the states are sent again; entities
	// expire after three refreshes (Node.ExpireAfter).
	DefaultRefresh = time.Minute
)

// Config configures a Publisher. Zero values take the defaults above.
type Config struct {
	// Broker is the local broker, at its static address, with the
	// credentials and TLS of carpd's other clients.
	Broker mosquitto.Broker
	// ClientID is the publisher's own MQTT client id.
	ClientID string
	Node     Node
	// QueueLen bounds the messages waiting to be sent. When it is full
	// the oldest is dropped and counted, and the whole current state is
	// sent again once the queue has drained.
	QueueLen int
	// BackoffBase and BackoffCap bound the wait between connection
	// attempts, doubled per failure in a row.
	BackoffBase, BackoffCap time.Duration
	// StopTimeout bounds the goodbye when Run's context ends: sending
	// what is queued, then offline.
	StopTimeout time.Duration
	// Refresh is how often availability and states are sent again, so
	// that Node.ExpireAfter does not expire a live node; at most a
	// third of ExpireAfter.
	Refresh time.Duration
	Log     *slog.Logger
}

// Stats counts what a Publisher did.
type Stats struct {
	Connected bool
	// Connects counts connections on which the full state was sent.
	Connects uint64
	// Published counts messages acknowledged by the broker.
	Published uint64
	// Dropped counts messages dropped from a full queue.
	Dropped uint64
}

// Publisher keeps the retained discovery configs and states of one node
// on the local broker. Its Set and Add methods only update the wanted
// state and queue a message; Run sends them. On every (re)connection Run
// sends everything again, as the broker may have restarted without
// persistence and lost the retained messages (docs/design.md §5.8).
type Publisher struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}

	mu      sync.Mutex
	configs table // discovery topic → config
	states  table // state topic → state
	queue   []Message
	resync  bool

	connected                    atomic.Bool
	connects, published, dropped atomic.Uint64
}

// New returns a Publisher with nothing to publish but the availability.
func New(cfg Config) *Publisher {
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = DefaultBackoffBase
	}
	if cfg.BackoffCap < cfg.BackoffBase {
		cfg.BackoffCap = max(DefaultBackoffCap, cfg.BackoffBase)
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Publisher{cfg: cfg, log: cfg.Log, wake: make(chan struct{}, 1)}
}

// AddRouter announces router's binary_sensor, OFF until SetMaster says
// otherwise.
func (p *Publisher) AddRouter(router string) {
	n := p.cfg.Node
	p.update(func() []Message {
		c := n.MasterConfig(router)
		p.configs.set(c.Topic, c.Payload)
		topic := n.MasterTopic(router)
		if _, ok := p.states.get(topic); !ok {
			p.states.set(topic, Off)
		}
		v, _ := p.states.get(topic)
		return []Message{c, {Topic: topic, Payload: v}}
	})
}

// AddAdvertsLost announces router's adverts-lost binary_sensor, OFF until
// SetAdvertsLost says otherwise. Only a router whose node has the
// heartbeat can know, so only such a router gets one.
func (p *Publisher) AddAdvertsLost(router string) {
	n := p.cfg.Node
	p.update(func() []Message {
		c := n.AdvertsLostConfig(router)
		p.configs.set(c.Topic, c.Payload)
		topic := n.AdvertsLostTopic(router)
		if _, ok := p.states.get(topic); !ok {
			p.states.set(topic, Off)
		}
		v, _ := p.states.get(topic)
		return []Message{c, {Topic: topic, Payload: v}}
	})
}

// SetAdvertsLost records whether router's adverts from a live peer are
// lost.
func (p *Publisher) SetAdvertsLost(router string, lost bool) {
	p.setState(p.cfg.Node.AdvertsLostTopic(router), MasterPayload(lost))
}

// RemoveRouter deletes router's entities: their retained configs and
// states.
func (p *Publisher) RemoveRouter(router string) {
	n := p.cfg.Node
	p.update(func() []Message {
		c, s := n.MasterConfig(router).Topic, n.MasterTopic(router)
		p.configs.del(c)
		p.states.del(s)
		out := []Message{Remove(c), Remove(s)}
		lc := n.AdvertsLostConfig(router).Topic
		if _, ok := p.configs.get(lc); ok {
			ls := n.AdvertsLostTopic(router)
			p.configs.del(lc)
			p.states.del(ls)
			out = append(out, Remove(lc), Remove(ls))
		}
		return out
	})
}

// SetMaster records whether this node is MASTER of router.
func (p *Publisher) SetMaster(router string, master bool) {
	p.setState(p.cfg.Node.MasterTopic(router), MasterPayload(master))
}

// AddProbe announces a latency sensor per bridge direction ("out",
// "in"), unknown until SetLatency.
func (p *Publisher) AddProbe(dirs ...string) {
	n := p.cfg.Node
	p.update(func() []Message {
		var out []Message
		for _, d := range dirs {
			c := n.LatencyConfig(d)
			p.configs.set(c.Topic, c.Payload)
			p.states.set(n.LatencyTopic(d), Unknown)
			out = append(out, c, Message{Topic: n.LatencyTopic(d), Payload: Unknown})
		}
		return out
	})
}

// SetLatency records a probe result of direction dir; ok false means the
// direction does not replicate.
func (p *Publisher) SetLatency(dir string, rtt time.Duration, ok bool) {
	p.setState(p.cfg.Node.LatencyTopic(dir), LatencyPayload(rtt, ok))
}

// Stats returns the counters.
func (p *Publisher) Stats() Stats {
	return Stats{Connected: p.connected.Load(), Connects: p.connects.Load(), Published: p.published.Load(),
		Dropped: p.dropped.Load()}
}

func (p *Publisher) setState(topic, payload string) {
	p.update(func() []Message {
		p.states.set(topic, payload)
		return []Message{{Topic: topic, Payload: payload}}
	})
}

// update changes the wanted state under the lock and queues the messages
// fn returns, dropping the oldest beyond QueueLen. It never blocks on I/O.
func (p *Publisher) update(fn func() []Message) {
	p.mu.Lock()
	p.queue = append(p.queue, fn()...)
	if over := len(p.queue) - p.cfg.QueueLen; over > 0 {
		p.queue = append(p.queue[:0:0], p.queue[over:]...)
		p.dropped.Add(uint64(over))
		p.resync = true
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run connects to the broker and publishes until ctx ends, reconnecting
// with bounded back-off. When ctx ends it sends what is queued and
// offline, bounded by StopTimeout, and disconnects.
func (p *Publisher) Run(ctx context.Context) {
	backoff, failing := p.cfg.BackoffBase, false
	for {
		c, lost, err := p.connect(ctx)
		if err == nil {
			failing = false
			began := time.Now()
			err = p.serve(ctx, c, lost)
			if ctx.Err() != nil {
				p.goodbye(c)
				return
			}
			c.Disconnect(0)
			// Only a connection that lasted resets the back-off, so a
			// broker that drops us at once is not hammered.
			if time.Since(began) > p.cfg.BackoffCap {
				backoff = p.cfg.BackoffBase
			}
		}
		if ctx.Err() != nil {
			return
		}
		if !failing {
			p.log.Warn("Home Assistant publisher: broker unreachable or connection lost; retrying", "error", err, "addr", p.cfg.Broker.Addr)
			failing = true
		} else {
			p.log.Debug("Home Assistant publisher: broker still unreachable", "error", err)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(2*backoff, p.cfg.BackoffCap)
	}
}

// connect returns a fresh client (paho's README: reusing one after a
// disconnect is not safe) whose Will is offline, retained, and a channel
// closed when its connection is lost.
func (p *Publisher) connect(ctx context.Context) (mqtt.Client, <-chan struct{}, error) {
	b := p.cfg.Broker
	lost := make(chan struct{})
	var once sync.Once
	o := b.ClientOptions(p.cfg.ClientID).
		SetBinaryWill(p.cfg.Node.Availability(), []byte(Offline), 1, true).
		SetConnectionLostHandler(func(mqtt.Client, error) { once.Do(func() { close(lost) }) })
	c := mqtt.NewClient(o)
	if err := mosquitto.WaitToken(ctx, c.Connect(), b.OpTimeout(), "connecting to "+b.Addr); err != nil {
		c.Disconnect(0)
		return nil, nil, err
	}
	return c, lost, nil
}

var errLost = errors.New("connection lost")

// serve sends the whole state, then each queued message, until ctx ends or
// the connection fails.
func (p *Publisher) serve(ctx context.Context, c mqtt.Client, lost <-chan struct{}) error {
	p.mu.Lock()
	p.queue, p.resync = nil, false // the full state below covers them
	p.mu.Unlock()
	if err := p.publishAll(ctx, c); err != nil {
		return err
	}
	p.connects.Add(1)
	p.connected.Store(true)
	defer p.connected.Store(false)
	p.log.Info("published Home Assistant discovery and state", "addr", p.cfg.Broker.Addr,
		"node_id", p.cfg.Node.ID, "availability", p.cfg.Node.Availability())
	refresh := time.NewTicker(p.cfg.Refresh)
	defer refresh.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-lost:
			return errLost
		case <-p.wake:
			err = p.flush(ctx, c)
		case <-refresh.C:
			err = p.publishStates(ctx, c)
		}
		if err != nil {
			return err
		}
	}
}

// flush sends the queued messages in order, then the whole state if
// messages were dropped.
func (p *Publisher) flush(ctx context.Context, c mqtt.Client) error {
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			resync := p.resync
			p.resync = false
			p.mu.Unlock()
			if resync {
				return p.publishAll(ctx, c)
			}
			return nil
		}
		m := p.queue[0]
		p.queue = p.queue[1:]
		p.mu.Unlock()
		if err := p.publish(ctx, c, m); err != nil {
			return err
		}
	}
}

// publishAll sends the discovery configs, online, then the states: Home
// Assistant knows an entity before its state arrives.
func (p *Publisher) publishAll(ctx context.Context, c mqtt.Client) error {
	p.mu.Lock()
	msgs := p.configs.messages()
	msgs = append(msgs, Message{Topic: p.cfg.Node.Availability(), Payload: Online})
	msgs = append(msgs, p.states.messages()...)
	p.mu.Unlock()
	for _, m := range msgs {
		if err := p.publish(ctx, c, m); err != nil {
			return err
		}
	}
	return nil
}

// publishStates sends online and the states again, keeping the entities
// from expiring.
func (p *Publisher) publishStates(ctx context.Context, c mqtt.Client) error {
	p.mu.Lock()
	msgs := append([]Message{{Topic: p.cfg.Node.Availability(), Payload: Online}}, p.states.messages()...)
	p.mu.Unlock()
	for _, m := range msgs {
		if err := p.publish(ctx, c, m); err != nil {
			return err
		}
	}
	return nil
}

// goodbye sends what is queued and offline, bounded, and disconnects
// cleanly, so the broker does not also send the Will; unless the broker is
// stopped before it has read the DISCONNECT (mosquitto sends the Wills of
// its clients when it stops), which then only repeats the offline.
func (p *Publisher) goodbye(c mqtt.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.StopTimeout)
	defer cancel()
	err := p.flush(ctx, c)
	if err == nil {
		err = p.publish(ctx, c, Message{Topic: p.cfg.Node.Availability(), Payload: Offline})
	}
	if err != nil {
		p.log.Warn("Home Assistant publisher: goodbye not sent; the broker sends the Will", "error", err)
	}
	c.Disconnect(250)
}

// publish sends one retained QoS 1 message and waits, bounded, for its
// PUBACK.
func (p *Publisher) publish(ctx context.Context, c mqtt.Client, m Message) error {
	b := p.cfg.Broker
	if err := mosquitto.WaitToken(ctx, c.Publish(m.Topic, 1, true, m.Payload), b.OpTimeout(), "publishing "+m.Topic); err != nil {
		return err
	}
	p.published.Add(1)
	return nil
}
