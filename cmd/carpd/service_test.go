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

// TestSplitRunFlags takes run's own flags out of a ucarp command line.
func TestSplitRunFlags(t *testing.T) {
	lf, rest, err := splitLogFlags([]string{"-i", "eth0", "--metrics-listen", ":9112", "--log-format=json", "-v", "7"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(logFlags{format: "json", metrics: ":9112"}, lf, cmp.AllowUnexported(logFlags{})); diff != "" {
		t.Errorf("flags (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"-i", "eth0", "-v", "7"}, rest); diff != "" {
		t.Errorf("rest (-want +got):\n%s", diff)
	}
	if _, _, err := splitLogFlags([]string{"--metrics-listen"}); err == nil {
		t.Errorf("--metrics-listen without a value accepted")
	}
}
