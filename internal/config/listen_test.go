package config

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMetricsListen reads metrics_listen and writes it back normalized;
// a file without it leaves metrics off and writes no key.
func TestMetricsListen(t *testing.T) {
	for _, tt := range []struct{ text, want string }{
		{"metrics_listen: \"[2001:2::1]:9112\"\n", "[2001:2::1]:9112"},
		{"metrics_listen: \":9112\"\n", ":9112"},
		{"", ""},
	} {
		f, errs := loadText(t, tt.text+router("    vhid: 1\n    vips: [198.18.0.2]\n"))
		if len(errs) > 0 {
			t.Fatalf("%q: %v", tt.text, errs)
		}
		if f.MetricsListen != tt.want {
			t.Errorf("%q: MetricsListen %q, want %q", tt.text, f.MetricsListen, tt.want)
		}
		var out bytes.Buffer
		if err := f.WriteNormalized(&out); err != nil {
			t.Fatal(err)
		}
		var got string
		for _, line := range strings.Split(out.String(), "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok && k == "metrics_listen" {
				got = strings.Trim(v, `"'`)
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%q normalized (-want +got):\n%s", tt.text, diff)
		}
	}
}
