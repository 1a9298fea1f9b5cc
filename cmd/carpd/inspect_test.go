package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carpd/carpd/internal/testutil"
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

func TestInspectWrongHintIsNotMisparsed(t *testing.T) {
	// CARP decoded as VRRPv2 must be flagged, never shown as a plausible advert.
	for _, r := range jsonRecords(t, "--proto", "vrrp2", filepath.Join(testdata, "ucarp.pcap")) {
		if r["error"] == nil {
			t.Errorf("CARP read as VRRPv2 without an error: %v", r)
		}
	}
}

// TestInspectVIP: --vip reaches the HMAC check: with the right password
// but the wrong address it fails, with the right one it names it.
func TestInspectVIP(t *testing.T) {
	path := filepath.Join(testdata, "ucarp.pcap")
	for vip, want := range map[string]string{"198.18.0.11": "bad", "198.18.0.10": "ok"} {
		recs := jsonRecords(t, "--pass", "s3cretpw", "--vip", vip, path)
		if len(recs) == 0 {
			t.Fatalf("--vip %s: no records", vip)
		}
		for _, r := range recs {
			if got := testutil.Field[string](t, r, "auth"); got != want {
				t.Errorf("--vip %s: auth %q, want %q", vip, got, want)
			}
		}
	}
	if _, _, err := runInspect(t, "--vip", "198.18.0", path); err == nil || !strings.Contains(err.Error(), "parsing --vip") {
		t.Errorf("--vip 198.18.0: error %v, want a parse error", err)
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
			if got := testutil.Field[string](t, r, "auth"); got != tc.auth {
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

// TestInspectTruncated: a capture cut in its last record prints every
// packet before the cut, then fails.
func TestInspectTruncated(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testdata, "ucarp.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cut.pcap")
	if err := os.WriteFile(path, data[:len(data)-10], 0o600); err != nil {
		t.Fatal(err)
	}
	whole, _, err := runInspect(t, filepath.Join(testdata, "ucarp.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := runInspect(t, path)
	if err == nil || !strings.Contains(err.Error(), "damaged capture") {
		t.Errorf("truncated capture: err %v, want damaged capture", err)
	}
	if out == "" || !strings.HasPrefix(whole, out) || len(out) >= len(whole) {
		t.Errorf("truncated capture printed %d bytes, want a non-empty proper prefix of the whole capture's %d", len(out), len(whole))
	}
}
