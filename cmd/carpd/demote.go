package main

import (
	"fmt"

	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/control"
	"github.com/spf13/cobra"
)

func newDemote() *cobra.Command {
	var (
		n        int
		reset    bool
		stateDir string
	)
	cmd := &cobra.Command{
		Use:   "demote [-n N] [--reset] ROUTER",
		Short: "Adjust the manual demotion of a running virtual router (like OpenBSD carpdemote)",
		Long: `Demote adds N (default 1) to the manual demotion counter of ROUTER in the
carpd serving --state-dir, like OpenBSD's "ifconfig -g carp carpdemote N".
A negative N undoes it ("carpd demote -n -1 R"); --reset sets the counter
to 0 before adding N (so "--reset -n 0" clears it); "-n 0" only shows it.
The counter stays within 0..255 and prints after the change.

The counter adds to the tracking demotion. For CARP it raises the
advertised advskew (at most to 240) or, with demote mode "byte", the
demote byte; for VRRP it lowers the priority (at least to 1; an address
owner with priority 255 is never demoted). A MASTER re-advertises at once,
so a less demoted peer with preemption takes over.`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("n") && reset {
				n = 0
			}
			resp, err := call(cmd.Context(), stateDir, control.Request{Op: "demote", Router: args[0],
				N: n, Reset: reset})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: demotion %d\n", args[0], *resp.Demote)
			return nil
		},
	}
	cmd.Flags().IntVarP(&n, "n", "n", 1, "add N to the demotion counter (negative to undo)")
	cmd.Flags().BoolVar(&reset, "reset", false, "set the counter to 0 first")
	cmd.Flags().StringVar(&stateDir, "state-dir", config.DefaultStateDir, "state directory of the carpd to talk to")
	return cmd
}
