package main

import (
	"bytes"
	"fmt"
	"image/color"
	"os"
	"strconv"
	"time"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Colours from the Okabe-Ito palette, which readers with any common colour
// vision deficiency can tell apart; shapes and lanes differ as well.
var (
	green     = color.RGBA{R: 0, G: 158, B: 115, A: 255}   // admitted
	vermilion = color.RGBA{R: 213, G: 94, B: 0, A: 255}    // denied
	blue      = color.RGBA{R: 0, G: 114, B: 178, A: 255}   // trailing count
	overFill  = color.NRGBA{R: 213, G: 94, B: 0, A: 70}    // above the limit
	gridGrey  = color.RGBA{R: 150, G: 150, B: 150, A: 255} // fixed-window boundaries
)

func init() {
	// Sans serif reads better at small sizes; the fonts are embedded in
	// gonum, so the output does not depend on the fonts installed.
	plot.DefaultFont.Variant = "Sans"
	plotter.DefaultFont.Variant = "Sans"
}

// The lanes where individual requests are drawn, below the count axis.
const (
	laneAdmitted = -3.0
	laneDenied   = -6.5
	yMin, yMax   = -8.5, 24.0
)

// titles are the panel titles' algorithm names.
var titles = map[string]string{
	"token_bucket":   "Token bucket (GCRA)",
	"sliding_log":    "Sliding log",
	"sliding_window": "Sliding window counter",
	"fixed_window":   "Fixed window",
}

// seconds converts a scenario time to the x coordinate.
func seconds(d time.Duration) float64 { return d.Seconds() }

// formatSeconds prints a time with as few digits as it needs: "2.09 s".
func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + " s"
}

// newPlot draws one run: every request in its lane, the admitted count in
// the trailing period as a step line, the limit, and the excess shaded.
func newPlot(r run, legend bool) (*plot.Plot, error) {
	per := r.Limit.Per
	adm := r.admitted()
	most, end := peak(adm, per)

	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s, limit %s: up to %d admitted within %s", titles[r.Algorithm.String()], r.Limit, most, formatSeconds(per))
	p.Title.TextStyle.Font.Size = vg.Points(13)
	p.Title.TextStyle.Font.Weight = xfont.WeightBold
	p.Title.Padding = vg.Points(6)
	p.X.Label.Text = "time (s); dotted lines are the fixed-window boundaries"
	p.Y.Label.Text = "admitted in trailing " + formatSeconds(per)
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		a.Label.TextStyle.Font.Size = vg.Points(11)
		a.Tick.Label.Font.Size = vg.Points(10)
	}
	p.X.Min, p.X.Max = 0, seconds(span)
	p.Y.Min, p.Y.Max = yMin, yMax
	var xt []plot.Tick
	for t := time.Duration(0); t <= span; t += per / 2 {
		tk := plot.Tick{Value: seconds(t)}
		if t%per == 0 {
			tk.Label = strconv.FormatFloat(seconds(t), 'f', -1, 64)
		}
		xt = append(xt, tk)
	}
	p.X.Tick.Marker = plot.ConstantTicks(xt)
	p.Y.Tick.Marker = plot.ConstantTicks{
		{Value: laneDenied, Label: "denied"},
		{Value: laneAdmitted, Label: "admitted"},
		{Value: 0, Label: "0"}, {Value: 5, Label: "5"}, {Value: 10, Label: "10"},
		{Value: 15, Label: "15"}, {Value: 20, Label: "20"},
	}

	grid := plotter.NewGrid()
	grid.Horizontal.Color = nil
	grid.Vertical.Color = gridGrey
	grid.Vertical.Dashes = []vg.Length{vg.Points(1), vg.Points(3)}
	p.Add(grid)

	// A rule between the request lanes and the counts.
	axis, err := plotter.NewLine(plotter.XYs{{X: 0, Y: -1.2}, {X: seconds(span), Y: -1.2}})
	if err != nil {
		return nil, err
	}
	axis.Color = color.Gray{Y: 200}
	p.Add(axis)

	steps := trailing(adm, per, span)
	line := make(plotter.XYs, 0, len(steps)+1)
	for _, s := range steps {
		line = append(line, plotter.XY{X: seconds(s.At), Y: float64(s.Count)})
	}
	line = append(line, plotter.XY{X: seconds(span), Y: line[len(line)-1].Y})
	count, err := plotter.NewLine(line)
	if err != nil {
		return nil, err
	}
	count.StepStyle = plotter.PostStep
	count.Color = blue
	count.Width = vg.Points(1.6)

	over, err := excess(steps, r.Limit.N)
	if err != nil {
		return nil, err
	}

	lim, err := plotter.NewLine(plotter.XYs{{X: 0, Y: float64(r.Limit.N)}, {X: seconds(span), Y: float64(r.Limit.N)}})
	if err != nil {
		return nil, err
	}
	lim.Color = color.Black
	lim.Width = vg.Points(1.2)
	lim.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}

	var yes, no plotter.XYs
	for _, e := range r.Events {
		if e.Allowed {
			yes = append(yes, plotter.XY{X: seconds(e.At), Y: laneAdmitted})
		} else {
			no = append(no, plotter.XY{X: seconds(e.At), Y: laneDenied})
		}
	}
	admitted, err := plotter.NewScatter(yes)
	if err != nil {
		return nil, err
	}
	admitted.GlyphStyle = draw.GlyphStyle{Color: green, Radius: vg.Points(2.6), Shape: draw.CircleGlyph{}}
	denied, err := plotter.NewScatter(no)
	if err != nil {
		return nil, err
	}
	denied.GlyphStyle = draw.GlyphStyle{Color: vermilion, Radius: vg.Points(3), Shape: draw.CrossGlyph{}}

	label, err := plotter.NewLabels(plotter.XYLabels{
		XYs:    plotter.XYs{{X: seconds(end), Y: float64(most)}},
		Labels: []string{fmt.Sprintf("%d in (%s, %s]", most, formatSeconds(end-per), formatSeconds(end))},
	})
	if err != nil {
		return nil, err
	}
	label.TextStyle[0].Font.Size = vg.Points(10)
	label.TextStyle[0].Color = blue
	label.Offset = vg.Point{X: vg.Points(6), Y: vg.Points(3)}

	if over != nil {
		p.Add(over)
	}
	p.Add(lim, count, admitted, denied, label)

	if legend {
		p.Legend.Top = true
		p.Legend.TextStyle.Font.Size = vg.Points(10)
		p.Legend.ThumbnailWidth = vg.Points(24)
		p.Legend.Padding = vg.Points(2)
		p.Legend.YOffs = -vg.Points(4)
		p.Legend.XOffs = -vg.Points(4)
		p.Legend.Add("admitted request", admitted)
		p.Legend.Add("denied request", denied)
		p.Legend.Add("admitted in the trailing "+formatSeconds(per), count)
		p.Legend.Add(fmt.Sprintf("limit: %d per %s", r.Limit.N, formatSeconds(per)), lim)
		if over != nil {
			p.Legend.Add("more than the limit in one period", over)
		}
	}
	return p, nil
}

// excess returns polygons filling the area between the limit and the
// trailing count wherever the count is above the limit, or nil when it
// never is.
func excess(steps []step, n int64) (*plotter.Polygon, error) {
	var rings []plotter.XYer
	lim := float64(n)
	for i := 0; i < len(steps); i++ {
		if int64(steps[i].Count) <= n {
			continue
		}
		ring := plotter.XYs{{X: seconds(steps[i].At), Y: lim}}
		for ; i < len(steps) && int64(steps[i].Count) > n; i++ {
			x, y := seconds(steps[i].At), float64(steps[i].Count)
			if len(ring) > 1 {
				ring = append(ring, plotter.XY{X: x, Y: ring[len(ring)-1].Y})
			}
			ring = append(ring, plotter.XY{X: x, Y: y})
		}
		stop := seconds(span)
		if i < len(steps) {
			stop = seconds(steps[i].At)
		}
		ring = append(ring, plotter.XY{X: stop, Y: ring[len(ring)-1].Y}, plotter.XY{X: stop, Y: lim})
		rings = append(rings, ring)
	}
	if rings == nil {
		return nil, nil
	}
	poly, err := plotter.NewPolygon(rings...)
	if err != nil {
		return nil, err
	}
	poly.Color = overFill
	poly.LineStyle.Width = 0
	return poly, nil
}

// The size of the pictures: a panel is 10 by 3.6 inches at 120 dots per
// inch, 1200 by 432 pixels.
const (
	dpi         = 120
	panelWidth  = 10 * vg.Inch
	panelHeight = 3.6 * vg.Inch
)

// renderPanel returns the PNG of one run.
func renderPanel(r run) ([]byte, error) {
	p, err := newPlot(r, true)
	if err != nil {
		return nil, err
	}
	c := vgimg.NewWith(vgimg.UseWH(panelWidth, panelHeight), vgimg.UseDPI(dpi))
	p.Draw(draw.New(c))
	return encode(c)
}

// renderAll returns the PNG of every run in one figure, one panel per run
// under a shared time axis.
func renderAll(runs []run) ([]byte, error) {
	plots := make([][]*plot.Plot, len(runs))
	for i, r := range runs {
		p, err := newPlot(r, i == 0)
		if err != nil {
			return nil, err
		}
		if i < len(runs)-1 {
			p.X.Label.Text = ""
		}
		plots[i] = []*plot.Plot{p}
	}
	c := vgimg.NewWith(vgimg.UseWH(panelWidth, vg.Length(len(runs))*(panelHeight-0.3*vg.Inch)), vgimg.UseDPI(dpi))
	tiles := draw.Tiles{
		Rows: len(runs), Cols: 1,
		PadY:   vg.Points(12),
		PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8),
	}
	canvases := plot.Align(plots, tiles, draw.New(c))
	for i := range plots {
		plots[i][0].Draw(canvases[i][0])
	}
	return encode(c)
}

func encode(c *vgimg.Canvas) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeFile writes b to name unless name already holds exactly b, so that
// regenerating unchanged pictures touches nothing.
func writeFile(name string, b []byte) error {
	if old, err := os.ReadFile(name); err == nil && bytes.Equal(old, b) {
		return nil
	}
	return os.WriteFile(name, b, 0o644)
}
