// Package testutil holds the test helpers that the tests of several packages
// share and that need neither root nor a network namespace (those are
// internal/lab's). Only tests import it; it must not import carpd's own
// packages, so that any package's internal tests can use it without a cycle.
package testutil

import (
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// FreeAddr returns a loopback address with a port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// CheckGoroutines fails t if, at the end of the test, more goroutines run
// than at its start (after a short settling time for exiting ones).
func CheckGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		n := runtime.NumGoroutine()
		for n > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			n = runtime.NumGoroutine()
		}
		if n > before {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutine leak: %d before, %d after:\n%s", before, n, buf)
		}
	})
}

// Field returns m[k] as a T, failing t if it is missing or of another type;
// m is a record decoded from JSON.
func Field[T any](t testing.TB, m map[string]any, k string) T {
	t.Helper()
	v, ok := m[k].(T)
	if !ok {
		t.Fatalf("record %v: field %q is %T, want %T", m, k, m[k], *new(T))
	}
	return v
}

// Golden compares got with the golden file at path, after rewriting the
// file with got when update is set (each package's -update flag: a flag
// defined here would clash with theirs).
func Golden(t testing.TB, path, got string, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}
