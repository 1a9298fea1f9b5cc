package pcapfile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzReader: no input makes the reader panic, loop, or return data larger
// than the bounds it promises. Seeds: the golden captures and the
// hand-built files of TestFormats.
func FuzzReader(f *testing.F) {
	files, _ := filepath.Glob(golden)
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	frame := []byte{1, 2, 3, 4, 5, 6, 7}
	f.Add(pcapRecord(pcapFile(be, true, 65535, 276), be, 1, 2, frame, 7))
	f.Add(mixed(le))
	f.Add(mixed(be))
	f.Add(twoSections())
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := NewReader(bytes.NewReader(raw))
		if err != nil {
			return
		}
		// Every packet consumes at least 12 bytes of input, so this bound is
		// never reached unless Next stops consuming.
		for i := 0; i <= len(raw)/12+1; i++ {
			p, err := r.Next()
			if err != nil { // io.EOF or a reported defect
				return
			}
			if len(p.Data) > MaxRecord || len(p.Data) > len(raw) {
				t.Fatalf("packet %d: %d bytes from a %d-byte file", i+1, len(p.Data), len(raw))
			}
			if p.Time.Location() != time.UTC {
				t.Fatalf("packet %d: time %v not in UTC", i+1, p.Time)
			}
		}
		t.Fatalf("%d packets from %d bytes", len(raw)/12+2, len(raw))
	})
}
