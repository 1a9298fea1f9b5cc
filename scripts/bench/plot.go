package bench

import (
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// scenarios are the fault scenarios in plotting order, with their
// colours and offsets within a system's column.
var scenarios = []struct {
	name   string
	color  color.RGBA
	offset float64
}{
	{"node death", color.RGBA{R: 200, G: 40, B: 40, A: 255}, -0.27},
	{"planned handover", color.RGBA{R: 40, G: 80, B: 200, A: 255}, -0.09},
	{"broker crash", color.RGBA{R: 230, G: 140, B: 0, A: 255}, 0.09},
	{"failback", color.RGBA{R: 30, G: 150, B: 60, A: 255}, 0.27},
}

// labels lists the system and timer labels of cs in first-seen order.
func labels(cs []cell) []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range cs {
		if !seen[c.label()] {
			seen[c.label()] = true
			out = append(out, c.label())
		}
	}
	return out
}

// plotOutage draws every trial's client outage as a point, one column per
// system and timer, the scenarios side by side, with a bar at each
// median.
func plotOutage(path string, cs []cell) error {
	p := plot.New()
	p.Title.Text = "MQTT client outage per trial (longest gap at the subscriber; a stream that never resumed is not drawn)"
	p.Y.Label.Text = "outage (ms)"
	names := labels(cs)
	p.NominalX(names...)
	for _, scen := range scenarios {
		var pts, meds plotter.XYs
		for _, c := range cs {
			if c.scenario != scen.name {
				continue
			}
			x := float64(indexOf(names, c.label())) + scen.offset
			for i, v := range c.values(func(r Trial) float64 { return r.OutageMS }) {
				if v >= 0 {
					// A small spread keeps equal values apart.
					pts = append(pts, plotter.XY{X: x + 0.015*float64(i%5-2), Y: v})
				}
			}
			if s := stats(c.values(func(r Trial) float64 { return r.OutageMS })); s.N > 0 {
				meds = append(meds, plotter.XY{X: x, Y: s.Median})
			}
		}
		if len(pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		sc.GlyphStyle.Color = scen.color
		sc.GlyphStyle.Shape = draw.CircleGlyph{}
		sc.GlyphStyle.Radius = vg.Points(2.5)
		md, err := plotter.NewScatter(meds)
		if err != nil {
			return err
		}
		md.GlyphStyle.Color = scen.color
		md.GlyphStyle.Shape = draw.BoxGlyph{}
		md.GlyphStyle.Radius = vg.Points(4)
		p.Add(sc, md)
		p.Legend.Add(scen.name+" (square: median)", sc)
	}
	p.Legend.Top = true
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	return p.Save(vg.Length(110*len(names)+200), 12*vg.Centimeter, path)
}

func indexOf(ss []string, s string) int {
	for i, v := range ss {
		if v == s {
			return i
		}
	}
	return -1
}

// plotTakeover draws takeover after node death against the advertisement
// interval, one series per implementation, with the protocol bound of
// each timer setting.
func plotTakeover(path string, cs []cell) error {
	p := plot.New()
	p.Title.Text = "VIP takeover after node death vs advertisement interval"
	p.X.Label.Text = "advertisement interval (s)"
	p.Y.Label.Text = "takeover (ms)"
	palette := []color.RGBA{{R: 200, G: 40, B: 40, A: 255}, {R: 40, G: 80, B: 200, A: 255},
		{R: 30, G: 150, B: 60, A: 255}, {R: 150, G: 60, B: 160, A: 255}}
	systems := []string{}
	for _, c := range cs {
		if indexOf(systems, c.system) < 0 {
			systems = append(systems, c.system)
		}
	}
	for i, sys := range systems {
		var pts plotter.XYs
		for _, c := range cs {
			if c.system != sys || c.scenario != "node death" {
				continue
			}
			x := intervalSeconds(c.timer) * (1 + 0.03*float64(i-len(systems)/2))
			for _, v := range c.values(func(r Trial) float64 { return r.TakeoverMS }) {
				if v >= 0 {
					pts = append(pts, plotter.XY{X: x, Y: v})
				}
			}
		}
		if len(pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		sc.GlyphStyle.Color = palette[i%len(palette)]
		sc.GlyphStyle.Shape = draw.CircleGlyph{}
		sc.GlyphStyle.Radius = vg.Points(3)
		p.Add(sc)
		p.Legend.Add(sys, sc)
	}
	// VRRP's master-down at priority 100 is 3.61 intervals; CARP's at
	// advskew 50 is 3 advbases + 195 ms.
	bound := plotter.NewFunction(func(x float64) float64 { return 1000 * (3*x + 156*x/256) })
	bound.Color = color.Gray{Y: 120}
	bound.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(bound)
	p.Legend.Add("VRRP master-down bound (priority 100)", bound)
	p.Legend.Top, p.Legend.Left = true, true
	p.X.Min, p.X.Max = 0, 1.1
	p.Y.Min = 0
	p.Y.Max = max(p.Y.Max, 1000*1.1*(3+156.0/256)) // the whole bound line
	p.Add(plotter.NewGrid())
	return p.Save(18*vg.Centimeter, 12*vg.Centimeter, path)
}

// intervalSeconds parses a timer label such as "1s" or "100ms".
func intervalSeconds(timer string) float64 {
	if v, ok := strings.CutSuffix(timer, "ms"); ok {
		f, _ := strconv.ParseFloat(v, 64)
		return f / 1000
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(timer, "s"), 64)
	if err != nil {
		return math.NaN()
	}
	return f
}
