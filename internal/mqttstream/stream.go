// Package mqttstream measures what an MQTT client sees of a broker
// failover: a QoS 1 publisher sends a sequence number every few
// milliseconds, a subscriber on the same broker address records when each
// arrives, and the result counts what was sent, received, lost and
// duplicated and the longest gap between two arrivals. The lab tests and
// the demo client (scripts/demo/mqttclient) share it.
package mqttstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Defaults of Config: a dead TCP path is noticed after the keepalive plus
// the ping timeout, and paho retries at most every Retry (its first
// reconnect sleeps min(1 s, MaxReconnectInterval)).
const (
	DefaultKeepalive   = time.Second
	DefaultPingTimeout = time.Second
	DefaultRetry       = 250 * time.Millisecond
	DefaultTopic       = "home/stream"
	DefaultEvery       = 10 * time.Millisecond
)

// Config describes a stream. Zero fields take the defaults above.
type Config struct {
	Addr        string // broker HOST:PORT
	Topic       string
	Every       time.Duration // publishing interval
	Keepalive   time.Duration
	PingTimeout time.Duration
	Retry       time.Duration
	// ClientID prefixes the two clients' ids ("-pub", "-sub"); default
	// "stream".
	ClientID string
	// Dial opens the TCP connection; nil uses a net.Dialer. Tests pass
	// one that dials from inside a network namespace.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// OnEvent, if set, is called for every connection event, from paho's
	// goroutines.
	OnEvent func(Event)
}

func (c *Config) fill() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Every, DefaultEvery)
	def(&c.Keepalive, DefaultKeepalive)
	def(&c.PingTimeout, DefaultPingTimeout)
	def(&c.Retry, DefaultRetry)
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.ClientID == "" {
		c.ClientID = "stream"
	}
	if c.Dial == nil {
		d := &net.Dialer{}
		c.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		}
	}
}

// Event kinds.
const (
	Connected      = "connected"
	ConnectionLost = "connection lost"
	Reconnected    = "reconnected"
)

// Event is a connection event of one of the stream's clients.
type Event struct {
	At     time.Time
	Client string // "pub" or "sub"
	Kind   string // Connected, ConnectionLost or Reconnected
	Err    error  // why the connection was lost
}

func (e Event) String() string {
	if e.Err != nil {
		return fmt.Sprintf("%s %s: %v", e.Client, e.Kind, e.Err)
	}
	return e.Client + " " + e.Kind
}

// Arrival is one message received: its sequence number and when.
type Arrival struct {
	Seq int
	At  time.Time
}

// Stream is a running publisher and subscriber.
type Stream struct {
	cfg      Config
	pub, sub mqtt.Client
	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once

	mu     sync.Mutex
	sent   int
	got    []Arrival
	events []Event
}

// Start connects the subscriber, then the publisher, and starts
// publishing. Both reconnect by themselves until Stop. It fails when a
// client cannot connect within connectWait.
func Start(cfg Config, connectWait time.Duration) (*Stream, error) {
	cfg.fill()
	s := &Stream{cfg: cfg, done: make(chan struct{})}
	s.sub = s.client("sub", func(cl mqtt.Client) {
		// CleanSession: every (re)connection subscribes again.
		cl.Subscribe(cfg.Topic, 1, s.record).WaitTimeout(time.Second)
	})
	s.pub = s.client("pub", nil)
	for _, cl := range []mqtt.Client{s.sub, s.pub} {
		tok := cl.Connect()
		if !tok.WaitTimeout(connectWait) {
			s.disconnect()
			return nil, fmt.Errorf("connecting to %s: no answer within %v", cfg.Addr, connectWait)
		}
		if err := tok.Error(); err != nil {
			s.disconnect()
			return nil, fmt.Errorf("connecting to %s: %w", cfg.Addr, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.publish(ctx)
	return s, nil
}

func (s *Stream) client(name string, onConnect func(mqtt.Client)) mqtt.Client {
	c := s.cfg
	var connected atomic.Bool
	o := mqtt.NewClientOptions().AddBroker("tcp://" + c.Addr).SetClientID(c.ClientID + "-" + name).
		SetCleanSession(true).SetOrderMatters(false).SetKeepAlive(c.Keepalive).
		SetPingTimeout(c.PingTimeout).SetConnectTimeout(time.Second).SetWriteTimeout(time.Second).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(c.Retry).
		SetMaxReconnectInterval(c.Retry)
	o.SetOnConnectHandler(func(cl mqtt.Client) {
		kind := Connected
		if connected.Swap(true) {
			kind = Reconnected
		}
		s.event(Event{At: time.Now(), Client: name, Kind: kind})
		if onConnect != nil {
			onConnect(cl)
		}
	})
	o.SetConnectionLostHandler(func(_ mqtt.Client, err error) {
		s.event(Event{At: time.Now(), Client: name, Kind: ConnectionLost, Err: err})
	})
	o.SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.Dial(ctx, c.Addr)
	})
	return mqtt.NewClient(o)
}

func (s *Stream) event(e Event) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(e)
	}
}

func (s *Stream) record(_ mqtt.Client, m mqtt.Message) {
	n, err := strconv.Atoi(string(m.Payload()))
	if err != nil {
		return
	}
	s.mu.Lock()
	s.got = append(s.got, Arrival{n, time.Now()})
	s.mu.Unlock()
}

func (s *Stream) publish(ctx context.Context) {
	defer close(s.done)
	tick := time.NewTicker(s.cfg.Every)
	defer tick.Stop()
	for seq := 1; ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.pub.Publish(s.cfg.Topic, 1, false, strconv.Itoa(seq))
		s.mu.Lock()
		s.sent = seq
		s.mu.Unlock()
	}
}

// Received is the number of messages received so far.
func (s *Stream) Received() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// Sent is the number of messages published so far.
func (s *Stream) Sent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// LastSeq is the highest sequence number received.
func (s *Stream) LastSeq() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := 0
	for _, a := range s.got {
		last = max(last, a.Seq)
	}
	return last
}

// Arrivals returns a copy of the arrivals so far, in arrival order.
func (s *Stream) Arrivals() []Arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Arrival(nil), s.got...)
}

// Events returns a copy of the connection events so far, oldest first.
func (s *Stream) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// ErrNotResumed is returned by WaitResumed when messages published after
// the call did not arrive in time.
var ErrNotResumed = errors.New("mqttstream: messages did not resume")

// WaitResumed waits until messages published after the call arrive (20
// past the last one sent then), polling every 20 ms, or ctx is done.
func (s *Stream) WaitResumed(ctx context.Context) error {
	from := s.Sent()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for s.LastSeq() <= from+20 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: last received %d, want > %d: %w", ErrNotResumed, s.LastSeq(), from+20, context.Cause(ctx))
		case <-tick.C:
		}
	}
	return nil
}

// Stop stops publishing, waits settle for messages in flight, disconnects
// both clients and sums up. Calling it again only sums up again.
func (s *Stream) Stop(settle time.Duration) Result {
	s.stopOnce.Do(func() {
		s.cancel()
		<-s.done
		time.Sleep(settle)
		s.disconnect()
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	return Summarize(s.sent, s.got)
}

func (s *Stream) disconnect() {
	s.pub.Disconnect(100)
	s.sub.Disconnect(100)
}
