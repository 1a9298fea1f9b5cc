package main

import (
	"net"
	"strings"

	"github.com/carpd/carpd/internal/config"
	"github.com/spf13/cobra"
)

// runFlags are the flags of `carpd run`, which `carpd check` accepts too
// so that a unit's ExecStart= line can be checked as it is.
type runFlags struct {
	cfg *config.Flags
	log logFlags
}

// logFlags are run's own flags, next to the configuration's.
type logFlags struct {
	format, level string
	metrics       string // --metrics-listen
}

// addRunFlags registers run's flags on cmd with their completions.
func addRunFlags(cmd *cobra.Command) *runFlags {
	fs := cmd.Flags()
	// Keep ucarp's order in --help: the flags a ucarp user knows come first.
	fs.SortFlags = false
	rf := &runFlags{cfg: config.AddFlags(fs)}
	fs.StringVar(&rf.log.format, "log-format", "text", "log `FORMAT`: text or json")
	fs.StringVar(&rf.log.level, "log-level", "", "log `LEVEL`: debug, info, warn or error (default info; -D means debug)")
	fs.StringVar(&rf.log.metrics, "metrics-listen", "",
		"serve Prometheus metrics on http://`ADDR`/metrics (host:port; overrides metrics_listen; default off)")

	fixed := func(flag string, values ...string) {
		_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
	}
	fixed("proto", "carp", "vrrp2", "vrrp3")
	fixed("log-format", "text", "json")
	fixed("log-level", "debug", "info", "warn", "error")
	_ = cmd.RegisterFlagCompletionFunc("interface", completeInterfaces(net.Interfaces))
	_ = cmd.RegisterFlagCompletionFunc("config", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
	})
	_ = cmd.MarkFlagDirname("state-dir")
	return rf
}

// completeInterfaces offers the names of this machine's interfaces.
func completeInterfaces(list func() ([]net.Interface, error)) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
		ifs, err := list()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var names []string
		for _, ifc := range ifs {
			if strings.HasPrefix(ifc.Name, prefix) {
				names = append(names, ifc.Name)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
