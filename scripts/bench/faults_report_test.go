package bench

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReliabilityKeepsSections(t *testing.T) {
	run := FaultRun{
		Passes: []FaultPass{{Command: "scripts/bench/faults.sh --quick", Trials: 1}},
		Trials: []FaultTrial{{System: "ucarp", Timer: "1s", Fault: "h", Trial: 1, RestoreMS: -1, OutageHealMS: -1,
			Leftovers: []string{"VIP on no node"}}},
	}
	first := reliability(run, "")
	for _, name := range keepNames {
		if !strings.Contains(first, "<!-- keep:"+name+" -->\n_Not written yet._\n<!-- /keep:"+name+" -->") {
			t.Errorf("fresh report lacks the placeholder of keep section %q", name)
		}
	}
	edited := strings.Replace(first, "<!-- keep:reading -->\n_Not written yet._\n",
		"<!-- keep:reading -->\nHand-written reading,\nover two lines.\n", 1)
	edited = strings.Replace(edited, "<!-- keep:soak -->\n_Not written yet._\n",
		"<!-- keep:soak -->\nSoak text.", 1)
	edited += "\n<!-- keep:extra -->\nAn orphan section.\n<!-- /keep:extra -->\n"
	second := reliability(run, edited)
	got, order := keptSections(second)
	want := map[string]string{
		"reading":        "Hand-written reading,\nover two lines.\n",
		"cpu-starvation": "_Not written yet._\n",
		"soak":           "Soak text.\n",
		"extra":          "An orphan section.\n",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("keep sections after regeneration (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"reading", "cpu-starvation", "soak", "extra"}, order); diff != "" {
		t.Errorf("keep section order (-want +got):\n%s", diff)
	}
	// Regenerating again changes nothing: the sections do not grow.
	if third := reliability(run, second); third != second {
		t.Errorf("a second regeneration changed the report:\n%s", cmp.Diff(second, third))
	}
}

func TestReliabilityCells(t *testing.T) {
	tr := func(restore, dual float64, left ...string) FaultTrial {
		return FaultTrial{System: "carpd CARP resolve", Timer: "1s", Fault: "h", RestoreMS: restore, DualMS: dual,
			OutageHealMS: -1, Leftovers: left}
	}
	run := FaultRun{Trials: []FaultTrial{tr(7, 0), tr(-1, 20, "VIP on n2"), tr(9, 10, "VIP on n2")}}
	rep := reliability(run, "")
	row := "| carpd CARP resolve | 3 | 10 (0–20) | 0 | 0 | — | 0 | 0 | 0 | 8 (7–9, 1× never) | VIP on n2 (2/3) |"
	if !strings.Contains(rep, row) {
		t.Errorf("report lacks the row\n%s\nin\n%s", row, rep)
	}
	for _, missing := range []string{"- a × ucarp\n", "- j 5 % × keepalived VRRPv3 100ms\n", "- k × ucarp advbase 0\n"} {
		if !strings.Contains(rep, missing) {
			t.Errorf("not-measured list lacks %q", missing)
		}
	}
	if strings.Contains(rep, "- h × carpd CARP resolve\n") {
		t.Error("a measured cell is listed as not measured")
	}
}
