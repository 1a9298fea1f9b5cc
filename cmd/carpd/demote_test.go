package main

import (
	"bytes"
	"testing"

	"github.com/carpd/carpd/internal/control"
	"github.com/google/go-cmp/cmp"
)

// TestDemoteRequests checks what `carpd demote` asks the daemon, against a
// control socket that records the request and answers with a counter.
func TestDemoteRequests(t *testing.T) {
	tests := []struct {
		args []string
		want control.Request
	}{
		{[]string{"r1"}, control.Request{Op: "demote", Router: "r1", N: 1}},
		{[]string{"-n", "5", "r1"}, control.Request{Op: "demote", Router: "r1", N: 5}},
		{[]string{"-n", "-1", "r1"}, control.Request{Op: "demote", Router: "r1", N: -1}},
		{[]string{"-n", "0", "r1"}, control.Request{Op: "demote", Router: "r1"}},
		{[]string{"--reset", "r1"}, control.Request{Op: "demote", Router: "r1", Reset: true}},
		{[]string{"--reset", "-n", "3", "r1"}, control.Request{Op: "demote", Router: "r1", N: 3, Reset: true}},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		n := 7
		got := fakeControl(t, dir, control.Response{Demote: &n})
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(append([]string{"demote", "--state-dir", dir}, tt.args...))
		if err := root.Execute(); err != nil {
			t.Errorf("demote %v: %v", tt.args, err)
		}
		if diff := cmp.Diff(tt.want, <-got); diff != "" {
			t.Errorf("demote %v request (-want +got):\n%s", tt.args, diff)
		}
		if out.String() != "r1: demotion 7\n" {
			t.Errorf("demote %v printed %q", tt.args, out.String())
		}
	}
}
