package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is the Debian package's version when scripts/package.sh built
// this binary (-ldflags "-X main.version=..."): a release tag without its
// "v", or 0.0.0+gitYYYYMMDD.COMMIT. Empty in any other build.
var version string

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version (the package's, or the module version and commit)",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			// The line cobra prints for the root's --version flag.
			fmt.Fprintf(cmd.OutOrStdout(), "%s version %s\n", cmd.Root().DisplayName(), cmd.Root().Version)
		},
	}
}

// versionString is "carpd VERSION", the root's Version after "carpd ".
func versionString() string { return versionOf(version, debug.ReadBuildInfo) }

// versionOf prefers the stamped package version, so the binary says what
// dpkg says; other builds report what the Go toolchain stamped into the
// binary, so a plain go build needs no ldflags to say where it came from.
func versionOf(stamped string, buildInfo func() (*debug.BuildInfo, bool)) string {
	if stamped != "" {
		return "carpd " + stamped
	}
	bi, ok := buildInfo()
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
