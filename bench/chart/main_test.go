package main

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	vgdraw "gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Samples in the layouts the scripts write (see kinds in main.go).
const (
	passthroughCSV = `round,workload,target,test,rps,avg_ms,min_ms,p50_ms,p95_ms,p99_ms,max_ms
1,"unpipelined, 3 B values",direct,SET,53191.49,0.626,0.176,0.551,0.823,3.407,5.079
1,"unpipelined, 3 B values",direct,GET,44052.86,0.739,0.104,0.615,1.887,2.687,4.471
1,"unpipelined, 3 B values",twemproxy,SET,41580.04,0.840,0.240,0.735,1.839,2.927,4.647
1,"unpipelined, 3 B values",twemproxy,GET,44150.11,0.776,0.320,0.719,1.255,2.279,5.703
1,"unpipelined, 3 B values",respcache,SET,40000.00,0.840,0.240,0.735,1.839,2.500,4.647
1,"unpipelined, 3 B values",respcache,GET,41000.00,0.776,0.320,0.719,1.255,2.100,5.703
1,"-P 16, 3 B values",direct,SET,600000,0.6,0.1,0.5,0.8,1.2,5
1,"-P 16, 3 B values",direct,GET,700000,0.6,0.1,0.5,0.8,1.1,5
1,"-P 16, 3 B values",twemproxy,SET,200000,0.6,0.1,0.5,0.8,4.5,5
1,"-P 16, 3 B values",twemproxy,GET,210000,0.6,0.1,0.5,0.8,4.1,5
1,"-P 16, 3 B values",respcache,SET,450000,0.6,0.1,0.5,0.8,1.9,5
1,"-P 16, 3 B values",respcache,GET,480000,0.6,0.1,0.5,0.8,1.7,5
2,"unpipelined, 3 B values",direct,SET,51000,0.626,0.176,0.551,0.823,3.1,5.079
2,"unpipelined, 3 B values",direct,GET,46000,0.739,0.104,0.615,1.887,2.9,4.471
2,"unpipelined, 3 B values",twemproxy,SET,42000,0.840,0.240,0.735,1.839,2.8,4.647
2,"unpipelined, 3 B values",twemproxy,GET,43000,0.776,0.320,0.719,1.255,2.4,5.703
2,"unpipelined, 3 B values",respcache,SET,41000,0.840,0.240,0.735,1.839,2.6,4.647
2,"unpipelined, 3 B values",respcache,GET,40000,0.776,0.320,0.719,1.255,2.2,5.703
2,"-P 16, 3 B values",direct,SET,620000,0.6,0.1,0.5,0.8,1.3,5
2,"-P 16, 3 B values",direct,GET,680000,0.6,0.1,0.5,0.8,1.0,5
2,"-P 16, 3 B values",twemproxy,SET,190000,0.6,0.1,0.5,0.8,4.7,5
2,"-P 16, 3 B values",twemproxy,GET,220000,0.6,0.1,0.5,0.8,4.0,5
2,"-P 16, 3 B values",respcache,SET,460000,0.6,0.1,0.5,0.8,2.0,5
2,"-P 16, 3 B values",respcache,GET,470000,0.6,0.1,0.5,0.8,1.8,5
`
	cacheCSV = `1,hits,unpipelined,direct,45045.04,0.543,1.327
1,hits,unpipelined,cached,48076.92,0.503,1.143
1,hits,unpipelined,passthrough,38461.54,0.647,1.551
1,hits,-P 16,direct,500000.00,1.103,2.111
1,hits,-P 16,cached,540540.56,1.023,2.047
1,hits,-P 16,passthrough,350877.19,1.615,3.223
1,misses,unpipelined,passthrough,37735.85,0.655,1.487
1,misses,unpipelined,cached,20833.33,1.207,2.775
`
	diskCSV = `1,redis,SET,40000.00,0.6,1.5
1,redis,GET,45000.00,0.5,1.2
1,redis,INCR,44000,0.5,1.3
1,respcache,SET,30000.00,0.8,2.5
1,respcache,GET,50000.00,0.4,1.0
1,respcache,INCR,25000,0.9,3.1
`
	writebackCSV = `1,unpipelined,direct,45000,0.5,1.2
1,unpipelined,through,38000,0.6,1.5
1,unpipelined,back,43000,0.5,1.3
1,unpipelined,always,30000,0.8,2.9
1,-P 16,direct,600000,1.0,2.0
1,-P 16,through,300000,2.0,4.0
1,-P 16,back,500000,1.2,2.4
1,-P 16,always,250000,2.5,5.5
1,-P 16 -r 100000,direct,580000,1.0,2.0
1,-P 16 -r 100000,through,290000,2.0,4.0
1,-P 16 -r 100000,back,350000,1.5,3.0
1,-P 16 -r 100000,always,200000,3.0,6.0
`
)

var samples = map[string]string{
	"passthrough": passthroughCSV,
	"cache":       cacheCSV,
	"disk":        diskCSV,
	"writeback":   writebackCSV,
}

func TestReadRows(t *testing.T) {
	tests := []struct {
		kind, csv string
		want      int // rows, when err is nil
		first     row
		err       error
	}{
		{kind: "passthrough", csv: passthroughCSV, want: 24,
			first: row{round: "1", panel: "unpipelined", group: "SET 3 B", target: "direct", rps: 53191.49, p99: 3.407}},
		{kind: "cache", csv: cacheCSV, want: 8,
			first: row{round: "1", panel: "unpipelined", group: "hits", target: "direct", rps: 45045.04, p99: 1.327}},
		{kind: "disk", csv: diskCSV, want: 6,
			first: row{round: "1", panel: "unpipelined", group: "SET", target: "redis", rps: 40000, p99: 1.5}},
		{kind: "writeback", csv: writebackCSV, want: 12,
			first: row{round: "1", panel: "unpipelined", group: "1 key", target: "direct", rps: 45000, p99: 1.2}},
		{kind: "writeback", csv: "3,-P 16 -r 100000,back,350000,1.5,3.0\n", want: 1,
			first: row{round: "3", panel: "-P 16", group: "-r 100000", target: "back", rps: 350000, p99: 3}},
		{kind: "disk", csv: "", err: ErrNoRows},
		{kind: "passthrough", csv: "round,workload,target,test,rps,avg_ms,min_ms,p50_ms,p95_ms,p99_ms,max_ms\n", err: ErrNoRows},
		{kind: "disk", csv: "1,redis,SET,40000\n", err: ErrBadRow},                         // too few fields
		{kind: "disk", csv: "1,redis,SET,fast,0.6,1.5\n", err: ErrBadRow},                  // rps not a number
		{kind: "disk", csv: "1,redis,SET,0,0.6,1.5\n", err: ErrBadRow},                     // a run that did nothing
		{kind: "disk", csv: "1,redis,SET,NaN,0.6,1.5\n", err: ErrBadRow},                   // NaN
		{kind: "disk", csv: "1,redis,SET,1000,0.6,-1\n", err: ErrBadRow},                   // negative p99
		{kind: "cache", csv: "1,hits,unpipelined,,45045.04,0.543,1.327\n", err: ErrBadRow}, // no target
		// A header is only skipped where the layout has one.
		{kind: "cache", csv: "round,scenario,workload,target,rps,p50,p99\n", err: ErrBadRow},
	}
	for _, tc := range tests {
		t.Run(tc.kind+"/"+firstLine(tc.csv), func(t *testing.T) {
			rows, err := readRows(kinds[tc.kind], strings.NewReader(tc.csv))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != tc.want {
				t.Fatalf("%d rows, want %d", len(rows), tc.want)
			}
			if rows[0] != tc.first {
				t.Errorf("first row %+v, want %+v", rows[0], tc.first)
			}
		})
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	if len(l) > 30 {
		l = l[:30]
	}
	return l
}

func TestMedianRange(t *testing.T) {
	tests := []struct {
		in          []float64
		med, lo, hi float64
	}{
		{[]float64{5}, 5, 5, 5},
		{[]float64{3, 1, 2}, 2, 1, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4}, // even: mean of the middle two, as the scripts' awk
		{[]float64{10, 10, 1, 10, 100}, 10, 1, 100},
	}
	for _, tc := range tests {
		in := append([]float64(nil), tc.in...)
		med, lo, hi := medianRange(in)
		if med != tc.med || lo != tc.lo || hi != tc.hi {
			t.Errorf("medianRange(%v) = %v, %v, %v; want %v, %v, %v", tc.in, med, lo, hi, tc.med, tc.lo, tc.hi)
		}
		for i := range in {
			if in[i] != tc.in[i] {
				t.Fatalf("medianRange reordered its argument: %v", in)
			}
		}
	}
}

func TestCompact(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{950, "950"},
		{1000, "1k"},
		{52340, "52.3k"},
		{50000, "50k"},
		{523400, "523k"},
		{1e6, "1M"},
		{1254000, "1.25M"},
		{1500000, "1.5M"},
	}
	for _, tc := range tests {
		if got := compact(tc.in); got != tc.want {
			t.Errorf("compact(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	k := kinds["passthrough"]
	rows, err := readRows(k, strings.NewReader(passthroughCSV))
	if err != nil {
		t.Fatal(err)
	}
	s := summarize(k, rows)
	if s.rounds != 2 {
		t.Errorf("rounds = %d, want 2", s.rounds)
	}
	var ids []string
	for _, tg := range s.targets {
		ids = append(ids, tg.id)
	}
	if got := strings.Join(ids, ","); got != "direct,twemproxy,respcache" {
		t.Errorf("targets %s, want the kind's order", got)
	}
	if len(s.panels) != 2 || s.panels[0].name != "unpipelined" || s.panels[1].name != "-P 16" {
		t.Fatalf("panels %+v", s.panels)
	}
	if got := strings.Join(s.panels[0].groups, ","); got != "SET 3 B,GET 3 B" {
		t.Errorf("groups %s, want CSV order", got)
	}
	c := s.panels[1].cells[cellKey("GET 3 B", "direct")]
	want := stat{n: 2, rps: 690000, rpsMin: 680000, rpsMax: 700000, p99: 1.05, p99Min: 1.0, p99Max: 1.1}
	if c.n != want.n || c.rps != want.rps || c.rpsMin != want.rpsMin || c.rpsMax != want.rpsMax ||
		!near(c.p99, want.p99) || c.p99Min != want.p99Min || c.p99Max != want.p99Max {
		t.Errorf("-P 16 GET direct: %+v, want %+v", *c, want)
	}

	// A target the kind does not know still gets a bar, after the known
	// ones; a known target absent from the data gets none.
	rows, err = readRows(kinds["disk"], strings.NewReader("1,respcache,GET,1000,1,2\n1,keydb,GET,2000,1,2\n"))
	if err != nil {
		t.Fatal(err)
	}
	s = summarize(kinds["disk"], rows)
	if len(s.targets) != 2 || s.targets[0].id != "respcache" || s.targets[1].id != "keydb" {
		t.Errorf("targets %+v", s.targets)
	}

	// disk.sh's commands come in its table's order whatever order
	// redis-benchmark ran them in; unknown ones follow in CSV order.
	rows, err = readRows(kinds["disk"], strings.NewReader("1,redis,PING,1,1,1\n1,redis,SADD,1,1,1\n1,redis,ECHO,1,1,1\n1,redis,HSET,1,1,1\n1,redis,SET,1,1,1\n"))
	if err != nil {
		t.Fatal(err)
	}
	s = summarize(kinds["disk"], rows)
	if got := strings.Join(s.panels[0].groups, ","); got != "SET,HSET,SADD,PING,ECHO" {
		t.Errorf("disk groups %s, want SET,HSET,SADD,PING,ECHO", got)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// renderSample renders kind's sample CSV to PNG bytes.
func renderSample(t *testing.T, kind, csv string) []byte {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, kind+".csv")
	if err := os.WriteFile(in, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "charts", kind+".png")
	var stderr bytes.Buffer
	if rc := run([]string{"-in", in, "-kind", kind, "-clients", "50", "-pipeline", "16", "-requests", "300000", "-out", out}, &stderr); rc != 0 {
		t.Fatalf("run exited %d: %s", rc, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRenderDeterministicAndSmall(t *testing.T) {
	for kind, csv := range samples {
		t.Run(kind, func(t *testing.T) {
			a := renderSample(t, kind, csv)
			b := renderSample(t, kind, csv)
			if !bytes.Equal(a, b) {
				t.Error("two renderings of the same CSV differ")
			}
			if len(a) >= 100<<10 {
				t.Errorf("PNG is %d bytes, want < 100 KiB", len(a))
			}
			img := decode(t, a)
			if got := img.Bounds().Size(); got != (image.Point{960, 600}) {
				t.Errorf("size %v, want 960x600", got)
			}
			// Every target of the data shows its colour; none other does.
			present := map[color.RGBA]bool{}
			for _, tg := range summarize(kinds[kind], mustRows(t, kind, csv)).targets {
				present[tg.colour] = true
				if n := countColour(img, tg.colour); n < 500 {
					t.Errorf("target %s: %d pixels of its colour, want bars", tg.id, n)
				}
			}
			for _, c := range []color.RGBA{grey, blue, orange, green} {
				if !present[c] && countColour(img, c) > 0 {
					t.Errorf("colour %v drawn, but no target of the data has it", c)
				}
			}
		})
	}
}

func mustRows(t *testing.T, kind, csv string) []row {
	t.Helper()
	rows, err := readRows(kinds[kind], strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// decode decodes a PNG that encodePNG wrote: a paletted image.
func decode(t *testing.T, b []byte) *image.Paletted {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := img.(*image.Paletted)
	if !ok {
		t.Fatalf("decoded a %T, want a paletted image", img)
	}
	return p
}

// index returns c's palette index in img, or -1 when the palette does not
// hold c exactly.
func index(img *image.Paletted, c color.RGBA) int {
	i := img.Palette.Index(c)
	if color.RGBAModel.Convert(img.Palette[i]) != c {
		return -1
	}
	return i
}

func countColour(img *image.Paletted, c color.RGBA) int {
	i := index(img, c)
	n := 0
	for _, v := range img.Pix {
		if int(v) == i {
			n++
		}
	}
	return n
}

// tallestRun returns the longest vertical run of colour c in rows
// [y0, y1) of img: the height in pixels of the tallest bar of that colour.
func tallestRun(img *image.Paletted, c color.RGBA, y0, y1 int) int {
	i := index(img, c)
	best := 0
	b := img.Bounds()
	for x := b.Min.X; x < b.Max.X; x++ {
		run := 0
		for y := y0; y < y1; y++ {
			if int(img.ColorIndexAt(x, y)) == i {
				run++
				best = max(best, run)
			} else {
				run = 0
			}
		}
	}
	return best
}

// TestBarHeights checks that bar heights are proportional to the medians:
// one group, redis-server at 40k ops/s and respcache at twice that (its
// median over three rounds), and p99 the other way round.
func TestBarHeights(t *testing.T) {
	csv := "1,redis,GET,40000,0.5,2.0\n1,respcache,GET,80000,0.5,1.0\n" +
		"2,redis,GET,40000,0.5,2.0\n2,respcache,GET,70000,0.5,1.0\n" +
		"3,redis,GET,40000,0.5,2.0\n3,respcache,GET,90000,0.5,1.0\n"
	img := decode(t, renderSample(t, "disk", csv))
	// Rows of the throughput panels and of the p99 panels, in pixels.
	const scale = float64(dpi) / 72
	topEnd := int((headerH + throughputH) * scale)
	hRedis, hRC := tallestRun(img, grey, 0, topEnd), tallestRun(img, blue, 0, topEnd)
	if hRedis < 50 {
		t.Fatalf("redis bar is %d px high", hRedis)
	}
	if r := float64(hRC) / float64(hRedis); r < 1.95 || r > 2.05 {
		t.Errorf("throughput: respcache bar %d px, redis %d px: ratio %.3f, want 2", hRC, hRedis, r)
	}
	pRedis, pRC := tallestRun(img, grey, topEnd, img.Bounds().Max.Y), tallestRun(img, blue, topEnd, img.Bounds().Max.Y)
	if r := float64(pRedis) / float64(pRC); r < 1.9 || r > 2.1 {
		t.Errorf("p99: redis bar %d px, respcache %d px: ratio %.3f, want 2", pRedis, pRC, r)
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "disk.csv")
	if err := os.WriteFile(good, []byte(diskCSV), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte("1,redis,SET,x,1,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.png")
	tests := []struct {
		name string
		args []string
		rc   int
		msg  string
	}{
		{"no flags", nil, 1, "-in and -out are required"},
		{"unknown kind", []string{"-in", good, "-out", out, "-kind", "latency"}, 1, "unknown -kind"},
		{"missing file", []string{"-in", filepath.Join(dir, "nope.csv"), "-out", out, "-kind", "disk"}, 1, "no such file"},
		{"bad row", []string{"-in", bad, "-out", out, "-kind", "disk"}, 1, "line 1"},
		{"stray argument", []string{"-in", good, "-out", out, "-kind", "disk", "extra"}, 2, "unexpected arguments"},
		{"bad flag", []string{"-bogus"}, 2, "flag provided but not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if rc := run(tc.args, &stderr); rc != tc.rc {
				t.Errorf("exit %d, want %d (%s)", rc, tc.rc, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("stderr %q does not say %q", stderr.String(), tc.msg)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed run wrote %s", out)
			}
		})
	}
}

func TestSubtitle(t *testing.T) {
	tests := []struct {
		cfg    config
		rounds int
		want   string
	}{
		{config{clients: 50, pipeline: 16, requests: "300000"}, 5,
			"redis-benchmark -c 50 -n 300000 -P 16 where pipelined; median of 5 rounds, whiskers: min-max across rounds"},
		{config{note: "GOMAXPROCS=1"}, 1, "redis-benchmark; 1 round, so no spread; GOMAXPROCS=1"},
	}
	for _, tc := range tests {
		if got := tc.cfg.subtitle(tc.rounds); got != tc.want {
			t.Errorf("subtitle = %q, want %q", got, tc.want)
		}
	}
}

// inkWidth draws txt with handler h at 8pt and returns the width in pixels
// from its leftmost to its rightmost inked column.
func inkWidth(h text.Handler, txt string) int {
	c := vgimg.NewWith(vgimg.UseWH(100, 30), vgimg.UseDPI(dpi), vgimg.UseBackgroundColor(color.White))
	sty := style(8, false)
	sty.Handler = h
	dc := vgdraw.New(c)
	dc.FillText(sty, vg.Point{X: 5, Y: 10}, txt)
	img := c.Image()
	first, last := -1, -1
	b := img.Bounds()
	for x := b.Min.X; x < b.Max.X; x++ {
		for y := b.Min.Y; y < b.Max.Y; y++ {
			if r, _, _, _ := img.At(x, y).RGBA(); r < 0x8000 {
				if first < 0 {
					first = x
				}
				last = x
				break
			}
		}
	}
	return last - first + 1
}

// TestRuneTextKerning: "11" drawn by runeText is as wide as gonum measures
// it (so labels centre correctly), where x/image's kerning squeezes it.
func TestRuneTextKerning(t *testing.T) {
	one := inkWidth(runeText{plainText}, "1")
	eleven := inkWidth(runeText{plainText}, "11")
	sty := style(8, false)
	advance := int(math.Round(sty.Width("1").Dots(dpi)))
	if d := eleven - one; d < advance-1 || d > advance+1 {
		t.Errorf(`runeText: "11" is %d px of ink, "1" %d px: second 1 starts %d px after the first, want the advance %d px`, eleven, one, d, advance)
	}
	plain := inkWidth(plainText, "11")
	t.Logf(`ink widths: "1" %d px, "11" %d px with runeText, %d px with text.Plain`, one, eleven, plain)
}
