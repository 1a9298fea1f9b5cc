//go:build linux

package broker

import (
	"testing"

	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/supervisor"
	"github.com/google/go-cmp/cmp"
)

// TestSupervisorDefaults keeps carpd's broker defaults equal to the
// supervisor's own: internal/config owns its values so that reading the
// configuration links no process supervision, and a zero field in a
// supervisor.Config must still mean what an absent key means in carpd.yaml.
func TestSupervisorDefaults(t *testing.T) {
	want := []any{supervisor.DefaultReadyTimeout, supervisor.DefaultStopTimeout,
		supervisor.DefaultBackoffBase, supervisor.DefaultBackoffCap}
	got := []any{config.DefaultReadyTimeout, config.DefaultStopTimeout,
		config.DefaultBackoffBase, config.DefaultBackoffCap}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config's broker defaults differ from supervisor's (-want +got):\n%s", diff)
	}
}
