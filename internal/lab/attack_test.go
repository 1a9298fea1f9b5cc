//go:build linux

package lab

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// TestAttackerCaptureAndSpoof: the client captures an advert n1 sends,
// with its source and TTL, and a copy it sends spoofed from n1's address
// reaches n2 as if n1 had sent it (source n1, TTL 255); a flood sends as
// many as asked.
func TestAttackerCaptureAndSpoof(t *testing.T) {
	t.Parallel()
	l := New(t, 2, WithoutIPv6())
	n1, n2 := l.Nodes[0], l.Nodes[1]
	a := l.Client.Attacker(t)

	// n2 listens as a cluster member would.
	var rx *ipv4.RawConn
	err := n2.Do(func() error {
		var err error
		if rx, err = rawConn(); err != nil {
			return err
		}
		ifi, err := net.InterfaceByName(n2.Iface)
		if err != nil {
			return err
		}
		return rx.JoinGroup(ifi, &net.IPAddr{IP: group})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })

	payload := []byte("\x21\x28\x0a\x07 n1's advert, 36 bytes long ")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sent := make(chan error, 1)
	go func() {
		p, err := n1.Proto112(255)
		if err == nil {
			// Sent again until captured: the capture waits for one
			// that arrives after it started.
			for i := 0; i < 50 && ctx.Err() == nil; i++ {
				if _, err = p.WriteTo(payload, nil, &net.IPAddr{IP: group}); err != nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			p.Close()
		}
		sent <- err
	}()
	ad, err := a.Capture(ctx, n1.IP4.Addr())
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if ad.TTL != 255 || !bytes.Equal(ad.Payload, payload) || ad.Dst.String() != "224.0.0.18" {
		t.Fatalf("captured %+v, want n1's payload to 224.0.0.18 with TTL 255", ad)
	}

	// Drain what n1 sent, then look for the spoofed copy only.
	if err := rx.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	spoof := append([]byte("spoofed "), payload...)
	if err := a.Send(spoof, n1.IP4.Addr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	for {
		h, p, _, err := rx.ReadFrom(buf)
		if err != nil {
			t.Fatalf("n2 never received the spoofed advert: %v", err)
		}
		if bytes.Equal(p, spoof) {
			if !h.Src.Equal(n1.IP4.Addr().AsSlice()) || h.TTL != 255 {
				t.Errorf("spoofed advert arrived from %v with TTL %d, want %v and 255", h.Src, h.TTL, n1.IP4.Addr())
			}
			break
		}
	}

	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	if n, err := a.Flood(fctx, payload, l.Client.IP4.Addr(), 100, 200*time.Millisecond); err != nil || n != 20 {
		t.Errorf("flood of 100/s for 200 ms sent %d (%v), want 20", n, err)
	}
	if _, err := a.Flood(fctx, payload, l.Client.IP4.Addr(), 5000, time.Second); err == nil {
		t.Errorf("flood of 5000/s accepted, want it refused")
	}
}

// TestRogueBroker: the rogue mosquitto listens on the attacker's address
// and logs the user name a client connects with.
func TestRogueBroker(t *testing.T) {
	t.Parallel()
	l := New(t, 1, WithoutIPv6())
	r := l.Client.RogueBroker(t)
	n1 := l.Nodes[0]
	// MQTT 3.1.1 CONNECT (§3.1): protocol "MQTT" level 4, flags user
	// name + clean session, keepalive 60, client id "lab-test", user
	// "carpd".
	connect := []byte("\x10\x1b\x00\x04MQTT\x04\x82\x00\x3c\x00\x08lab-test\x00\x05carpd")
	err := n1.Do(func() error {
		c, err := net.DialTimeout("tcp", l.Client.IP4.Addr().String()+":1883", 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Write(connect); err != nil {
			return err
		}
		// The CONNACK: the broker has logged the connect by then.
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 4))
		return err
	})
	if err != nil {
		t.Fatalf("connecting to the rogue broker: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = WaitFor(ctx, 20*time.Millisecond, func() bool { return len(r.Connects()) > 0 })
	if err != nil {
		t.Fatalf("no CONNECT logged: %v; log:\n%s", err, r.Proc.Output())
	}
	if c := r.Connects()[0]; c.Username != "carpd" || c.ClientID != "lab-test" {
		t.Errorf("connect %v, want lab-test with user carpd", c)
	}
}
