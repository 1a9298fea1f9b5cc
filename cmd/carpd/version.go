package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the module version and commit",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), versionString())
		},
	}
}

// versionString reads what the Go toolchain stamped into the binary, so a
// release needs no ldflags to report where it came from.
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "carpd (unknown version)"
	}
	s := "carpd " + bi.Main.Version
	var rev, modified string
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.modified":
			if kv.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if rev != "" {
		s += " commit " + rev + modified
	}
	return s + " " + bi.GoVersion
}
