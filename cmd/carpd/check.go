package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/carpd/carpd/internal/config"
	"github.com/spf13/cobra"
)

// checkDefaultFile is what `carpd check` alone reads; tests point it
// elsewhere.
var checkDefaultFile = config.DefaultConfigFile

func newCheck(journal bool) *cobra.Command {
	var (
		rf    *runFlags
		quiet bool
	)
	cmd := &cobra.Command{
		Use:   "check [-q] [-c FILE | UCARP-FLAGS] [flags]",
		Short: "Validate a configuration and print it with every default filled in",
		Long: `Check reads a configuration exactly as "carpd run" would, from a YAML file
(-c FILE) or from a ucarp-style command line, and prints it normalized on
standard output: every default filled in, passwords as ***. Without -c or
router flags it reads ` + config.DefaultConfigFile + `. It accepts every flag of
"carpd run", so a unit's ExecStart= line can be checked as it is. Warnings
go to standard error. On errors it lists all of them, one per line as
FILE:LINE: reason, and exits 2. It also warns about what others on the
network could do: routers without authentication (CARP or VRRPv2 without
a password, any VRRPv3) and metrics_listen (or --metrics-listen) beyond
loopback. It changes nothing on the system; a missing interface is only a
warning, so a file can be checked on another machine. -q/--quiet leaves
out the normalized configuration: the check of systemd's ExecReload=
(docs/status.md) then logs only warnings and errors.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCheckCmd(rf, quiet, cmd.OutOrStdout(), errOut{cmd.ErrOrStderr(), journal})
		},
	}
	rf = addRunFlags(cmd)
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only errors and warnings, not the configuration")
	return cmd
}

func runCheckCmd(rf *runFlags, quiet bool, stdout io.Writer, stderr errOut) error {
	if _, err := newLogger(io.Discard, false, rf.log, false); err != nil {
		return usageError(err)
	}
	rf.cfg.DefaultConfig(checkDefaultFile)
	f, err := config.FromFlags(rf.cfg)
	if f != nil {
		for _, w := range f.Warnings {
			stderr.print(prioWarning, "warning: "+w)
		}
	}
	var es config.Errors
	if errors.As(err, &es) {
		for _, e := range es {
			stderr.print(prioErr, e.Error())
		}
		return usageError(fmt.Errorf("check: %d error(s)", len(es)))
	}
	if err != nil {
		return usageError(err)
	}
	if rf.log.metrics != "" {
		f.MetricsListen, f.MetricsLine = rf.log.metrics, 0
	}
	for _, w := range f.Exposure() {
		stderr.print(prioWarning, "warning: "+w)
	}
	for _, p := range f.Plans() {
		stderr.print(prioInfo, "info: "+p)
	}
	if quiet {
		return nil
	}
	return f.WriteNormalized(stdout)
}
