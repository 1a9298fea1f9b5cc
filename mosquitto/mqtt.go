package mosquitto

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carpd/carpd/internal/secret"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// TLSFiles names the files for a TLS connection to a broker, for when only
// its TLS listener is reachable.
type TLSFiles struct {
	// CAFile verifies the broker ("" uses the system roots).
	CAFile string
	// CertFile and KeyFile are the client certificate, if the broker
	// asks for one.
	CertFile, KeyFile string
	// ServerName is checked against the broker's certificate; "" uses the
	// host of the broker address.
	ServerName string
}

// Config loads the files into a TLS configuration.
func (f TLSFiles) Config() (*tls.Config, error) {
	c := &tls.Config{ServerName: f.ServerName, MinVersion: tls.VersionTLS12}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading broker CA: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("reading broker CA %s: no PEM certificate", f.CAFile)
		}
	}
	if f.CertFile != "" || f.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Broker says how to reach one MQTT broker: always its static address, never
// the virtual one, which moves between nodes.
type Broker struct {
	// Addr is host:port.
	Addr string
	// Username and Password authenticate the client; the probe should
	// have its own user so that an ACL can confine it.
	Username string
	Password secret.Secret
	// TLS, if set, makes the connection TLS (the broker's TLS listener).
	TLS *tls.Config
	// Dial opens the TCP connection (nil: net.Dialer). Lab tests pass one
	// that dials inside a network namespace.
	Dial DialFunc
	// Timeout bounds connecting and each MQTT operation (5 s).
	Timeout time.Duration
	// Keepalive is the MQTT keepalive (10 s): short, so a dead path shows
	// quickly.
	Keepalive time.Duration
}

func (b Broker) timeout() time.Duration {
	if b.Timeout > 0 {
		return b.Timeout
	}
	return 5 * time.Second
}

// DialFunc opens a network connection, like (*net.Dialer).DialContext. Tests
// in network namespaces pass one that dials from inside a namespace.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// dial returns b.Dial, or a plain net.Dialer's when it is nil.
func (b Broker) dial() DialFunc {
	if b.Dial != nil {
		return b.Dial
	}
	return (&net.Dialer{}).DialContext
}

// errTimeout is returned when an MQTT operation does not complete in time.
var errTimeout = errors.New("timed out")

// waitToken waits for a paho token like WaitTimeout (paho's Token.Wait has no
// bound and can hang forever), and also returns when ctx is done.
func waitToken(ctx context.Context, tok mqtt.Token, d time.Duration, what string) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("%s: %w after %v", what, errTimeout, d)
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", what, context.Cause(ctx))
	}
}

// clientOptions are the paho settings for carpd's own short-lived clients:
// short keepalive and ping timeout, OrderMatters
// false, a default handler so stray messages are acknowledged, and no paho
// reconnection: the caller drops a broken client and builds a fresh one
// with NewClient, which the paho README calls the safe way.
func (b Broker) clientOptions(clientID string) *mqtt.ClientOptions {
	keepalive := b.Keepalive
	if keepalive <= 0 {
		keepalive = 10 * time.Second
	}
	scheme := "tcp"
	if b.TLS != nil {
		scheme = "ssl"
	}
	o := mqtt.NewClientOptions().
		AddBroker(scheme + "://" + b.Addr).
		SetClientID(clientID).
		SetUsername(b.Username).
		SetPassword(string(b.Password)).
		SetCleanSession(true).
		SetOrderMatters(false).
		SetKeepAlive(keepalive).
		SetPingTimeout(3 * time.Second).
		SetConnectTimeout(b.timeout()).
		SetWriteTimeout(b.timeout()).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetMaxReconnectInterval(5 * time.Second).
		SetDefaultPublishHandler(func(mqtt.Client, mqtt.Message) {})
	o.SetCustomOpenConnectionFn(b.open)
	return o
}

// ClientOptions returns the paho settings of clientOptions for a client
// that adds its own, such as a Will, and replaces a broken client with a
// fresh one as carpd's other clients do.
func (b Broker) ClientOptions(clientID string) *mqtt.ClientOptions { return b.clientOptions(clientID) }

// OpTimeout is how long one MQTT operation may take (Timeout, 5 s when
// unset).
func (b Broker) OpTimeout() time.Duration { return b.timeout() }

// WaitToken waits at most d for a paho token, or until ctx is done;
// paho's Token.Wait has no bound.
func WaitToken(ctx context.Context, tok mqtt.Token, d time.Duration, what string) error {
	return waitToken(ctx, tok, d, what)
}

// open dials the broker for paho, with b.Dial and b.TLS.
func (b Broker) open(_ *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout())
	defer cancel()
	conn, err := b.dial()(ctx, "tcp", b.Addr)
	if err != nil {
		return nil, err
	}
	if b.TLS == nil {
		return conn, nil
	}
	cfg := b.TLS.Clone()
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(b.Addr)
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", b.Addr, err)
	}
	return alertConn{tc}, nil
}

// connect returns a connected client; opts adjust its settings.
func (b Broker) connect(ctx context.Context, clientID string, opts ...func(*mqtt.ClientOptions)) (mqtt.Client, error) {
	o := b.clientOptions(clientID)
	for _, f := range opts {
		f(o)
	}
	c := mqtt.NewClient(o)
	if err := waitToken(ctx, c.Connect(), b.timeout(), "connecting to "+b.Addr); err != nil {
		c.Disconnect(0)
		return nil, err
	}
	return c, nil
}

// MQTTReady returns a readiness check for a broker, for a process
// supervisor (supervisor.Config.Ready): a TCP connect, then a real MQTT
// CONNECT answered by CONNACK, as clientID. It returns nil once the broker
// serves and must return when ctx is done.
func MQTTReady(b Broker, clientID string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		conn, err := b.dial()(ctx, "tcp", b.Addr)
		if err != nil {
			return err
		}
		if err := conn.Close(); err != nil {
			return err
		}
		c, err := b.connect(ctx, clientID)
		if err != nil {
			return err
		}
		c.Disconnect(100)
		return nil
	}
}

// message is a received MQTT message.
type message struct {
	topic   string
	payload string
	at      time.Time
}

// session is a connected client with subscriptions whose messages go to
// handlers.
type session struct {
	c    mqtt.Client
	b    Broker
	once sync.Once
	// failed is set when an operation failed, so the owner replaces the
	// client.
	failed atomic.Bool
}

// sub is a subscription of a session: QoS 1 on filter, each message to fn
// (called on a paho goroutine; it must not block).
type sub struct {
	filter string
	fn     func(message)
}

// dialSession connects and subscribes. lost, when not nil, is called (on
// a paho goroutine; it must not block) when the broker closes the
// connection or it breaks.
func dialSession(ctx context.Context, b Broker, clientID string, subs []sub, lost func()) (*session, error) {
	var opts []func(*mqtt.ClientOptions)
	if lost != nil {
		opts = append(opts, func(o *mqtt.ClientOptions) {
			o.SetConnectionLostHandler(func(mqtt.Client, error) { lost() })
		})
	}
	c, err := b.connect(ctx, clientID, opts...)
	if err != nil {
		return nil, err
	}
	s := &session{c: c, b: b}
	for _, su := range subs {
		fn := su.fn
		tok := c.Subscribe(su.filter, 1, func(_ mqtt.Client, m mqtt.Message) {
			fn(message{topic: m.Topic(), payload: string(m.Payload()), at: time.Now()})
		})
		if err := waitToken(ctx, tok, b.timeout(), "subscribing to "+su.filter); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

// publish sends a non-retained QoS 1 message and waits for the PUBACK.
func (s *session) publish(ctx context.Context, topic, payload string) error {
	err := waitToken(ctx, s.c.Publish(topic, 1, false, payload), s.b.timeout(), "publishing to "+s.b.Addr)
	if err != nil {
		s.failed.Store(true)
	}
	return err
}

func (s *session) alive() bool { return s.c.IsConnectionOpen() }

func (s *session) close() {
	s.once.Do(func() { s.c.Disconnect(100) })
}
