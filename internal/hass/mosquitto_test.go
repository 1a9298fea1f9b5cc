package hass

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carpd/carpd/mosquitto"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// broker is a mosquitto started by a test on 127.0.0.1, without
// persistence, so that a restart loses every retained message.
type broker struct {
	t    *testing.T
	addr string
	conf string
	cmd  *exec.Cmd
}

func startBroker(t *testing.T) *broker {
	t.Helper()
	path, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/mosquitto"); serr != nil {
			t.Skip("mosquitto not installed (Debian package mosquitto)")
		}
		path = "/usr/sbin/mosquitto"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	text := "listener " + port + " 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n"
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &broker{t: t, addr: addr, conf: conf}
	b.cmd = exec.Command(path, "-c", conf)
	b.start()
	t.Cleanup(b.kill)
	return b
}

// start runs mosquitto and waits, bounded, until it accepts connections.
func (b *broker) start() {
	b.t.Helper()
	b.cmd = exec.Command(b.cmd.Path, "-c", b.conf)
	if err := b.cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("mosquitto not listening on %s: %v", b.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops the mosquitto this test started, by its PID.
func (b *broker) kill() {
	if b.cmd.Process == nil || b.cmd.ProcessState != nil {
		return
	}
	_ = b.cmd.Process.Kill()
	_ = b.cmd.Wait()
}

// recorder is a client subscribed to # that keeps what it receives.
type recorder struct {
	t    *testing.T
	c    mqtt.Client
	mu   sync.Mutex
	msgs []received
}

type received struct {
	topic, payload string
	retained       bool
}

func subscribe(t *testing.T, addr, id string) *recorder {
	t.Helper()
	r := &recorder{t: t}
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetAutoReconnect(false).
		SetOrderMatters(false).SetConnectTimeout(2 * time.Second)
	r.c = mqtt.NewClient(o)
	if tok := r.c.Connect(); !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	tok := r.c.Subscribe("#", 1, func(_ mqtt.Client, m mqtt.Message) {
		r.mu.Lock()
		r.msgs = append(r.msgs, received{m.Topic(), string(m.Payload()), m.Retained()})
		r.mu.Unlock()
	})
	if !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	t.Cleanup(func() { r.c.Disconnect(0) })
	return r
}

// waitFor waits, at most 10 s, for a message on topic with payload
// (retained if retained), received at index from or later, and returns the
// index after it.
func (r *recorder) waitFor(from int, topic, payload string, retained bool) int {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		for i := from; i < len(r.msgs); i++ {
			m := r.msgs[i]
			if m.topic == topic && m.payload == payload && (!retained || m.retained) {
				r.mu.Unlock()
				return i + 1
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			r.t.Fatalf("no %s %q (retained %v) after message %d within 10s; got:\n%s", topic, payload, retained, from, r.dump())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *recorder) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for i, m := range r.msgs {
		fmt.Fprintf(&b, "%3d %s %q retained=%v\n", i, m.topic, m.payload, m.retained)
	}
	return b.String()
}

// conns remembers the publisher's connections so the test can cut them
// the way a dead peer would: no DISCONNECT, the socket closed.
type conns struct {
	mu   sync.Mutex
	last *cutConn
}

// cutConn reports io.EOF after a cut, as a reset by the peer would show:
// paho takes a read error on a connection closed on its side for its own
// close and would notice only at the next missed ping.
type cutConn struct {
	net.Conn
	cut atomic.Bool
}

func (c *cutConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil && c.cut.Load() {
		err = io.EOF
	}
	return n, err
}

func (c *conns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cc := &cutConn{Conn: conn}
	c.mu.Lock()
	c.last = cc
	c.mu.Unlock()
	return cc, nil
}

func (c *conns) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last.cut.Store(true)
	c.last.Close()
}

// TestPublisherMosquitto runs the Publisher against a real broker: the
// retained discovery and online on connect, ON/OFF on promotion and
// demotion, the Will when the connection dies, everything again after a
// broker restart that lost it, offline on a clean stop.
func TestPublisherMosquitto(t *testing.T) {
	b := startBroker(t)
	var cs conns
	p := New(Config{
		Broker:   mosquitto.Broker{Addr: b.addr, Dial: cs.dial, Timeout: 2 * time.Second, Keepalive: 2 * time.Second},
		ClientID: "carpd-hass-node1", Node: testNode, BackoffBase: 50 * time.Millisecond, BackoffCap: 500 * time.Millisecond,
		Refresh: 300 * time.Millisecond,
	})
	p.AddRouter("mqtt")
	p.AddProbe("out", "in")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	avail, master := testNode.Availability(), testNode.MasterTopic("mqtt")
	bsConfig, outConfig := testNode.MasterConfig("mqtt"), testNode.LatencyConfig("out")

	// Connect, then look as Home Assistant does after its own start: a
	// fresh subscription gets the retained messages.
	waitConnects(t, p, 1)
	r := subscribe(t, b.addr, "ha-1")
	r.waitFor(0, bsConfig.Topic, bsConfig.Payload, true)
	r.waitFor(0, outConfig.Topic, outConfig.Payload, true)
	r.waitFor(0, avail, Online, true)
	i := r.waitFor(0, master, Off, true)
	r.waitFor(0, testNode.LatencyTopic("in"), Unknown, true)

	p.SetMaster("mqtt", true)
	i = r.waitFor(i, master, On, false)
	p.SetLatency("out", 3200*time.Microsecond, true)
	i = r.waitFor(i, testNode.LatencyTopic("out"), "3.2", false)
	p.SetMaster("mqtt", false)
	i = r.waitFor(i, master, Off, false)
	p.SetMaster("mqtt", true)
	i = r.waitFor(i, master, On, false)
	// Without a change, the refresh sends the state again.
	i = r.waitFor(i, master, On, false)

	// A connection that dies without DISCONNECT: the broker sends the
	// Will, and the publisher comes back online by itself.
	cs.cut()
	i = r.waitFor(i, avail, Offline, false)
	r.waitFor(i, avail, Online, false)
	waitConnects(t, p, 2)

	// A broker restart without persistence loses every retained message;
	// the publisher reconnects and sends them again.
	b.kill()
	b.start()
	waitConnects(t, p, 3)
	r2 := subscribe(t, b.addr, "ha-2")
	r2.waitFor(0, bsConfig.Topic, bsConfig.Payload, true)
	r2.waitFor(0, outConfig.Topic, outConfig.Payload, true)
	r2.waitFor(0, avail, Online, true)
	r2.waitFor(0, master, On, true)
	r2.waitFor(0, testNode.LatencyTopic("out"), "3.2", true)

	// A clean stop: the last state, then offline, retained.
	p.SetMaster("mqtt", false)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of its context ending")
	}
	r3 := subscribe(t, b.addr, "ha-3")
	r3.waitFor(0, avail, Offline, true)
	r3.waitFor(0, master, Off, true)
	if st := p.Stats(); st.Dropped != 0 || st.Connected {
		t.Errorf("stats %+v: want nothing dropped and not connected", st)
	}
}

// waitConnects waits, at most 10 s, until the publisher has sent the full
// state on n connections.
func waitConnects(t *testing.T, p *Publisher, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().Connects < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections within 10s, want %d", p.Stats().Connects, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
