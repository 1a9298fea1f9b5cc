//go:build linux

package mosquitto

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/testutil"
	"github.com/carpd/carpd/supervisor"
)

// tlsBroker is the broker at addr reached over TLS with files.
func tlsBroker(t *testing.T, addr string, files TLSFiles) Broker {
	t.Helper()
	cfg, err := files.Config()
	if err != nil {
		t.Fatal(err)
	}
	return Broker{Addr: addr, TLS: cfg, Timeout: 2 * time.Second}
}

// startTLSBroker supervises a mosquitto whose only listener is TLS on addr
// and demands a client certificate, until the test ends. Its readiness
// check is MQTTReady over TLS with the client certificate.
func startTLSBroker(t *testing.T, addr string, p *testPKI, log *slog.Logger) *events {
	t.Helper()
	dir := t.TempDir()
	_, port, _ := net.SplitHostPort(addr)
	lines := []string{
		"listener " + port + " 127.0.0.1",
		"cafile " + p.ca,
		"certfile " + p.serverCert,
		"keyfile " + p.serverKey,
		"require_certificate true",
		"use_identity_as_username true",
		"allow_anonymous false",
		"persistence false",
		"log_dest stderr",
		"log_type all",
	}
	if os.Geteuid() == 0 {
		// Keep root: the files live in 0700 test directories.
		lines = append(lines, "user root")
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, ev := superviseMosquitto(t, conf, MQTTReady(tlsBroker(t, addr, TLSFiles{
		CAFile: p.ca, CertFile: p.clientCert, KeyFile: p.clientKey,
	}), "carpd-tls-ready"), log)
	return ev
}

// TestMosquittoTLSReady runs MQTTReady against a TLS-only mosquitto that
// requires a client certificate: it must get a CONNACK with the right files
// and fail, saying why, with the wrong ones.
func TestMosquittoTLSReady(t *testing.T) {
	needMosquitto(t)
	testutil.CheckGoroutines(t)
	logs := &lockedBuffer{t: t}
	log := slog.New(slog.NewTextHandler(logs, nil))
	pki := newTestPKI(t, t.TempDir())
	addr := testutil.FreeAddr(t)
	ev := startTLSBroker(t, addr, pki, log)
	ready := ev.wait(t, supervisor.EventReady, 10*time.Second)
	t.Logf("mosquitto TLS time to ready (TCP + TLS + CONNECT/CONNACK): %v", ready.Took)

	tests := []struct {
		name  string
		files TLSFiles
		// wantErr is part of the error, "" for success.
		wantErr string
	}{
		{
			name:  "CA and client certificate",
			files: TLSFiles{CAFile: pki.ca, CertFile: pki.clientCert, KeyFile: pki.clientKey},
		},
		{
			name:  "server name given",
			files: TLSFiles{CAFile: pki.ca, CertFile: pki.clientCert, KeyFile: pki.clientKey, ServerName: "127.0.0.1"},
		},
		{
			// With TLS 1.3 the broker's refusal comes after the
			// client's handshake; see alertConn.
			name:    "no client certificate",
			files:   TLSFiles{CAFile: pki.ca},
			wantErr: "certificate required",
		},
		{
			name:    "client certificate from another CA",
			files:   TLSFiles{CAFile: pki.ca, CertFile: pki.rogueClientCert, KeyFile: pki.rogueClientKey},
			wantErr: "unknown certificate authority",
		},
		{
			name:    "CA that did not sign the broker",
			files:   TLSFiles{CAFile: pki.rogueCA, CertFile: pki.clientCert, KeyFile: pki.clientKey},
			wantErr: "x509: certificate signed by unknown authority",
		},
		{
			name:    "wrong server name",
			files:   TLSFiles{CAFile: pki.ca, CertFile: pki.clientCert, KeyFile: pki.clientKey, ServerName: "broker.example"},
			wantErr: "broker.example",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			clientID := "carpd-tls-" + strconv.Itoa(i)
			err := MQTTReady(tlsBroker(t, addr, tt.files), clientID)(ctx)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("MQTTReady: %v", err)
			case tt.wantErr == "":
				// mosquitto logs the session it accepted, with
				// the certificate's CN as the username.
				want := "as " + clientID + " "
				waitCond(t, 2*time.Second, "mosquitto log of "+clientID, func() bool {
					return strings.Contains(logs.String(), want)
				})
				if !strings.Contains(lineWith(logs.String(), want), "u'probe'") {
					t.Errorf("mosquitto did not take the certificate's CN as the username: %q",
						lineWith(logs.String(), want))
				}
			case err == nil:
				t.Fatalf("MQTTReady succeeded, want an error with %q", tt.wantErr)
			case !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("MQTTReady error %q lacks %q", err, tt.wantErr)
			default:
				t.Logf("refused: %v", err)
			}
		})
	}
}

// lineWith returns the first line of s that contains sub.
func lineWith(s, sub string) string {
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// TestMosquittoTLSChecks runs the health check and the bridge probe over
// TLS against one TLS-only broker (standing in for both sides of the probe,
// as in TestProbeOneBroker).
func TestMosquittoTLSChecks(t *testing.T) {
	needMosquitto(t)
	testutil.CheckGoroutines(t)
	log := slog.New(slog.NewTextHandler(&lockedBuffer{t: t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pki := newTestPKI(t, t.TempDir())
	addr := testutil.FreeAddr(t)
	ev := startTLSBroker(t, addr, pki, log)
	ev.wait(t, supervisor.EventReady, 10*time.Second)
	b := tlsBroker(t, addr, TLSFiles{CAFile: pki.ca, CertFile: pki.clientCert, KeyFile: pki.clientKey})

	h, err := NewHealth(HealthConfig{
		Broker:   b,
		ClientID: "carpd-health-tls",
		Topic:    "carpd/health/tls",
		Interval: 100 * time.Millisecond,
		Timeout:  time.Second,
		OnChange: func(healthy bool, err error) { t.Errorf("health changed to %v: %v", healthy, err) },
		Logger:   log,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	var oks []time.Time
	waitCond(t, 5*time.Second, "three healthy round trips", func() bool {
		if ok := h.Status().LastOK; !ok.IsZero() && (len(oks) == 0 || ok.After(oks[len(oks)-1])) {
			oks = append(oks, ok)
		}
		return len(oks) >= 3
	})
	st := h.Status()
	cancel()
	<-done
	if !st.Healthy || st.Failures != 0 || st.LastErr != "" {
		t.Errorf("health over TLS: %+v", st)
	}
	t.Logf("health over TLS: %d round trips, last RTT %v", len(oks), st.RTT)

	p, err := NewProbe(ProbeConfig{
		Node: "n1", PeerNode: "n2",
		Local: b, Peer: b,
		Prefix:   "home/carpd-probe",
		Interval: 200 * time.Millisecond,
		Deadline: time.Second,
		Logger:   log,
	})
	if err != nil {
		t.Fatal(err)
	}
	runProbe(t, p)
	waitPaths(t, p, PathOK, 5*time.Second)
	for _, ps := range p.Status().Paths {
		if ps.Failures != 0 {
			t.Errorf("%v: %d failures before ok: %s", ps.Direction, ps.Failures, ps.LastErr)
		}
		t.Logf("probe over TLS %v: RTT %v", ps.Direction, ps.RTT)
	}
}
