package report

import (
	"bytes"
	"errors"
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// ErrNothingToChart is returned by WriteChart when the run has no echo
// scenario with figures.
var ErrNothingToChart = errors.New("no echo results to chart")

// echoGroups returns the echo scenarios the chart shows: those with the
// payload of the first echo scenario, in run order.
func echoGroups(run *Run) []*Scenario {
	var out []*Scenario
	payload := -1
	for i := range run.Scenarios {
		s := &run.Scenarios[i]
		if s.Kind != "echo" {
			continue
		}
		if payload < 0 {
			payload = s.Params["payload"]
		}
		if s.Params["payload"] == payload {
			out = append(out, s)
		}
	}
	return out
}

// groupLabel names an echo scenario on the chart's X axis.
func groupLabel(s *Scenario) string {
	l := fmt.Sprintf("%d conns", s.Params["conns"])
	if w := s.Params["window"]; w > 1 {
		l += fmt.Sprintf(", window %d", w)
	}
	return l
}

// barPanel draws one grouped bar chart: one group per echo scenario, one
// bar per server, the median of metric key. With legend set it leaves
// headroom above the bars for the legend.
func barPanel(run *Run, groups []*Scenario, key, title, ylabel string, legend bool) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	labels := make([]string, len(groups))
	for i, g := range groups {
		labels[i] = groupLabel(g)
	}
	servers := make([]string, 0, len(run.Servers))
	for _, s := range run.Servers {
		servers = append(servers, s.Name)
	}
	if len(servers) == 0 {
		return nil, ErrNothingToChart
	}
	w := vg.Points(80 / float64(len(servers)))
	top := 0.0
	for si, name := range servers {
		vals := make(plotter.Values, len(groups))
		for gi, g := range groups {
			if r := g.Result(name); r != nil {
				vals[gi] = r.Summary[key].Median
				top = max(top, vals[gi])
			}
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		bars.LineStyle.Width = vg.Length(0)
		bars.Color = plotutil.Color(si)
		bars.Offset = w * vg.Length(float64(si)-float64(len(servers)-1)/2)
		p.Add(bars)
		if legend {
			p.Legend.Add(name, bars)
		}
	}
	if legend {
		p.Legend.Top = true
		p.Legend.Left = true
		p.Legend.XOffs = vg.Millimeter * 3
		p.Y.Max = top * 1.6
	} else {
		p.Y.Max = top * 1.1
	}
	p.NominalX(labels...)
	// Room on both sides so the outer groups' bars and labels are not cut.
	p.X.Min, p.X.Max = -0.75, float64(len(labels))-0.25
	return p, nil
}

// Chart renders three panels of the echo scenarios as SVG: throughput,
// p99 latency and server CPU per message, the median of each server.
func Chart(run *Run) ([]byte, error) {
	groups := echoGroups(run)
	if len(groups) == 0 {
		return nil, ErrNothingToChart
	}
	payload := groups[0].Params["payload"]
	rounds := fmt.Sprintf("median of %d rounds", run.Rounds)
	panels := []struct {
		key, title, ylabel string
	}{
		{"msgs_per_s", fmt.Sprintf("echo throughput, %d B messages (%s)", payload, rounds), "messages per second"},
		{"p99_us", "echo p99 round-trip latency", "p99, µs"},
		{"cpu_us_per_msg", "server CPU time (user + kernel) per echoed message", "µs per message"},
	}
	plots := make([][]*plot.Plot, len(panels))
	for i, pn := range panels {
		p, err := barPanel(run, groups, pn.key, pn.title, pn.ylabel, i == 0)
		if err != nil {
			return nil, err
		}
		plots[i] = []*plot.Plot{p}
	}
	width := 8*vg.Centimeter + vg.Length(len(groups))*4*vg.Centimeter
	height := 27 * vg.Centimeter
	c := vgsvg.New(width, height)
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: len(panels), Cols: 1, PadY: vg.Centimeter, PadTop: vg.Millimeter * 3,
		PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 5}
	canvases := plot.Align(plots, tiles, dc)
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteChart renders Chart to path.
func WriteChart(path string, run *Run) error {
	b, err := Chart(run)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, b)
}
