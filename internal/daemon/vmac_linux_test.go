//go:build linux

package daemon

import (
	"testing"

	"github.com/carpd/carpd/internal/link"
)

// The daemon names the devconf ids itself (it builds on every OS); they
// must be link's.
func TestConfIDs(t *testing.T) {
	for _, c := range [][2]int{{confRPFilter, link.ConfRPFilter}, {confARPFilter, link.ConfARPFilter}, {confARPAnnounce, link.ConfARPAnnounce},
		{confARPIgnore, link.ConfARPIgnore}, {confPromoteSecondaries, link.ConfPromoteSecondaries}} {
		if c[0] != c[1] {
			t.Errorf("daemon devconf id %d, link %d", c[0], c[1])
		}
	}
}
