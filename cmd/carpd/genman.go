//go:build genman

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/carpd/carpd/internal/manpage"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// Only in `go build -tags genman`: scripts/package.sh builds this variant
// to write the pages, and ships the plain build, which links neither
// cobra/doc nor go-md2man (TestNoManGenerator).
func init() { extraCommands = append(extraCommands, newGenMan) }

// newGenMan writes carpd(8) and one page per subcommand from the command
// tree itself, so a flag added to a command is documented without editing
// a page, and with --config-doc carpd.yaml(5) from docs/config.md.
func newGenMan() *cobra.Command {
	var configDoc string
	cmd := &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "Write carpd's manual pages into DIR (packaging)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			date, err := manpage.SourceDate(os.Getenv("SOURCE_DATE_EPOCH"), time.Now)
			if err != nil {
				return err
			}
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			source := versionString()
			// "-" makes carpd-run.8, the name cobra's SEE ALSO sections
			// already use.
			err = doc.GenManTreeFromOpts(cmd.Root(), doc.GenManTreeOptions{
				Header:           &doc.GenManHeader{Section: "8", Date: &date, Source: source, Manual: "System Manager's Manual"},
				Path:             dir,
				CommandSeparator: "-",
			})
			if err != nil || configDoc == "" {
				return err
			}
			md, err := os.ReadFile(configDoc)
			if err != nil {
				return err
			}
			page, err := manpage.ConfigPage(md, date, source)
			if err != nil {
				return fmt.Errorf("%s: %w", configDoc, err)
			}
			return os.WriteFile(filepath.Join(dir, "carpd.yaml.5"), page, 0o644)
		},
	}
	cmd.Flags().StringVar(&configDoc, "config-doc", "", "also render this Markdown file (docs/config.md) as carpd.yaml(5)")
	return cmd
}
