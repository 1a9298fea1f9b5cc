package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestServiceOptions reads NOTIFY_SOCKET and WATCHDOG_USEC as systemd
// sets them.
func TestServiceOptions(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	tests := []struct {
		name     string
		env      map[string]string
		notify   bool
		watchdog time.Duration
		wantErr  bool
	}{
		{"no service manager", nil, false, 0, false},
		{"watchdog without notify socket", map[string]string{"WATCHDOG_USEC": "1000000"}, false, 0, false},
		{"notify", map[string]string{"NOTIFY_SOCKET": sock}, true, 0, false},
		{"notify and watchdog", map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "20000000",
			"WATCHDOG_PID": "7"}, true, 20 * time.Second, false},
		{"watchdog for another pid", map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "20000000",
			"WATCHDOG_PID": "8"}, true, 0, false},
		{"relative socket", map[string]string{"NOTIFY_SOCKET": "notify"}, false, 0, true},
	}
	for _, tt := range tests {
		o, err := serviceOptions(func(k string) string { return tt.env[k] }, 7)
		got := []any{o.Notify != nil, o.Watchdog, err != nil}
		if diff := cmp.Diff([]any{tt.notify, tt.watchdog, tt.wantErr}, got); diff != "" {
			t.Errorf("%s: notify, watchdog, error (-want +got):\n%s", tt.name, diff)
		}
	}
}
