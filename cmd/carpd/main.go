// Command carpd keeps an MQTT broker highly available behind a floating IP,
// speaking CARP (ucarp, OpenBSD, FreeBSD) or VRRP v2/v3 (keepalived) on the
// wire. `carpd run` floats the VIPs; check, status, demote and inspect are the
// tools around it.
package main

import (
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func main() {
	journal := onJournal(os.Getenv, int(os.Stderr.Fd()), syscall.Fstat)
	code, err := execute(newRootFor(journal))
	if err != nil {
		errOut{os.Stderr, journal}.print(prioErr, "carpd: "+err.Error())
	}
	os.Exit(code)
}

// extraCommands are commands only some builds have (genman.go).
var extraCommands []func() *cobra.Command

// newRoot is the command tree for standard error outside the journal.
func newRoot() *cobra.Command { return newRootFor(false) }

// newRootFor is the command tree; journal says standard error is
// journald's stream (onJournal).
func newRootFor(journal bool) *cobra.Command {
	root := &cobra.Command{
		Use:           "carpd",
		Short:         "CARP/VRRP speaker that keeps an MQTT broker available behind a floating IP",
		SilenceUsage:  true,
		SilenceErrors: true,
		// --version: cobra's own flag and line. Not SetVersionTemplate:
		// any cobra template links text/template's reflection, which
		// stops the linker from dropping unused methods (+4.5 MB binary).
		Version: strings.TrimPrefix(versionString(), "carpd "),
	}
	withExitCodes(root)
	root.AddCommand(newRun(journal), newCheck(journal), newDemote(), newStatus(time.Now), newInspect(), newVersion())
	for c := range extraCommands {
		root.AddCommand(extraCommands[c]())
	}
	return root
}
