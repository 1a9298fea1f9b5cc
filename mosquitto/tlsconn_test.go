package mosquitto

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// TestAlertConn has a TLS 1.3 server refuse the client for want of a
// certificate, then writes as paho writes its CONNECT: the write error must
// carry the server's alert, which the bare tls.Conn loses.
func TestAlertConn(t *testing.T) {
	pki := newTestPKI(t, t.TempDir())
	srvCert, err := tls.LoadX509KeyPair(pki.serverCert, pki.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(pki.ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{srvCert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	clientCfg, err := TLSFiles{CAFile: pki.ca}.Config()
	if err != nil {
		t.Fatal(err)
	}
	b := Broker{Addr: ln.Addr().String(), TLS: clientCfg, Timeout: 2 * time.Second}

	tests := []struct {
		name string
		wrap func(net.Conn) net.Conn
		// alert is whether the write error names the alert.
		alert bool
	}{
		{name: "alertConn", wrap: func(c net.Conn) net.Conn { return c }, alert: true},
		{name: "bare tls.Conn", wrap: func(c net.Conn) net.Conn { return c.(alertConn).Conn }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refused := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					refused <- err
					return
				}
				// Closing with the client's Finished unread
				// resets the connection.
				refused <- c.(*tls.Conn).Handshake()
				c.Close()
			}()
			conn, err := b.open(nil, mqtt.ClientOptions{})
			if err != nil {
				t.Fatalf("client handshake: %v", err)
			}
			defer conn.Close()
			if err := <-refused; err == nil {
				t.Fatal("server accepted a client without a certificate")
			}
			c := tt.wrap(conn)
			// Writes succeed until the reset has arrived.
			var werr error
			for i := 0; i < 50 && werr == nil; i++ {
				_, werr = c.Write([]byte{0x10, 0x00})
				time.Sleep(10 * time.Millisecond)
			}
			if werr == nil {
				t.Fatal("writes to a refused connection kept succeeding")
			}
			t.Logf("write error: %v", werr)
			if got := strings.Contains(werr.Error(), "tls: certificate required"); got != tt.alert {
				t.Errorf("write error %q names the alert: %v, want %v", werr, got, tt.alert)
			}
		})
	}
}
