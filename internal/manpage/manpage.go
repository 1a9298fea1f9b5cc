// Package manpage renders carpd's manual pages at packaging time
// (scripts/package.sh, through the genman build of cmd/carpd). The daemon
// never links it (cmd/carpd's TestNoManGenerator): with go-md2man,
// blackfriday and cobra/doc, carpd was 0.45 MB larger and `carpd check`
// peaked 0.3 MiB higher in RSS (9.2 against 8.9 MiB).
package manpage

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cpuguy83/go-md2man/v2/md2man"
)

// DateLayout is the date on the .TH line, the one cobra/doc uses for the
// command pages, so every page of the package shows the same date.
const DateLayout = "Jan 2006"

// SourceDate is the pages' date: SOURCE_DATE_EPOCH when set, so two
// builds of one commit give the same bytes
// (https://reproducible-builds.org/specs/source-date-epoch/), in UTC so
// the month does not depend on the build machine's time zone.
func SourceDate(epoch string, now func() time.Time) (time.Time, error) {
	if epoch == "" {
		return now().UTC(), nil
	}
	s, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil || s < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want seconds since 1970", epoch)
	}
	return time.Unix(s, 0).UTC(), nil
}

// ConfigPage renders docs/config.md as carpd.yaml(5). The document's own
// "# title" line gives way to what a manual page needs: go-md2man turns
// the first level-1 heading into the .TH line (title, section, date,
// source, manual: man-pages(7)), and whatis and apropos read the NAME
// section (lexgrog(1)). The document's "##" headings already become .SH
// sections and its "###" .SS subsections.
func ConfigPage(md []byte, date time.Time, source string) ([]byte, error) {
	first, rest, _ := bytes.Cut(md, []byte("\n"))
	if !bytes.HasPrefix(first, []byte("# ")) {
		return nil, errors.New("first line is not a level-1 heading")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# carpd.yaml 5 %q %q \"File Formats Manual\"\n\n", date.Format(DateLayout), source)
	b.WriteString("## NAME\n\ncarpd.yaml - carpd configuration file\n\n")
	b.WriteString("## SYNOPSIS\n\n**/etc/carpd/carpd.yaml**\n\n## DESCRIPTION\n")
	b.Write(forMan(rest))
	b.WriteString("\n## SEE ALSO\n\n**carpd**(8), **carpd-run**(8), **carpd-check**(8), **mosquitto.conf**(5)\n")
	return md2man.Render(b.Bytes()), nil
}

// forMan rewrites what a page renders badly, outside code blocks.
//
// A table becomes a definition list, .TP paragraphs in the page: go-md2man
// makes a table tbl(1) input whose short cells cannot wrap, and the key
// tables of docs/config.md came out wider than 80 columns (groff's "table
// wider than line width"). A row becomes its first cell as the term and
// the others as "header: value", empty ones left out.
//
// A link into the repository (docs/*.md, #anchors) keeps only its text:
// the target means nothing to man, and go-md2man dropped a code span in
// a link's text.
func forMan(md []byte) []byte {
	lines := strings.Split(string(md), "\n")
	var out []string
	fenced := false
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if fenced {
			out = append(out, line)
			continue
		}
		line = unlinkLocal(line)
		if !isTableRow(line) || i+1 >= len(lines) || !isTableRule(lines[i+1]) {
			out = append(out, line)
			continue
		}
		header := tableCells(line)
		i += 2
		for ; i < len(lines) && isTableRow(lines[i]); i++ {
			cells := tableCells(unlinkLocal(lines[i]))
			var def []string
			for j := 1; j < len(cells) && j < len(header); j++ {
				if cells[j] != "" {
					def = append(def, header[j]+": "+cells[j])
				}
			}
			out = append(out, cells[0], ": "+strings.Join(def, "; "), "")
		}
		i--
	}
	return []byte(strings.Join(out, "\n"))
}

var mdLink = regexp.MustCompile(`\[([^\]]*)\]\(([^)\s]*)\)`)

// unlinkLocal replaces [text](target) by text unless target is a URL.
func unlinkLocal(line string) string {
	return mdLink.ReplaceAllStringFunc(line, func(l string) string {
		m := mdLink.FindStringSubmatch(l)
		if strings.Contains(m[2], "://") {
			return l
		}
		return m[1]
	})
}

func isTableRow(line string) bool { return strings.HasPrefix(line, "|") }

func isTableRule(line string) bool {
	return isTableRow(line) && strings.Trim(line, "|-: ") == ""
}

// tableCells splits a row on the pipes that are not escaped as \|; an
// escaped one becomes a plain | again, which outside a table needs no
// escape (and inside a code span would show the backslash).
func tableCells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	var cells []string
	var cell strings.Builder
	for i := 0; i < len(line); i++ {
		switch {
		case line[i] == '\\' && i+1 < len(line) && line[i+1] == '|':
			cell.WriteByte('|')
			i++
		case line[i] == '|':
			cells = append(cells, strings.TrimSpace(cell.String()))
			cell.Reset()
		default:
			cell.WriteByte(line[i])
		}
	}
	return append(cells, strings.TrimSpace(cell.String()))
}
