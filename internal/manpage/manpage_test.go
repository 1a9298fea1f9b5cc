package manpage

import (
	"strings"
	"testing"
	"time"
)

func TestSourceDate(t *testing.T) {
	now := func() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600)) }
	// 1700000000 is 2023-11-14T22:13:20Z: the month must not follow the
	// local zone, so check a value near a month's end as well.
	for epoch, want := range map[string]time.Time{
		"":           now().UTC(),
		"1700000000": time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC),
		"1701388799": time.Date(2023, 11, 30, 23, 59, 59, 0, time.UTC),
	} {
		got, err := SourceDate(epoch, now)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("SourceDate(%q) = %v, %v; want %v in UTC", epoch, got, err, want)
		}
	}
	for _, bad := range []string{"x", "-1", "1.5"} {
		if _, err := SourceDate(bad, now); err == nil {
			t.Errorf("SourceDate(%q) accepted", bad)
		}
	}
}

func TestConfigPage(t *testing.T) {
	md := "# carpd configuration\n\nSee [the design](design.md) and [RFC 5798](https://www.rfc-editor.org/rfc/rfc5798).\n\n" +
		"## Top level\n\n| key | type | default | notes |\n|---|---|---|---|\n" +
		"| `proto` | `carp` \\| `vrrp3` | `carp` | |\n| `debug` | bool | `false` | debug logging |\n\n" +
		"```yaml\n| not | a table |\n|---|---|\n```\n"
	page, err := ConfigPage([]byte(md), time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), "carpd 1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	s := string(page)
	t.Logf("page:\n%s", s)
	for _, want := range []string{
		".TH carpd.yaml 5 \"Dec 2026\" \"carpd 1.2.3\" \"File Formats Manual\"\n",
		".SH NAME\ncarpd.yaml \\- carpd configuration file\n",
		".SH Top level",
		"See the design and RFC 5798",
		"\\[la]https://www.rfc\\-editor.org/rfc/rfc5798\\[ra]",
		".TP\n\\fBproto\\fR\ntype: \\fBcarp\\fR | \\fBvrrp3\\fR; default: \\fBcarp\\fR\n",
		"type: bool; default: \\fBfalse\\fR; notes: debug logging",
		"| not | a table |\n|---|---|\n",
		".SH SEE ALSO",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, bad := range []string{".TS", "design.md", ".SH carpd configuration"} {
		if strings.Contains(s, bad) {
			t.Errorf("page has %q", bad)
		}
	}
	if _, err := ConfigPage([]byte("no heading\n"), time.Time{}, ""); err == nil {
		t.Error("a document without a level-1 heading first was accepted")
	}
}
