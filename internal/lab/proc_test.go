//go:build linux

package lab

import "testing"

func TestCountLines(t *testing.T) {
	log := `{"msg":"transition","to":"BACKUP"}
{"msg":"transition","to":"MASTER"}
{"msg":"transition step","to":"MASTER"}
{"msg":"transition","to":"MASTER"}`
	for _, tt := range []struct {
		subs []string
		want int
	}{
		{[]string{`"msg":"transition"`, `"to":"MASTER"`}, 2},
		{[]string{`"to":"MASTER"`}, 3},
		{[]string{`"msg":"transition"`, `"to":"INIT"`}, 0},
		{nil, 4},
	} {
		if got := CountLines(log, tt.subs...); got != tt.want {
			t.Errorf("CountLines(%q) = %d, want %d", tt.subs, got, tt.want)
		}
	}
}
