package telemetry

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// chromium runs headless Chromium (Debian's package, /usr/bin/chromium)
// with args plus the flags that keep it from touching the network or the
// user's profile, and returns its stdout. The whole process group is
// killed afterwards: Chromium leaves helper processes behind otherwise.
func chromium(t *testing.T, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("TELEMETRYTEST_REQUIRE_CHROMIUM") != "" {
			t.Fatal("chromium not installed (apt-get install chromium); the status page's browser test needs it")
		}
		t.Skip("chromium not installed (apt-get install chromium); the status page's browser test needs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		t.Fatalf("chromium %v: %v\nstderr:\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// TestStatusPageInBrowser renders / in a real headless Chromium and checks
// both the DOM it built and the pixels it painted: each quota bar must be
// filled to used/quota of its width.
func TestStatusPageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	a := startAdminT(t, AdminConfig{Status: func() StatusInfo {
		info := StatusInfo{Version: "v1.4.0-test", Started: time.Now().Add(-time.Hour), Backend: "redis 10.0.0.7:6379 (standalone)", BackendState: "up"}
		fullSnapshot(&info.Cache)
		return info
	}})
	url := "http://" + a.Addr() + "/"

	dom := chromium(t, "--dump-dom", url)
	bars := regexp.MustCompile(`data-quota="([^"]+)" data-used="(\d+)" data-limit="(\d+)" data-pct="([\d.]+)">\s*<div class="head">.*?</div>\s*<div class="bar"><span class="fill (\w+)" style="width: ([\d.]+)%;?"></span>`).FindAllSubmatch(dom, -1)
	type bar struct {
		used, limit int64
		pct, width  float64
		level       string
	}
	got := map[string]bar{}
	for _, m := range bars {
		used, _ := strconv.ParseInt(string(m[2]), 10, 64)
		limit, _ := strconv.ParseInt(string(m[3]), 10, 64)
		pct, _ := strconv.ParseFloat(string(m[4]), 64)
		width, _ := strconv.ParseFloat(string(m[6]), 64)
		got[string(m[1])] = bar{used, limit, pct, width, string(m[5])}
	}
	want := map[string]bar{
		"global":      {64 << 20, 256 << 20, 25, 25, "ok"},
		"ns:session:": {51 << 20, 64 << 20, 79.69, 79.69, "warn"},
		"ns:user:":    {10 << 20, 256 << 20, 3.91, 3.91, "ok"},
		"dirty":       {60 << 20, 64 << 20, 93.75, 93.75, "full"},
	}
	if len(got) != len(want) {
		t.Fatalf("rendered DOM has bars %v, want %v\nDOM:\n%s", got, want, dom)
	}
	for id, w := range want {
		g := got[id]
		if g != w {
			t.Errorf("bar %s = %+v, want %+v", id, g, w)
		}
		if exact := float64(g.used) / float64(g.limit) * 100; exact-g.width > 0.005 || g.width-exact > 0.005 {
			t.Errorf("bar %s width %v%%, used/limit is %v%%", id, g.width, exact)
		}
	}
	for _, num := range []string{`id="hits">900<`, `id="misses">100<`, `id="hit-ratio">90.0%<`, `id="items">4242<`, `id="evictions">7<`, `id="connections">37<`, `id="tracking" class="state-up">up<`} {
		if !bytes.Contains(dom, []byte(num)) {
			t.Errorf("rendered DOM lacks %s", num)
		}
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	chromium(t, "--screenshot="+shot, "--window-size=1000,1100", url)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if keep := os.Getenv("TELEMETRY_SCREENSHOT"); keep != "" {
		raw, _ := os.ReadFile(shot)
		_ = os.WriteFile(keep, raw, 0o644)
	}
	// The longest run of each level's colour is one bar of this fixture
	// (the global one for ok, longer than user:'s); the track colour
	// continues it to the bar's full width.
	track := color.RGBA{0xed, 0xf0, 0xf5, 0xff}
	for _, c := range []struct {
		level string
		fill  color.RGBA
		pct   float64
	}{
		{"ok", color.RGBA{0x2e, 0x9d, 0x57, 0xff}, 25},
		{"warn", color.RGBA{0xd9, 0x9a, 0x17, 0xff}, 79.69},
		{"full", color.RGBA{0xd2, 0x41, 0x3a, 0xff}, 93.75},
	} {
		fillPx, trackPx := measureBar(img, c.fill, track)
		if fillPx == 0 {
			t.Errorf("%s bar: no %v pixels painted", c.level, c.fill)
			continue
		}
		painted := float64(fillPx) / float64(fillPx+trackPx) * 100
		if painted < c.pct-1.5 || painted > c.pct+1.5 {
			t.Errorf("%s bar painted %d of %d px (%.1f%%), want %.2f%%", c.level, fillPx, fillPx+trackPx, painted, c.pct)
		}
	}
}

// measureBar finds the row with the longest run of fill and returns that
// run's length and the length of the track-coloured run right after it.
func measureBar(img image.Image, fill, track color.RGBA) (fillPx, trackPx int) {
	same := func(x, y int, c color.RGBA) bool {
		r, g, b, _ := img.At(x, y).RGBA()
		d := func(a uint32, b uint8) bool { v := int(a>>8) - int(b); return v >= -3 && v <= 3 }
		return d(r, c.R) && d(g, c.G) && d(b, c.B)
	}
	bnd := img.Bounds()
	for y := bnd.Min.Y; y < bnd.Max.Y; y++ {
		for x := bnd.Min.X; x < bnd.Max.X; x++ {
			if !same(x, y, fill) {
				continue
			}
			end := x
			for end < bnd.Max.X && same(end, y, fill) {
				end++
			}
			if end-x > fillPx {
				fillPx = end - x
				// Anti-aliased pixels at the fill's rounded end are neither colour.
				tx := end
				for tx < bnd.Max.X && tx < end+3 && !same(tx, y, track) {
					tx++
				}
				tend := tx
				for tend < bnd.Max.X && same(tend, y, track) {
					tend++
				}
				trackPx = tend - end
			}
			x = end
		}
	}
	return fillPx, trackPx
}
