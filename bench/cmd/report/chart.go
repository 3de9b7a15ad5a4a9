package main

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"slices"

	"github.com/sluicehq/sluice/bench"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Chart renders the medians as a PNG of four panels: time per decision in
// memory, bytes per key, Redis decisions per second by callers, and
// accuracy.
func Chart(res *Results) ([]byte, error) {
	libs := allLimiters(res)
	colour := func(l string) color.Color { return palette[slices.Index(libs, l)%len(palette)] }

	panels := [][]*plot.Plot{
		{nsPanel(res, colour), bytesPanel(res, colour)},
		{redisPanel(res, colour), accuracyPanel(res)},
	}
	img := vgimg.New(vg.Points(1100), vg.Points(800))
	dc := draw.New(img)
	tiles := draw.Tiles{
		Rows: 2, Cols: 2,
		PadX: vg.Points(24), PadY: vg.Points(24),
		PadTop: vg.Points(12), PadBottom: vg.Points(12), PadLeft: vg.Points(12), PadRight: vg.Points(12),
	}
	canvases := plot.Align(panels, tiles, dc)
	for j := range panels {
		for i, p := range panels[j] {
			p.Draw(canvases[j][i])
		}
	}
	var b bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// palette is the Okabe-Ito palette, told apart by colour-blind readers
// too.
var palette = []color.Color{
	color.RGBA{213, 94, 0, 255},    // vermillion
	color.RGBA{0, 114, 178, 255},   // blue
	color.RGBA{0, 158, 115, 255},   // bluish green
	color.RGBA{230, 159, 0, 255},   // orange
	color.RGBA{204, 121, 167, 255}, // reddish purple
	color.RGBA{86, 180, 233, 255},  // sky blue
	color.RGBA{0, 0, 0, 255},       // black
	color.RGBA{240, 228, 66, 255},  // yellow
	color.RGBA{136, 136, 136, 255}, // grey
}

// headroom leaves room above the highest value for the legend.
const headroom = 1.45

// axisMax returns a round number at least top*headroom, so that the axis
// ends on a labelled tick.
func axisMax(top float64) float64 {
	v := top * headroom
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// allLimiters returns every limiter in the results, in the order the
// workloads list them, so each keeps one colour in every panel.
func allLimiters(res *Results) []string {
	var out []string
	for _, w := range []string{wHotSerial, wHotParallel, wManyKeys, wInOrder, wBytesPerKey, wAccuracy, wRedis, wRedisAccuracy} {
		for _, l := range res.Limiters(w) {
			if !slices.Contains(out, l) {
				out = append(out, l)
			}
		}
	}
	return out
}

func newPlot(title, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	p.X.Tick.Label.Font.Size = vg.Points(9)
	p.Y.Tick.Label.Font.Size = vg.Points(9)
	p.Y.Min = 0
	return p
}

// groupedBars adds one bar chart per series, side by side in each group,
// with label(series) in the legend. value returns a series' median in a
// group, and false when it has none. It returns the highest value.
func groupedBars(p *plot.Plot, groups, series []string, label func(string) string, colour func(string) color.Color, value func(group int, series string) (float64, bool)) float64 {
	const width = 14
	top := 0.0
	p.NominalX(groups...)
	var all []*plotter.BarChart
	for _, l := range series {
		vals := make(plotter.Values, len(groups))
		have := false
		for g := range groups {
			v, ok := value(g, l)
			vals[g], have = v, have || ok
			top = max(top, v)
		}
		if !have {
			continue
		}
		bars, err := plotter.NewBarChart(vals, vg.Points(width))
		if err != nil {
			continue
		}
		bars.Color = colour(l)
		bars.LineStyle.Width = 0
		p.Add(bars)
		p.Legend.Add(label(l), bars)
		all = append(all, bars)
	}
	// Side by side, centred on the group's tick.
	for i, b := range all {
		b.Offset = vg.Points(width * (float64(i) - float64(len(all)-1)/2))
	}
	return top
}

// libraryBars adds one bar per limiter, labelled on the X axis. It
// returns the highest value.
func libraryBars(p *plot.Plot, libs []string, colour func(string) color.Color, value func(lib string) (float64, bool)) float64 {
	var names []string
	top := 0.0
	for _, l := range libs {
		v, ok := value(l)
		if !ok {
			continue
		}
		bars, err := plotter.NewBarChart(plotter.Values{v}, vg.Points(40))
		if err != nil {
			continue
		}
		bars.XMin = float64(len(names))
		bars.Color = colour(l)
		bars.LineStyle.Width = 0
		p.Add(bars)
		names = append(names, l)
		top = max(top, v)
	}
	p.NominalX(names...)
	return top
}

func nsPanel(res *Results, colour func(string) color.Color) *plot.Plot {
	p := newPlot("In memory: CPU time per decision (median, lower is better)", "CPU ns per decision")
	workloads := []string{wHotSerial, wHotParallel, wManyKeys, wInOrder}
	groups := []string{"hot key, serial", "hot key, parallel", fmt.Sprintf("%dk keys, parallel", bench.ManyKeys/1000), "in creation order"}
	var libs []string
	for _, w := range workloads {
		for _, l := range res.Limiters(w) {
			if !slices.Contains(libs, l) {
				libs = append(libs, l)
			}
		}
	}
	top := groupedBars(p, groups, libs, same, colour, func(g int, l string) (float64, bool) {
		// CPU time, the steadier measure on a busy machine (see the page),
		// or time where the results have none.
		if s, ok := res.Stat(workloads[g], l, 0, "cpu-ns/op"); ok {
			return s.Median, true
		}
		s, ok := res.Stat(workloads[g], l, 0, "ns/op")
		return s.Median, ok
	})
	p.Y.Max = axisMax(top)
	return p
}

func bytesPanel(res *Results, colour func(string) color.Color) *plot.Plot {
	p := newPlot(fmt.Sprintf("In memory: heap bytes per key (%s keys)", itoa(bench.BytesPerKeyKeys)), "bytes per key")
	top := libraryBars(p, res.Limiters(wBytesPerKey), colour, func(l string) (float64, bool) {
		s, ok := res.Stat(wBytesPerKey, l, 0, "bytes/key")
		return s.Median, ok
	})
	p.Y.Max = axisMax(top / headroom * 1.1)
	return p
}

func redisPanel(res *Results, colour func(string) color.Color) *plot.Plot {
	p := newPlot("Redis: decisions per second (median, higher is better)", "decisions per second")
	p.X.Label.Text = "concurrent callers"
	callers := res.Callers(wRedis)
	labels := make([]string, len(callers))
	for i, c := range callers {
		labels[i] = fmt.Sprint(c)
	}
	p.NominalX(labels...)
	top := 0.0
	for _, l := range res.Limiters(wRedis) {
		var pts plotter.XYs
		for i, c := range callers {
			if s, ok := res.Stat(wRedis, l, c, "decisions/s"); ok {
				pts = append(pts, plotter.XY{X: float64(i), Y: s.Median})
				top = max(top, s.Median)
			}
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			continue
		}
		line.Color, points.Color = colour(l), colour(l)
		line.Width = vg.Points(2)
		p.Add(line, points)
		p.Legend.Add(l, line, points)
	}
	p.Y.Max = axisMax(top)
	return p
}

func same(s string) string { return s }

func accuracyPanel(res *Results) *plot.Plot {
	p := newPlot(fmt.Sprintf("Accuracy: admitted of a limit of %d, %s racing (median)", bench.AccuracyLimit, itoa(bench.AccuracyRequests)), "requests admitted")
	p.X.Tick.Label.Font.Size = vg.Points(7) // nine libraries side by side
	workloads := []string{wAccuracy, wRedisAccuracy}
	names := map[string]string{wAccuracy: "one instance, in memory", wRedisAccuracy: "two instances, one Redis"}
	var libs []string
	for _, w := range workloads {
		for _, l := range res.Limiters(w) {
			if !slices.Contains(libs, l) {
				libs = append(libs, l)
			}
		}
	}
	// The libraries are the groups here, and the two workloads the series.
	label := func(w string) string { return names[w] }
	colour := func(w string) color.Color { return seriesColours[slices.Index(workloads, w)] }
	top := groupedBars(p, libs, workloads, label, colour, func(g int, w string) (float64, bool) {
		s, ok := res.Stat(w, libs[g], 0, "admitted")
		return s.Median, ok
	})
	limit := plotter.NewFunction(func(float64) float64 { return bench.AccuracyLimit })
	limit.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	limit.Color = color.Gray{Y: 80}
	p.Add(limit)
	p.Legend.Add(fmt.Sprintf("limit (%d)", bench.AccuracyLimit), limit)
	p.Y.Max = axisMax(max(top, bench.AccuracyLimit))
	return p
}

// seriesColours tell apart the accuracy panel's two workloads.
var seriesColours = []color.Color{color.RGBA{0, 114, 178, 255}, color.RGBA{230, 159, 0, 255}}
