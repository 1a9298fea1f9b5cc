package mqconf

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestReadBrokerConf(t *testing.T) {
	tests := []struct {
		file string
		want *BrokerConf
	}{
		{"testdata/classic.conf", &BrokerConf{
			Files: []string{"testdata/classic.conf"},
			Listeners: []Listener{
				{Port: 1883, Bind: "192.0.2.11", Protocol: "mqtt"},
				{Port: 8883, Bind: "192.0.2.11", Protocol: "mqtt", TLS: true},
			},
			Persistence:         true,
			PersistenceLocation: "/var/lib/mosquitto/",
			PidFile:             "/run/mosquitto/mosquitto.pid",
			Bridges: []Bridge{{
				Name:           "peer",
				Addresses:      []string{"192.0.2.12:1883"},
				RemoteClientID: "bridge-node1",
				TryPrivate:     true,
				CleanSession:   true,
				Keepalive:      5 * time.Second,
				Notifications:  true,
				Topics: []BridgeTopic{
					{Pattern: "home/#", Direction: Both, QoS: 2},
					{Pattern: "tele/#", Direction: Out, QoS: 1},
				},
			}},
		}},
		{"testdata/include.conf", &BrokerConf{
			Files: []string{"testdata/include.conf", "testdata/conf.d/10-ws.conf", "testdata/conf.d/20-bridge.conf"},
			Listeners: []Listener{
				{Port: 1883, Protocol: "mqtt"},
				{Port: 9001, Bind: "127.0.0.1", Protocol: "websockets"},
			},
			Bridges: []Bridge{{
				Name:       "b",
				Addresses:  []string{"198.18.0.2", "198.18.0.3:1884"},
				TryPrivate: true,
				Keepalive:  60 * time.Second,
				Topics: []BridgeTopic{
					{Pattern: "#", Direction: In, LocalPrefix: "site/", RemotePrefix: "remote/"},
				},
			}},
		}},
		{"testdata/default.conf", &BrokerConf{
			Files:     []string{"testdata/default.conf"},
			Listeners: []Listener{{Port: 1883, Bind: "localhost", Protocol: "mqtt", Implicit: true}},
		}},
		{"testdata/oldport.conf", &BrokerConf{
			Files: []string{"testdata/oldport.conf"},
			Listeners: []Listener{
				{Port: 1884, Bind: "10.0.0.1", Protocol: "mqtt"},
				{Port: 0, Socket: "/run/mosquitto.sock", Protocol: "mqtt"},
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ReadBrokerConf(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ReadBrokerConf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadBrokerConfErrors(t *testing.T) {
	tests := []struct{ file, want string }{
		{"testdata/badport.conf", `badport.conf:1: listener: port "70000" out of range`},
		{"testdata/badtopic.conf", `badtopic.conf:3: topic home/#: direction "sideways"`},
		{"testdata/loop/loop.conf", "nested too deep"},
		{"testdata/missing.conf", "no such file"},
	}
	for _, tt := range tests {
		_, err := ReadBrokerConf(tt.file)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ReadBrokerConf(%s) = %v, want an error with %q", tt.file, err, tt.want)
		}
	}
}

func TestProbeRoute(t *testing.T) {
	conf := func(topics ...BridgeTopic) *BrokerConf {
		return &BrokerConf{Bridges: []Bridge{{Name: "peer", Topics: topics}}}
	}
	tests := []struct {
		name    string
		conf    *BrokerConf
		prefix  string
		dir     Direction
		want    string
		wantErr string
	}{
		{"classic both", conf(BridgeTopic{Pattern: "home/#", Direction: Both}),
			"home/carpd-probe", Both, "home/carpd-probe", ""},
		{"everything", conf(BridgeTopic{Pattern: "#", Direction: Both}),
			"carpd/probe", Both, "carpd/probe", ""},
		{"out only asked out", conf(BridgeTopic{Pattern: "home/#", Direction: Out}),
			"home/carpd-probe", Out, "home/carpd-probe", ""},
		{"out only asked both", conf(BridgeTopic{Pattern: "home/#", Direction: Out}),
			"home/carpd-probe", Both, "", "not carried in"},
		{"split in and out lines", conf(
			BridgeTopic{Pattern: "home/#", Direction: Out},
			BridgeTopic{Pattern: "home/carpd-probe/#", Direction: In}),
			"home/carpd-probe", Both, "home/carpd-probe", ""},
		{"outside the pattern", conf(BridgeTopic{Pattern: "home/#", Direction: Both}),
			"carpd/probe", Both, "", "not carried out by any bridge topic (peer: home/# both)"},
		{"pattern too narrow", conf(BridgeTopic{Pattern: "home/+/+", Direction: Both}),
			"home/carpd-probe", Both, "", "not carried out"},
		{"remapped", conf(BridgeTopic{Pattern: "#", Direction: Both, LocalPrefix: "site/", RemotePrefix: "hq/site/"}),
			"site/probe", Both, "hq/site/probe", ""},
		{"prefix outside the local prefix", conf(BridgeTopic{Pattern: "#", Direction: Both, LocalPrefix: "site/", RemotePrefix: "hq/"}),
			"probe", Both, "", "not carried out"},
		{"$ prefix", conf(BridgeTopic{Pattern: "#", Direction: Both}),
			"$probe", Both, "", "starts with $"},
		{"wildcard prefix", conf(BridgeTopic{Pattern: "#", Direction: Both}),
			"home/+", Both, "", "wildcard"},
		{"no bridge", &BrokerConf{}, "home/p", Both, "", "no bridge"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.conf.ProbeRoute(tt.prefix, tt.dir)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ProbeRoute = %q, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ProbeRoute (-want +got):\n%s", diff)
			}
		})
	}
}
