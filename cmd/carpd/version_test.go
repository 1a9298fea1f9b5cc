package main

import (
	"bytes"
	"runtime/debug"
	"testing"
)

func TestVersionOf(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "f65feb9"}, {Key: "vcs.modified", Value: "true"}}}
	read := func() (*debug.BuildInfo, bool) { return bi, true }
	for _, c := range []struct {
		stamped string
		read    func() (*debug.BuildInfo, bool)
		want    string
	}{
		{"0.0.0+git20261204.f65feb9", read, "carpd 0.0.0+git20261204.f65feb9"},
		{"1.2.3", read, "carpd 1.2.3"},
		{"", read, "carpd (devel) commit f65feb9+dirty go1.26.8"},
		{"", func() (*debug.BuildInfo, bool) { return nil, false }, "carpd (unknown version)"},
	} {
		if got := versionOf(c.stamped, c.read); got != c.want {
			t.Errorf("versionOf(%q) = %q, want %q", c.stamped, got, c.want)
		}
	}
}

// TestVersionFlag: `carpd --version` and `carpd version` print one line,
// with the stamped version when there is one.
func TestVersionFlag(t *testing.T) {
	defer func(v string) { version = v }(version)
	version = "1.2.3~rc1"
	var lines []string
	for _, args := range [][]string{{"--version"}, {"version"}} {
		root := newRoot()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("carpd %s: %v", args[0], err)
		}
		lines = append(lines, out.String())
	}
	want := "carpd version 1.2.3~rc1\n"
	if lines[0] != want || lines[1] != want {
		t.Errorf("--version %q, version %q; want both %q", lines[0], lines[1], want)
	}
}
