// Command chart draws the PNG chart that goes with one section of
// BENCHMARKS.md, from the raw per-round CSV that the section's script kept:
//
//	go run ./bench/chart -in bench/out/passthrough-latest.csv -kind passthrough \
//	    -clients 50 -pipeline 16 -out bench/charts/passthrough.png
//
// The CSV layouts are those the scripts write (see kinds below): compare.sh
// (passthrough) writes a header and one row per run and command; cache.sh,
// disk.sh and writeback.sh write headerless rows. A row is one
// redis-benchmark run of one target in one round.
//
// The image has two rows of panels. The top row is the throughput: for every
// workload (a group on the x axis) one bar per target, the bar's height the
// median ops/s over the rounds, its whisker the min-max range across the
// rounds. The bottom row, smaller, is the median p99 latency in ms with the
// same whiskers. Workloads with and without pipelining go to separate panels,
// each with its own y axis starting at zero, because pipelined throughput is
// an order of magnitude higher and would flatten the unpipelined bars.
//
// The medians are computed as the scripts' awk computes them (the mean of the
// middle two for an even count), so a bar matches the number in the table.
// The output depends on the input only: groups, panels and targets keep the
// order of their first appearance in the CSV (targets: the kind's fixed order
// first, so colours stay the same across charts; disk.sh's commands: the
// order of its table), no map order or clock is involved, and the PNG is
// quantised to a fixed palette, which also keeps the committed files small
// (20-30 KB).
package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	xfont "golang.org/x/image/font"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	vgdraw "gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Errors the chart program reports; checked with errors.Is in the tests.
var (
	ErrUnknownKind = errors.New("chart: unknown -kind")
	ErrBadRow      = errors.New("chart: bad CSV row")
	ErrNoRows      = errors.New("chart: no data rows")
)

// row is one redis-benchmark run of one target, as one CSV line gives it.
type row struct {
	round  string
	panel  string // workload family: "unpipelined", "-P 16"
	group  string // label on the x axis: a command, a value size, a scenario
	target string
	rps    float64 // requests per second
	p99    float64 // milliseconds
}

// target is one bar colour: a CSV target name and how the legend calls it.
type target struct {
	id, label string
	colour    color.RGBA
}

// kind describes one script's CSV layout and what its chart shows.
type kind struct {
	what    string   // first half of the title
	fields  int      // columns per row
	header  bool     // the first line is a header (starts with "round")
	targets []target // fixed order and colours; others follow in CSV order
	groups  []string // x-axis order where the section's table has one; others follow in CSV order
	parse   func(f []string) (row, error)
}

// Colours: redis-server (the baseline) grey, respcache's main variant blue,
// the others from Tableau's palette.
var (
	grey   = color.RGBA{0x8c, 0x8c, 0x8c, 0xff}
	blue   = color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	orange = color.RGBA{0xff, 0x7f, 0x0e, 0xff}
	green  = color.RGBA{0x2c, 0xa0, 0x2c, 0xff}
	purple = color.RGBA{0x94, 0x67, 0xbd, 0xff}
	red    = color.RGBA{0xd6, 0x27, 0x28, 0xff}
	// gridGrey is the colour of the dashed grid lines.
	gridGrey = color.RGBA{0xd0, 0xd0, 0xd0, 0xff}
	// extra colours go to targets a kind does not list.
	extra = []color.RGBA{red, purple, green, orange}
)

var kinds = map[string]kind{
	// compare.sh: round,workload,target,test,rps,avg_ms,min_ms,p50_ms,p95_ms,p99_ms,max_ms
	// with workload "unpipelined, 3 B values" or "-P 16, 3 B values".
	"passthrough": {
		what:   "Passthrough: respcache vs twemproxy vs redis-server",
		fields: 11,
		header: true,
		targets: []target{
			{"direct", "redis-server (direct)", grey},
			{"twemproxy", "twemproxy", orange},
			{"respcache", "respcache (passthrough)", blue},
		},
		parse: func(f []string) (row, error) {
			panel, size, _ := strings.Cut(f[1], ", ")
			return numbers(row{round: f[0], panel: panel, group: f[3] + " " + strings.TrimSuffix(size, " values"), target: f[2]}, f[4], f[9])
		},
	},
	// cache.sh: round,scenario,workload,target,rps,p50_ms,p99_ms
	"cache": {
		what:   "Read cache: GET through respcache against redis-server",
		fields: 7,
		targets: []target{
			{"direct", "redis-server (direct)", grey},
			{"cached", "respcache (cache on)", blue},
			{"passthrough", "respcache (keys bypassed)", orange},
		},
		parse: func(f []string) (row, error) {
			return numbers(row{round: f[0], panel: f[2], group: f[1], target: f[3]}, f[4], f[6])
		},
	},
	// disk.sh: round,target,command,rps,p50_ms,p99_ms
	"disk": {
		what:   "Disk store: respcache (pebble) vs redis-server with AOF",
		fields: 6,
		groups: []string{"SET", "GET", "INCR", "LPUSH", "HSET", "SADD", "ZADD"},
		targets: []target{
			{"redis", "redis-server (AOF everysec)", grey},
			{"respcache", "respcache disk store (fsync everysec)", blue},
		},
		parse: func(f []string) (row, error) {
			return numbers(row{round: f[0], panel: "unpipelined", group: f[2], target: f[1]}, f[3], f[5])
		},
	},
	// writeback.sh: round,workload,target,rps,p50_ms,p99_ms with workload
	// "unpipelined", "-P 16" or "-P 16 -r 100000".
	"writeback": {
		what:   "Write-back: SET against redis-server and write-through",
		fields: 6,
		targets: []target{
			{"direct", "redis-server (direct)", grey},
			{"through", "respcache write-through", orange},
			{"back", "respcache write-back (fsync everysec)", blue},
			{"always", "respcache write-back (fsync always)", green},
		},
		parse: func(f []string) (row, error) {
			panel, keys, spread := strings.Cut(f[1], " -r ")
			group := "1 key"
			if spread {
				group = "-r " + keys
			}
			return numbers(row{round: f[0], panel: panel, group: group, target: f[2]}, f[3], f[5])
		},
	},
}

// numbers fills r's throughput and p99 from their CSV text.
func numbers(r row, rps, p99 string) (row, error) {
	var err error
	if r.rps, err = strconv.ParseFloat(rps, 64); err != nil || !(r.rps > 0) || math.IsInf(r.rps, 0) {
		return r, fmt.Errorf("ops/s %q is not a positive number", rps)
	}
	if r.p99, err = strconv.ParseFloat(p99, 64); err != nil || !(r.p99 >= 0) || math.IsInf(r.p99, 0) {
		return r, fmt.Errorf("p99 %q is not a non-negative number", p99)
	}
	if r.round == "" || r.panel == "" || r.group == "" || r.target == "" {
		return r, errors.New("empty round, workload or target")
	}
	return r, nil
}

// readRows parses a CSV of kind k. Every row must parse; a wrong row is an
// error with its line number rather than a silently missing bar.
func readRows(k kind, in io.Reader) ([]row, error) {
	cr := csv.NewReader(in)
	cr.FieldsPerRecord = k.fields
	var rows []row
	for line := 1; ; line++ {
		f, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadRow, err)
		}
		if line == 1 && k.header && f[0] == "round" {
			continue
		}
		r, err := k.parse(f)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrBadRow, line, err)
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return nil, ErrNoRows
	}
	return rows, nil
}

// stat is the summary of one target in one group over the rounds.
type stat struct {
	n                   int // runs
	rps, rpsMin, rpsMax float64
	p99, p99Min, p99Max float64
	rpsRuns, p99Runs    []float64
}

// panel is one workload family: its groups on the x axis, in CSV order.
type panel struct {
	name   string
	groups []string
	cells  map[string]*stat // key: group + "\x00" + target id
}

// summary is everything the chart shows.
type summary struct {
	rounds  int
	panels  []*panel
	targets []target
}

func cellKey(group, target string) string { return group + "\x00" + target }

// summarize groups rows by panel, group and target and computes the
// medians and ranges.
func summarize(k kind, rows []row) *summary {
	s := &summary{}
	var rounds []string
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.target] = true
	}
	for _, t := range k.targets {
		if seen[t.id] {
			s.targets = append(s.targets, t)
		}
	}
	for _, r := range rows {
		if !slices.Contains(rounds, r.round) {
			rounds = append(rounds, r.round)
		}
		if !slices.ContainsFunc(s.targets, func(t target) bool { return t.id == r.target }) {
			s.targets = append(s.targets, target{r.target, r.target, unusedColour(s.targets)})
		}
		i := slices.IndexFunc(s.panels, func(p *panel) bool { return p.name == r.panel })
		if i < 0 {
			s.panels = append(s.panels, &panel{name: r.panel, cells: map[string]*stat{}})
			i = len(s.panels) - 1
		}
		p := s.panels[i]
		if !slices.Contains(p.groups, r.group) {
			p.groups = append(p.groups, r.group)
		}
		c := p.cells[cellKey(r.group, r.target)]
		if c == nil {
			c = &stat{}
			p.cells[cellKey(r.group, r.target)] = c
		}
		c.n++
		c.rpsRuns = append(c.rpsRuns, r.rps)
		c.p99Runs = append(c.p99Runs, r.p99)
	}
	s.rounds = len(rounds)
	rank := func(g string) int {
		if i := slices.Index(k.groups, g); i >= 0 {
			return i
		}
		return len(k.groups)
	}
	for _, p := range s.panels {
		slices.SortStableFunc(p.groups, func(a, b string) int { return rank(a) - rank(b) })
	}
	for _, p := range s.panels {
		for _, c := range p.cells {
			c.rps, c.rpsMin, c.rpsMax = medianRange(c.rpsRuns)
			c.p99, c.p99Min, c.p99Max = medianRange(c.p99Runs)
		}
	}
	return s
}

// unusedColour returns the first of the extra colours that no target in ts
// has, or red when all are taken.
func unusedColour(ts []target) color.RGBA {
	for _, c := range extra {
		if !slices.ContainsFunc(ts, func(t target) bool { return t.colour == c }) {
			return c
		}
	}
	return red
}

// medianRange returns the median (mean of the middle two for an even
// count, as the scripts' awk computes it), the minimum and the maximum.
// xs must not be empty.
func medianRange(xs []float64) (med, lo, hi float64) {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

// metric selects what a panel row plots.
type metric int

const (
	throughput metric = iota
	latency
)

func (m metric) values(c *stat) (v, lo, hi float64) {
	if m == throughput {
		return c.rps, c.rpsMin, c.rpsMax
	}
	return c.p99, c.p99Min, c.p99Max
}

func (m metric) label(v float64) string {
	if m == throughput {
		return compact(v)
	}
	switch {
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// compact writes an ops/s figure in at most four digits and a suffix,
// without trailing zeros: 950, 52.3k, 50k, 523k, 1.25M, 1M.
func compact(v float64) string {
	var s, suffix string
	switch {
	case v >= 1e6:
		s, suffix = strconv.FormatFloat(v/1e6, 'f', 2, 64), "M"
	case v >= 1e5:
		s, suffix = strconv.FormatFloat(v/1e3, 'f', 0, 64), "k"
	case v >= 1e3:
		s, suffix = strconv.FormatFloat(v/1e3, 'f', 1, 64), "k"
	default:
		s = strconv.FormatFloat(v, 'f', 0, 64)
	}
	return trimZeros(s) + suffix
}

// trimZeros drops a decimal fraction's trailing zeros: 25.00 is 25, 2.50
// is 2.5.
func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// bars is a gonum plot.Plotter drawing grouped bars with min-max whiskers
// and a value label on each bar. Its x coordinates are data units: group i
// spans [i-0.4, i+0.4], so the bars scale with the panel instead of having a
// fixed width in points as plotter.BarChart's do.
type bars struct {
	p       *panel
	targets []target
	m       metric
	font    text.Style
}

// barSpan returns the x range of target j's bar in group i.
func (b *bars) barSpan(i, j int) (x0, x1 float64) {
	w := 0.8 / float64(len(b.targets))
	x0 = float64(i) - 0.4 + float64(j)*w
	return x0, x0 + w
}

// Plot implements plot.Plotter.
func (b *bars) Plot(c vgdraw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	whisker := vgdraw.LineStyle{Color: color.Black, Width: vg.Points(0.7)}
	for i, g := range b.p.groups {
		for j, t := range b.targets {
			cell := b.p.cells[cellKey(g, t.id)]
			if cell == nil {
				continue
			}
			v, lo, hi := b.m.values(cell)
			x0, x1 := b.barSpan(i, j)
			l, r := trX(x0), trX(x1)
			c.FillPolygon(t.colour, []vg.Point{{X: l, Y: trY(0)}, {X: r, Y: trY(0)}, {X: r, Y: trY(v)}, {X: l, Y: trY(v)}})
			mid := (l + r) / 2
			top := trY(v)
			if hi > lo {
				capW := (r - l) / 4
				c.StrokeLine2(whisker, mid, trY(lo), mid, trY(hi))
				c.StrokeLine2(whisker, mid-capW, trY(lo), mid+capW, trY(lo))
				c.StrokeLine2(whisker, mid-capW, trY(hi), mid+capW, trY(hi))
				top = trY(hi)
			}
			c.FillText(b.font, vg.Point{X: mid, Y: top + vg.Points(1.5)}, b.m.label(v))
		}
	}
}

// DataRange implements plot.DataRanger: zero to the highest whisker, with
// room above it for the value labels.
func (b *bars) DataRange() (xmin, xmax, ymin, ymax float64) {
	for _, c := range b.p.cells {
		_, _, hi := b.m.values(c)
		ymax = math.Max(ymax, hi)
	}
	if ymax == 0 {
		ymax = 1
	}
	return -0.5, float64(len(b.p.groups)) - 0.5, 0, ymax * 1.15
}

// compactTicks labels the y axis like the bars: 200k rather than 200000,
// 25 rather than 25.00.
type compactTicks struct{ m metric }

// Ticks implements plot.Ticker.
func (t compactTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label == "" {
			continue
		}
		if t.m == throughput {
			ticks[i].Label = compact(ticks[i].Value)
		} else {
			ticks[i].Label = trimZeros(ticks[i].Label)
		}
	}
	return ticks
}

// style returns a Liberation Sans text style of size pt.
func style(pt float64, bold bool) text.Style {
	f := font.From(font.Font{Typeface: "Liberation", Variant: "Sans"}, vg.Points(pt))
	if bold {
		f.Weight = xfont.WeightBold
	}
	return text.Style{Color: color.Black, Font: f, Handler: runeText{plainText}}
}

// plainText is gonum's default handler, over the Liberation fonts that
// package plot registers.
var plainText = text.Plain{Fonts: font.DefaultCache}

// runeText is text.Plain, except that it draws one rune at a time, each at
// the offset gonum's font.Face.Width gives for the text before it.
//
// Why: the image canvas draws a string with x/image's opentype.Face, whose
// Kern passes the font's units per em as the pixel size, so every kerning
// pair comes out tens of times too strong: in Liberation Sans "11" and
// ", " overlap by about two pixels at any size, and 11.0 reads as 1.0.
// font.Face.Width scales kerning correctly, and a single rune has no pair
// to kern.
type runeText struct{ text.Plain }

// Draw implements text.Handler; it follows text.Plain.Draw.
func (h runeText) Draw(c vg.Canvas, txt string, sty text.Style, pt vg.Point) {
	txt = strings.TrimRight(txt, "\n")
	if txt == "" {
		return
	}
	fnt := h.Fonts.Lookup(sty.Font, sty.Font.Size)
	c.SetColor(sty.Color)
	if sty.Rotation != 0 {
		c.Push()
		defer c.Pop()
		c.Rotate(sty.Rotation)
	}
	sin64, cos64 := math.Sincos(sty.Rotation)
	sin, cos := vg.Length(sin64), vg.Length(cos64)
	pt.X, pt.Y = pt.Y*sin+pt.X*cos, pt.Y*cos-pt.X*sin
	lines := h.Lines(txt)
	pt.Y += sty.Height(txt)*vg.Length(sty.YAlign) - fnt.Extents().Ascent
	for i, line := range lines {
		start := pt.Add(vg.Point{X: vg.Length(sty.XAlign) * fnt.Width(line), Y: vg.Length(len(lines)-i) * sty.Font.Size})
		for j, r := range line {
			c.FillString(fnt, start.Add(vg.Point{X: fnt.Width(line[:j])}), string(r))
		}
	}
}

// newPlot builds the gonum plot of one panel and metric.
func newPlot(p *panel, targets []target, m metric, title string) *plot.Plot {
	plt := plot.New()
	plt.Title.Text = title
	plt.Title.TextStyle.Font, plt.Title.TextStyle.Handler = style(9, true).Font, runeText{plainText}
	plt.Title.Padding = vg.Points(3)
	valueFont := style(6.5, false)
	valueFont.XAlign = vgdraw.XCenter
	valueFont.YAlign = vgdraw.YBottom
	plt.Add(gridLines{}, &bars{p: p, targets: targets, m: m, font: valueFont})
	plt.NominalX(p.groups...)
	// The axes keep gonum's alignments and rotations; only the font and
	// the text handler change.
	for _, ts := range []*text.Style{&plt.X.Tick.Label, &plt.Y.Tick.Label, &plt.Y.Label.TextStyle, &plt.X.Label.TextStyle} {
		ts.Font, ts.Handler = style(8, false).Font, runeText{plainText}
	}
	plt.Y.Tick.Label.Font = style(7, false).Font
	plt.TextHandler = runeText{plainText}
	plt.Y.Tick.Marker = compactTicks{m}
	plt.Y.Min = 0
	plt.Y.Padding = 0
	plt.X.Padding = 0
	if m == throughput {
		plt.Y.Label.Text = "ops/s"
	} else {
		plt.Y.Label.Text = "p99 ms"
	}
	return plt
}

// gridLines draws light horizontal lines at the major y ticks, behind the
// bars (it is added first), so the bars' heights can be read against the
// axis.
type gridLines struct{}

func (gridLines) Plot(c vgdraw.Canvas, plt *plot.Plot) {
	_, trY := plt.Transforms(&c)
	ls := vgdraw.LineStyle{Color: gridGrey, Width: vg.Points(0.4), Dashes: []vg.Length{vg.Points(2), vg.Points(2)}}
	for _, t := range plt.Y.Tick.Marker.Ticks(plt.Y.Min, plt.Y.Max) {
		if t.Label == "" || t.Value <= plt.Y.Min {
			continue
		}
		c.StrokeLine2(ls, c.Min.X, trY(t.Value), c.Max.X, trY(t.Value))
	}
}

// panelTitle names a workload family for its panel.
func panelTitle(name string) string {
	if strings.HasPrefix(name, "-P ") {
		return "pipelined (" + name + ")"
	}
	return name
}

// Image geometry, in points (1/72 in); rendered at 96 dpi, so 960x600 px.
const (
	imgW, imgH   = 720, 450
	headerH      = 58 // title, subtitle, legend
	throughputH  = 230
	marginSide   = 6
	marginBottom = 4
	dpi          = 96
)

// render draws s into a PNG on w.
func render(s *summary, title, subtitle string, w io.Writer) error {
	c := vgimg.NewWith(vgimg.UseWH(imgW, imgH), vgimg.UseDPI(dpi), vgimg.UseBackgroundColor(color.White))
	dc := vgdraw.New(c)

	ts := style(11, true)
	ts.XAlign, ts.YAlign = vgdraw.XCenter, vgdraw.YTop
	dc.FillText(ts, vg.Point{X: imgW / 2, Y: imgH - 4}, title)
	ss := style(8, false)
	ss.XAlign, ss.YAlign = vgdraw.XCenter, vgdraw.YTop
	dc.FillText(ss, vg.Point{X: imgW / 2, Y: imgH - 19}, subtitle)
	drawLegend(&dc, s.targets, imgH-38)

	// Panels side by side, widths proportional to their number of groups,
	// with room for the y axis.
	total := 0
	for _, p := range s.panels {
		total += len(p.groups)
	}
	const axisRoom = 40
	avail := vg.Length(imgW-2*marginSide) - vg.Length(axisRoom*len(s.panels))
	x := vg.Length(marginSide)
	for _, p := range s.panels {
		pw := vg.Length(axisRoom) + avail*vg.Length(len(p.groups))/vg.Length(total)
		top := vgdraw.Crop(dc, x, x+pw-imgW, imgH-headerH-throughputH, -headerH)
		bottom := vgdraw.Crop(dc, x, x+pw-imgW, marginBottom, -headerH-throughputH-4)
		newPlot(p, s.targets, throughput, panelTitle(p.name)+": median ops/s").Draw(top)
		newPlot(p, s.targets, latency, "p99 latency, ms").Draw(bottom)
		x += pw
	}
	return encodePNG(w, c.Image())
}

// drawLegend writes one colour swatch and label per target, centred on a
// line at height y.
func drawLegend(dc *vgdraw.Canvas, targets []target, y vg.Length) {
	ls := style(8, false)
	ls.XAlign, ls.YAlign = vgdraw.XLeft, vgdraw.YCenter
	const sw, gap = 9, 14
	width := vg.Length(0)
	for _, t := range targets {
		width += sw + 4 + ls.Width(t.label) + gap
	}
	x := (imgW - width + gap) / 2
	for _, t := range targets {
		dc.FillPolygon(t.colour, []vg.Point{{X: x, Y: y - sw/2}, {X: x + sw, Y: y - sw/2}, {X: x + sw, Y: y + sw/2}, {X: x, Y: y + sw/2}})
		dc.FillText(ls, vg.Point{X: x + sw + 4, Y: y}, t.label)
		x += sw + 4 + ls.Width(t.label) + gap
	}
}

// encodePNG writes img as a paletted PNG. The palette holds blends of
// white with black, the grid grey and every bar colour (anti-aliased text
// and bar edges on the white background), and blends of black with every
// bar colour (whisker edges over a bar): nothing visible is lost, and the
// file is a fraction of the RGBA one. Quantising without dithering keeps
// the output a pure function of the input image.
func encodePNG(w io.Writer, img image.Image) error {
	black := color.RGBA{0, 0, 0, 0xff}
	bars := []color.RGBA{grey, blue, orange, green, purple, red}
	pal := color.Palette{}
	ramp := func(from, to color.RGBA, steps int) {
		for i := 0; i < steps; i++ {
			f := float64(i) / float64(steps)
			mix := func(a, b uint8) uint8 { return uint8(math.Round(float64(a) + (float64(b)-float64(a))*f)) }
			pal = append(pal, color.RGBA{mix(from.R, to.R), mix(from.G, to.G), mix(from.B, to.B), 0xff})
		}
	}
	for _, c := range append([]color.RGBA{black, gridGrey}, bars...) {
		ramp(c, color.RGBA{0xff, 0xff, 0xff, 0xff}, 20)
	}
	for _, c := range bars {
		ramp(black, c, 14)
	}
	pal = append(pal, color.White)
	pi := image.NewPaletted(img.Bounds(), pal)
	draw.Draw(pi, pi.Rect, img, img.Bounds().Min, draw.Src)
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	return enc.Encode(w, pi)
}

// config is the command line.
type config struct {
	in, out, kind     string
	clients, pipeline int
	requests          string
	note              string
}

// Validate reports the first missing or wrong flag.
func (c *config) Validate() error {
	if c.in == "" || c.out == "" {
		return errors.New("chart: -in and -out are required")
	}
	if _, ok := kinds[c.kind]; !ok {
		return fmt.Errorf("%w %q (want passthrough, cache, disk or writeback)", ErrUnknownKind, c.kind)
	}
	if c.clients < 0 || c.pipeline < 0 {
		return errors.New("chart: -clients and -pipeline must not be negative")
	}
	return nil
}

// subtitle says how the numbers were measured.
func (c *config) subtitle(rounds int) string {
	parts := []string{"redis-benchmark"}
	if c.clients > 0 {
		parts = append(parts, "-c "+strconv.Itoa(c.clients))
	}
	if c.requests != "" {
		parts = append(parts, "-n "+c.requests)
	}
	if c.pipeline > 0 {
		parts = append(parts, "-P "+strconv.Itoa(c.pipeline)+" where pipelined")
	}
	s := strings.Join(parts, " ")
	if rounds == 1 {
		s += "; 1 round, so no spread"
	} else {
		s += "; median of " + strconv.Itoa(rounds) + " rounds, whiskers: min-max across rounds"
	}
	if c.note != "" {
		s += "; " + c.note
	}
	return s
}

// chart reads cfg.in and writes cfg.out. The PNG is written to a temporary
// file beside cfg.out and renamed, so a failed run leaves the old chart.
func chart(cfg *config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	k := kinds[cfg.kind]
	f, err := os.Open(cfg.in)
	if err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	rows, err := readRows(k, f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.in, err)
	}
	s := summarize(k, rows)
	var buf bytes.Buffer
	if err := render(s, k.what, cfg.subtitle(s.rounds), &buf); err != nil {
		return fmt.Errorf("chart: render: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(cfg.out), 0o755); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	tmp := cfg.out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	if err := os.Rename(tmp, cfg.out); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("chart: %w", err)
	}
	return nil
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("chart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &config{}
	fs.StringVar(&cfg.in, "in", "", "raw CSV written by the bench script (required)")
	fs.StringVar(&cfg.out, "out", "", "PNG file to write (required; its directory is created)")
	fs.StringVar(&cfg.kind, "kind", "", "CSV layout and chart: passthrough, cache, disk or writeback")
	fs.IntVar(&cfg.clients, "clients", 0, "redis-benchmark -c, for the subtitle (0: not shown)")
	fs.IntVar(&cfg.pipeline, "pipeline", 0, "redis-benchmark -P of the pipelined workloads, for the subtitle (0: not shown)")
	fs.StringVar(&cfg.requests, "requests", "", "redis-benchmark -n, for the subtitle (free text, e.g. \"300000 / 3000000 pipelined\")")
	fs.StringVar(&cfg.note, "note", "", "extra text for the end of the subtitle")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "chart: unexpected arguments: %q\n", fs.Args())
		return 2
	}
	if err := chart(cfg); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}
