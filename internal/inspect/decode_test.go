package inspect

import (
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/pcapfile"
	"github.com/carpd/carpd/internal/testutil"
	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

const testdata = "../../carp/testdata"

// hexCounter is the form of the CARP counter in --json (docs/troubleshooting.md).
var hexCounter = regexp.MustCompile(`^0x[0-9a-f]{16}$`)

// records decodes every frame of a capture and returns the records of the
// protocol 112 ones as the JSON objects --json prints.
func records(t *testing.T, o Options, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, err := pcapfile.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	in := New(o)
	var recs []map[string]any
	for {
		p, err := pr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		r, ok := in.Frame(p.Time, p.LinkType, p.Data)
		if !ok {
			continue
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, m)
	}
	if in.Packets() != len(recs) {
		t.Errorf("Packets() = %d after %d records", in.Packets(), len(recs))
	}
	return recs
}

// count112 counts the IP protocol 112 packets of a capture independently
// of the code under test, with gopacket's stock decoders.
func count112(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.NoCopy)
		if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok && ip.Protocol == 112 {
			n++
		}
		if ip, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok && ip.NextHeader == 112 {
			n++
		}
	}
	return n
}

func TestInspectUcarpHMAC(t *testing.T) {
	path := filepath.Join(testdata, "ucarp.pcap")
	want := count112(t, path)
	if want == 0 {
		t.Fatal("ucarp.pcap holds no protocol 112 packets")
	}
	for _, tc := range []struct {
		pass, auth string
	}{
		{"s3cretpw", "ok"},
		{"wrongpw", "bad"},
	} {
		recs := records(t, Options{Pass: []byte(tc.pass), CheckPass: true}, path)
		if len(recs) != want {
			t.Fatalf("pass %q: %d records, want %d", tc.pass, len(recs), want)
		}
		for _, r := range recs {
			if got := testutil.Field[string](t, r, "proto"); got != "carp" {
				t.Errorf("proto %q, want carp", got)
			}
			if !testutil.Field[bool](t, r, "checksum_ok") {
				t.Errorf("checksum not ok: %v", r)
			}
			if got := testutil.Field[string](t, r, "auth"); got != tc.auth {
				t.Errorf("pass %q: auth %q, want %q: %v", tc.pass, got, tc.auth, r)
			}
			if tc.auth == "ok" {
				if d := cmp.Diff([]any{"198.18.0.10"}, r["vips"]); d != "" {
					t.Errorf("vips (-want +got):\n%s", d)
				}
			}
			for _, k := range []string{"time", "src", "id", "advbase", "advskew", "demote", "counter"} {
				if _, ok := r[k]; !ok {
					t.Errorf("record lacks %q: %v", k, r)
				}
			}
			if c, ok := r["counter"].(string); !ok || !hexCounter.MatchString(c) {
				t.Errorf("counter %#v, want a string 0x and 16 hex digits", r["counter"])
			}
		}
	}
	// An explicit VIP that is wrong must fail even with the right password.
	wrongVIP := Options{Pass: []byte("s3cretpw"), CheckPass: true, VIPs: []netip.Addr{netip.MustParseAddr("198.18.0.11")}}
	for _, r := range records(t, wrongVIP, path) {
		if got := testutil.Field[string](t, r, "auth"); got != "bad" {
			t.Errorf("wrong VIP: auth %q, want bad", got)
		}
	}
}

func TestInspectKeepalived(t *testing.T) {
	for _, tc := range []struct {
		file, proto string
		pseudo      any // expected pseudo_header field, nil when absent
	}{
		{"keepalived-v2.pcap", "vrrp2", nil},
		{"keepalived-v3.pcap", "vrrp3", true},
		{"keepalived-v3-ipv6.pcap", "vrrp3", nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join(testdata, tc.file)
			recs := records(t, Options{Pass: []byte("s3cretpw"), CheckPass: true}, path)
			if want := count112(t, path); len(recs) != want || want == 0 {
				t.Fatalf("%d records, want %d (> 0)", len(recs), want)
			}
			sawZero := false
			for _, r := range recs {
				if got := testutil.Field[string](t, r, "proto"); got != tc.proto {
					t.Errorf("proto %q, want %q", got, tc.proto)
				}
				if !testutil.Field[bool](t, r, "checksum_ok") {
					t.Errorf("checksum not ok: %v", r)
				}
				if d := cmp.Diff(tc.pseudo, r["pseudo_header"]); d != "" {
					t.Errorf("pseudo_header (-want +got):\n%s", d)
				}
				// keepalived-v2.pcap: PASS auth on one VRID, none on the other.
				auth := testutil.Field[string](t, r, "auth")
				if at, _ := r["auth_type"].(float64); at == 1 && auth != "ok" || at != 1 && auth != "none" {
					t.Errorf("auth_type %v: auth %q", r["auth_type"], auth)
				}
				if testutil.Field[float64](t, r, "priority") == 0 {
					sawZero = true
				}
			}
			if !sawZero {
				t.Error("capture has no priority-0 (shutdown) advertisement")
			}
		})
	}
}

func TestInspectWrongHintIsNotMisparsed(t *testing.T) {
	// CARP decoded as VRRPv2 must be flagged, never shown as a plausible advert.
	for _, r := range records(t, Options{Proto: carp.ProtoVRRP2}, filepath.Join(testdata, "ucarp.pcap")) {
		if r["error"] == nil {
			t.Errorf("CARP read as VRRPv2 without an error: %v", r)
		}
	}
}

// TestInspectV3WithoutPseudoHeader covers the RFC 9568 form, which
// keepalived 2.2.7 cannot send (no v3_checksum_as_v2 yet): a capture is
// written here from the VRRPv3 test vector (VRID 51, priority 100, VIP 192.168.1.100, reproduced with keepalived lib/utils.c in_csum).
func TestInspectV3WithoutPseudoHeader(t *testing.T) {
	payload := []byte{0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0xa8, 0x5a, 0xc0, 0xa8, 0x01, 0x64}
	ip := &layers.IPv4{Version: 4, TTL: 255, Protocol: 112,
		SrcIP: []byte{192, 168, 1, 1}, DstIP: []byte{224, 0, 0, 18}}
	eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{1, 0, 0x5e, 0, 0, 0x12},
		EthernetType: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, eth, ip, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "v3-noph.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	fr := buf.Bytes()
	if err := w.WritePacket(gopacket.CaptureInfo{CaptureLength: len(fr), Length: len(fr)}, fr); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	recs := records(t, Options{}, path)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	r := recs[0]
	if r["proto"] != "vrrp3" || r["checksum_ok"] != true || r["pseudo_header"] != false || r["id"] != float64(51) {
		t.Errorf("record %v: want vrrp3 vrid 51, checksum ok without pseudo-header", r)
	}
}
