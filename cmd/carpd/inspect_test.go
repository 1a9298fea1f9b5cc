package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

const testdata = "../../carp/testdata"

// runInspect runs the inspect command as the binary would and returns its
// standard output, standard error and error.
func runInspect(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := newRoot()
	var out, errw bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errw)
	root.SetArgs(append([]string{"inspect"}, args...))
	err := root.Execute()
	return out.String(), errw.String(), err
}

// jsonRecords runs inspect --json and decodes every line, failing on
// anything on standard output that is not one JSON object.
func jsonRecords(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	out, _, err := runInspect(t, append([]string{"--json"}, args...)...)
	if err != nil {
		t.Fatalf("inspect %v: %v", args, err)
	}
	var recs []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d is not JSON: %q: %v", i+1, line, err)
		}
		recs = append(recs, m)
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

func field[T any](t *testing.T, m map[string]any, k string) T {
	t.Helper()
	v, ok := m[k].(T)
	if !ok {
		t.Fatalf("record %v: field %q is %T, want %T", m, k, m[k], *new(T))
	}
	return v
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
		recs := jsonRecords(t, "--pass", tc.pass, path)
		if len(recs) != want {
			t.Fatalf("pass %q: %d records, want %d", tc.pass, len(recs), want)
		}
		for _, r := range recs {
			if got := field[string](t, r, "proto"); got != "carp" {
				t.Errorf("proto %q, want carp", got)
			}
			if !field[bool](t, r, "checksum_ok") {
				t.Errorf("checksum not ok: %v", r)
			}
			if got := field[string](t, r, "auth"); got != tc.auth {
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
		}
	}
	// An explicit --vip that is wrong must fail even with the right password.
	for _, r := range jsonRecords(t, "--pass", "s3cretpw", "--vip", "198.18.0.11", path) {
		if got := field[string](t, r, "auth"); got != "bad" {
			t.Errorf("wrong --vip: auth %q, want bad", got)
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
			recs := jsonRecords(t, "--pass", "s3cretpw", path)
			if want := count112(t, path); len(recs) != want || want == 0 {
				t.Fatalf("%d records, want %d (> 0)", len(recs), want)
			}
			sawZero := false
			for _, r := range recs {
				if got := field[string](t, r, "proto"); got != tc.proto {
					t.Errorf("proto %q, want %q", got, tc.proto)
				}
				if !field[bool](t, r, "checksum_ok") {
					t.Errorf("checksum not ok: %v", r)
				}
				if d := cmp.Diff(tc.pseudo, r["pseudo_header"]); d != "" {
					t.Errorf("pseudo_header (-want +got):\n%s", d)
				}
				// keepalived-v2.pcap: PASS auth on one VRID, none on the other.
				auth := field[string](t, r, "auth")
				if at, _ := r["auth_type"].(float64); at == 1 && auth != "ok" || at != 1 && auth != "none" {
					t.Errorf("auth_type %v: auth %q", r["auth_type"], auth)
				}
				if field[float64](t, r, "priority") == 0 {
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
	for _, r := range jsonRecords(t, "--proto", "vrrp2", filepath.Join(testdata, "ucarp.pcap")) {
		if r["error"] == nil {
			t.Errorf("CARP read as VRRPv2 without an error: %v", r)
		}
	}
}

func TestInspectText(t *testing.T) {
	out, _, err := runInspect(t, "--pass", "s3cretpw", filepath.Join(testdata, "ucarp.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	first := strings.SplitN(out, "\n", 2)[0]
	for _, want := range []string{"198.18.0.", "carp vhid 10", "advbase 1", "cksum ok", "hmac ok (vip 198.18.0.10)"} {
		if !strings.Contains(first, want) {
			t.Errorf("line %q lacks %q", first, want)
		}
	}
}

// TestInspectPassfile: --passfile checks with the first line of the file,
// its line ending stripped, as --pass does with its value.
func TestInspectPassfile(t *testing.T) {
	path := filepath.Join(testdata, "ucarp.pcap")
	dir := t.TempDir()
	for _, tc := range []struct {
		content, auth string
	}{
		{"s3cretpw\n", "ok"},
		{"s3cretpw\r\nsecond line\n", "ok"},
		{"s3cretpw", "ok"},
		{"wrongpw\n", "bad"},
	} {
		pf := filepath.Join(dir, "pass")
		if err := os.WriteFile(pf, []byte(tc.content), 0o600); err != nil {
			t.Fatal(err)
		}
		recs := jsonRecords(t, "--passfile", pf, path)
		if len(recs) == 0 {
			t.Fatalf("passfile %q: no records", tc.content)
		}
		for _, r := range recs {
			if got := field[string](t, r, "auth"); got != tc.auth {
				t.Errorf("passfile %q: auth %q, want %q", tc.content, got, tc.auth)
			}
		}
	}
	if _, _, err := runInspect(t, "--passfile", filepath.Join(dir, "missing"), path); err == nil ||
		!strings.Contains(err.Error(), "--passfile: reading the password: open ") {
		t.Errorf("missing passfile: error %v", err)
	}
	if _, _, err := runInspect(t, "--pass", "x", "--passfile", filepath.Join(dir, "pass"), path); err == nil {
		t.Errorf("--pass with --passfile accepted")
	}
}

func TestInspectBadInput(t *testing.T) {
	dir := t.TempDir()
	notCap := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notCap, []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{notCap}, "not a pcap or pcapng capture"},
		{[]string{filepath.Join(dir, "missing.pcap")}, "no such file"},
		{[]string{"--proto", "ospf", notCap}, "unknown --proto"},
		{[]string{}, "exactly one of FILE or --iface"},
	} {
		out, _, err := runInspect(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("inspect %v: err %v, want it to mention %q", tc.args, err, tc.want)
		}
		if out != "" {
			t.Errorf("inspect %v wrote to stdout: %q", tc.args, out)
		}
	}
}

// TestInspectV3WithoutPseudoHeader covers the RFC 9568 form, which
// keepalived 2.2.7 cannot send (no v3_checksum_as_v2 yet): a capture is
// written here from the PROTOCOL.md §4.2 vector.
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
	recs := jsonRecords(t, path)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1", len(recs))
	}
	r := recs[0]
	if r["proto"] != "vrrp3" || r["checksum_ok"] != true || r["pseudo_header"] != false || r["id"] != float64(51) {
		t.Errorf("record %v: want vrrp3 vrid 51, checksum ok without pseudo-header", r)
	}
}
