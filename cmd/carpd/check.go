package main

import (
	"errors"
	"fmt"
	"slices"

	"github.com/carpd/carpd/internal/config"
	"github.com/spf13/cobra"
)

func newCheck(journal bool) *cobra.Command {
	return &cobra.Command{
		Use:   "check [--quiet] -c FILE | check [--quiet] [ucarp-style flags]",
		Short: "Validate a configuration and print it with every default filled in",
		Long: `Check reads a configuration exactly as "carpd run" would, from a YAML file
(-c FILE) or from a ucarp-style command line, and prints it normalized on
standard output: every default filled in, passwords as ***. Warnings go to
standard error. On errors it lists all of them, one per line as
FILE:LINE: reason, and exits 1. It also warns about what others on the
network could do: routers without authentication (CARP or VRRPv2 without
a password, any VRRPv3) and metrics_listen beyond loopback. It changes nothing on the system; a missing
interface is only a warning, so a file can be checked on another machine.
--quiet leaves out the normalized configuration: the check of systemd's
ExecReload= (docs/status.md) then logs only warnings and errors.

Flags:
` + config.ArgsUsage(),
		// The flags are config.FromArgs's, shared with "carpd run".
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("check needs -c FILE or a ucarp-style command line (see carpd check --help)")
			}
			stderr := errOut{cmd.ErrOrStderr(), journal}
			quiet := slices.Contains(args, "--quiet")
			args = slices.DeleteFunc(args, func(a string) bool { return a == "--quiet" })
			f, err := config.FromArgs(args)
			if errors.Is(err, config.ErrHelp) {
				return cmd.Help()
			}
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
				return fmt.Errorf("check: %d error(s)", len(es))
			}
			if err != nil {
				return err
			}
			for _, w := range f.Exposure() {
				stderr.print(prioWarning, "warning: "+w)
			}
			if quiet {
				return nil
			}
			return f.WriteNormalized(cmd.OutOrStdout())
		},
	}
}
