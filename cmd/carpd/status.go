package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"time"

	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/control"
	"github.com/carpd/carpd/internal/status"
	"github.com/spf13/cobra"
)

// newStatus is `carpd status`; now is the clock the table's relative
// times are taken from.
func newStatus(now func() time.Time) *cobra.Command {
	var (
		stateDir string
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "status [--state-dir DIR] [--json]",
		Short: "Show the state of a running carpd",
		Long: `Status asks the carpd serving --state-dir, over its root-only control
socket, for the state of every virtual router: state and since when, the
reason of the last transition, the master, what it advertises and last
heard, packet counters with drops by reason, and the recent transitions
with their step timings; plus the broker, NAT and bridge probe when
configured. --json prints the same as JSON (the shape of status.json,
documented in docs/status.md).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := call(cmd.Context(), stateDir, control.Request{Op: "status"})
			if err != nil {
				return err
			}
			if resp.Status == nil {
				return errors.New("carpd answered without a status")
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(resp.Status)
			}
			return status.Render(out, *resp.Status, now())
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", config.DefaultStateDir, "state directory of the carpd to ask")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of the table")
	return cmd
}

// call sends req to the carpd serving stateDir and turns the usual
// failures into advice.
func call(ctx context.Context, stateDir string, req control.Request) (control.Response, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	resp, err := control.Call(ctx, stateDir, req)
	return resp, explain(err, control.SocketPath(stateDir))
}

// explain rewrites a control socket error a user can act on.
func explain(err error, path string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return &exitError{exitNotRunning, fmt.Errorf(
			"carpd is not running with this state directory (no one answers on %s; see --state-dir): %w", path, err)}
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("permission denied on %s: the control socket is root-only, run this as root: %w", path, err)
	}
	return err
}
