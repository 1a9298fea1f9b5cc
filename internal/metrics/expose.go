package metrics

import (
	"bufio"
	"cmp"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// ContentType is the media type of the Prometheus text exposition format
// 0.0.4, which Write produces.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// kind is a family's TYPE.
type kind string

const (
	gauge   kind = "gauge"
	counter kind = "counter"
)

// label is one label pair of a sample.
type label struct{ name, value string }

// sample is one line of a family.
type sample struct {
	labels []label
	value  float64
}

// family is a metric family: samples sharing a name, help and type.
type family struct {
	name, help string
	kind       kind
	samples    []sample
}

// single is a family of one sample without labels.
func single(name, help string, k kind, v float64) family {
	return family{name: name, help: help, kind: k, samples: []sample{{value: v}}}
}

// write writes fams in the text exposition format 0.0.4, ordered as
// client_golang's registry orders them (families by name; within one,
// labels by name and samples by label values) so scrapes diff cleanly.
// Families without samples are left out, as the registry leaves them.
func write(w io.Writer, fams []family) error {
	fams = slices.Clone(fams)
	slices.SortStableFunc(fams, func(a, b family) int { return strings.Compare(a.name, b.name) })
	bw := bufio.NewWriter(w)
	for _, f := range fams {
		if len(f.samples) == 0 {
			continue
		}
		samples := make([]sample, len(f.samples))
		for i, s := range f.samples {
			samples[i] = sample{labels: slices.Clone(s.labels), value: s.value}
			slices.SortFunc(samples[i].labels, func(a, b label) int { return strings.Compare(a.name, b.name) })
		}
		slices.SortStableFunc(samples, compareLabels)
		bw.WriteString("# HELP " + f.name + " " + escapeHelp(f.help) + "\n")
		bw.WriteString("# TYPE " + f.name + " " + string(f.kind) + "\n")
		for _, s := range samples {
			writeSample(bw, f.name, s)
		}
	}
	return bw.Flush()
}

// compareLabels orders samples of one family by their (sorted) label
// values, as client_golang does.
func compareLabels(a, b sample) int {
	for i := range min(len(a.labels), len(b.labels)) {
		if c := strings.Compare(a.labels[i].value, b.labels[i].value); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(a.labels), len(b.labels))
}

func writeSample(bw *bufio.Writer, name string, s sample) {
	bw.WriteString(name)
	if len(s.labels) > 0 {
		bw.WriteByte('{')
		for i, l := range s.labels {
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString(l.name + `="` + escapeLabel(l.value) + `"`)
		}
		bw.WriteByte('}')
	}
	bw.WriteByte(' ')
	bw.WriteString(formatFloat(s.value))
	bw.WriteByte('\n')
}

// Exposition format 0.0.4: HELP escapes backslash and newline; label
// values escape those and the double quote.
var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

// formatFloat spells v as Prometheus's expfmt does: the shortest 'g'
// form, and +Inf, -Inf and NaN for the special values.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
