package config

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to Load: it must never panic, must return
// either routers or errors, and whatever loads must normalize and load
// again.
func FuzzLoad(f *testing.F) {
	for _, name := range []string{"minimal.yaml", "full.yaml", "errors.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("routers:\n  - &r {iface: eth0, vhid: 1, vips: [198.18.0.2]}\n  - *r\n"))
	f.Add([]byte("routers: [{iface: eth0, proto: vrrp3, vrid: 9, vips: ['2001:2::9'], srcip: 'fe80::1'}]\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		// Load minus os.ReadFile: the file system adds nothing to find
		// and slows the fuzzer (and its minimizer) ten times.
		path := filepath.Join(dir, "c.yaml")
		file, err := testLoader.load(&parser{file: path}, &File{Path: path, StateDir: DefaultStateDir}, data)
		if err != nil {
			if file == nil {
				t.Fatal("Load returned no File with its error")
			}
			return
		}
		if len(file.Routers) == 0 {
			t.Fatal("Load succeeded without routers")
		}
		var out bytes.Buffer
		if err := file.WriteNormalized(&out); err != nil {
			t.Fatal(err)
		}
	})
}
