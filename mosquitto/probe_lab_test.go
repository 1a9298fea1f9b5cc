//go:build linux

package mosquitto

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carpd/carpd/internal/lab"
)

// labDial dials from inside a lab namespace.
func labDial(n *lab.Node) DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := n.Do(func() error {
			var err error
			conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
}

// labBroker writes a mosquitto.conf for node n and starts mosquitto there.
func labBroker(t *testing.T, n *lab.Node, extra ...string) *lab.Proc {
	t.Helper()
	lines := append([]string{
		"listener 1883 " + n.IP4.Addr().String(),
		"allow_anonymous true",
		"persistence false",
		"log_dest stderr",
		"log_timestamp_format %H:%M:%S",
		"user root",
	}, extra...)
	conf := filepath.Join(t.TempDir(), n.Name+".conf")
	if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return n.Start(t, "mosquitto", "-c", conf)
}

// TestProbeLab bridges two real brokers as in the classic setup (bridge on
// node 1 only, "topic home/# both 2"), probes from the client namespace,
// partitions the two nodes and heals them.
func TestProbeLab(t *testing.T) {
	needMosquitto(t)
	l := lab.New(t, 2, lab.WithoutIPv6())
	n1, n2 := l.Nodes[0], l.Nodes[1]
	addr1 := net.JoinHostPort(n1.IP4.Addr().String(), "1883")
	addr2 := net.JoinHostPort(n2.IP4.Addr().String(), "1883")
	dial := labDial(l.Client)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()

	labBroker(t, n2)
	ready := func(addr string) {
		t.Helper()
		b := Broker{Addr: addr, Dial: dial, Timeout: time.Second}
		check := MQTTReady(b, "carpd-ready")
		var err error
		for range 200 { // 200 × 50 ms: 10 s
			if err = check(ctx); err == nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s not ready within 10 s: %v", addr, err)
	}
	ready(addr2)
	const keepalive = 5 * time.Second
	labBroker(t, n1,
		"connection peer",
		"address "+addr2,
		"remote_clientid bridge-n1",
		"try_private true",
		"cleansession true",
		"keepalive_interval 5",
		`topic home/# both 2 "" ""`,
	)
	ready(addr1)

	log := slog.New(slog.NewTextHandler(&lockedBuffer{t: t}, nil))
	const interval = time.Second
	p, err := NewProbe(ProbeConfig{
		Node: "n1", PeerNode: "n2",
		Local:    Broker{Addr: addr1, Dial: dial, Timeout: time.Second, Keepalive: 5 * time.Second},
		Peer:     Broker{Addr: addr2, Dial: dial, Timeout: time.Second, Keepalive: 5 * time.Second},
		Prefix:   "home/carpd-probe",
		Interval: interval,
		Deadline: 800 * time.Millisecond,
		Logger:   log,
	})
	if err != nil {
		t.Fatal(err)
	}
	runProbe(t, p)
	took := waitPaths(t, p, PathOK, 15*time.Second)
	st := p.Status()
	t.Logf("both directions ok after %v; out RTT %v, in RTT %v; $SYS %v",
		took, st.Paths[0].RTT, st.Paths[1].RTT, st.BridgeState)

	l.Partition(n1, n2)
	took = waitPaths(t, p, PathBroken, 3*interval+500*time.Millisecond)
	t.Logf("broken %v after the partition (bound 3 intervals = %v)", took, 3*interval)

	// Stay cut past the bridge's keepalive timeout (1.5 × keepalive), so
	// that mosquitto drops the bridge and must reconnect.
	time.Sleep(keepalive*3/2 + time.Second)
	t.Logf("$SYS during the partition: %v", p.Status().BridgeState)
	l.Heal()
	// mosquitto 2.0.11 ignores restart_timeout (fixed in 2.0.15): it
	// retries the bridge on its own schedule, measured here.
	const restoreBound = 3*interval + 25*time.Second
	took = waitPaths(t, p, PathOK, restoreBound)
	t.Logf("restored %v after healing (bound %v); $SYS %v", took, restoreBound, p.Status().BridgeState)
}
