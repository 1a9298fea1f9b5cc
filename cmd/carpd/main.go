// Command carpd keeps an MQTT broker highly available behind a floating IP,
// speaking CARP (ucarp, OpenBSD, FreeBSD) or VRRP v2/v3 (keepalived) on the
// wire. `carpd run` floats the VIPs; check, status, demote and inspect are the
// tools around it.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "carpd:", err)
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "carpd",
		Short:         "CARP/VRRP speaker that keeps an MQTT broker available behind a floating IP",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRun(), newCheck(), newDemote(), newStatus(time.Now), newInspect(), newVersion())
	return root
}
