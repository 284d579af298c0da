package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func collect(t *testing.T, read func(add func(uint64)) error) []uint64 {
	t.Helper()
	var ks []uint64
	if err := read(func(k uint64) { ks = append(ks, k) }); err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestReadLIRS(t *testing.T) {
	in := "5\n 7 \n\n5\n18446744073709551615\n*\n9\n"
	got := collect(t, func(add func(uint64)) error { return readLIRS(strings.NewReader(in), add) })
	want := []uint64{5, 7, 5, math.MaxUint64}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"1\nx\n", "-1\n", "1 2\n"} {
		if err := readLIRS(strings.NewReader(bad), func(uint64) {}); err == nil {
			t.Errorf("readLIRS(%q): no error", bad)
		}
	}
}

func TestReadARC(t *testing.T) {
	in := "1 3 0 0\n\n10 1 0 0\n7 0 0 0\n2 2\n"
	got := collect(t, func(add func(uint64)) error { return readARC(strings.NewReader(in), add) })
	want := []uint64{1, 2, 3, 10, 2, 3}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"1\n", "a 1 0 0\n", "1 b 0 0\n", "18446744073709551615 2 0 0\n"} {
		if err := readARC(strings.NewReader(bad), func(uint64) {}); err == nil {
			t.Errorf("readARC(%q): no error", bad)
		}
	}
}

func TestLoadTraceGzip(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "t.txt")
	gz := filepath.Join(dir, "t.gz")
	data := "3 2 0 0\n1 1 0 0\n"
	if err := os.WriteFile(plain, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write([]byte(data))
	w.Close()
	if err := os.WriteFile(gz, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{plain, gz} {
		got, err := loadTrace(p, "arc")
		if err != nil {
			t.Fatal(err)
		}
		if want := []uint64{3, 4, 1}; !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", p, got, want)
		}
	}
	if _, err := loadTrace(filepath.Join(dir, "missing"), "lirs"); err == nil {
		t.Error("missing file: no error")
	}
}

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1048576", 1 << 20, true},
		{"64MiB", 64 << 20, true},
		{"64mib", 64 << 20, true},
		{"1GB", 1e9, true},
		{"1 GiB", 1 << 30, true},
		{"2KB", 2000, true},
		{"3KiB", 3072, true},
		{"5TiB", 5 << 40, true},
		{"100B", 100, true},
		{"", 0, false},
		{"MiB", 0, false},
		{"-1", 0, false},
		{"1.5GiB", 0, false},
		{"1PB", 0, false},
		{"9999999999999GiB", 0, false},
	} {
		got, err := parseSize(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

// TestZipfDistribution compares empirical frequencies with
// P(k) = (v+k)^-s / sum_j (v+j)^-s, within 5 standard deviations for every
// k, and checks a chi-square statistic over all keys.
func TestZipfDistribution(t *testing.T) {
	for _, c := range []struct {
		s, v float64
		n    uint64
	}{
		{1.0001, 10, 50},
		{1, 1, 30},
		{0.6, 1, 40},
		{2.5, 3, 25},
		{1.2, 1, 1000},
	} {
		t.Run(fmt.Sprintf("s=%v,v=%v,n=%d", c.s, c.v, c.n), func(t *testing.T) {
			z, err := newZipf(rand.New(rand.NewPCG(7, 8)), c.s, c.v, c.n)
			if err != nil {
				t.Fatal(err)
			}
			const draws = 500_000
			counts := make([]float64, c.n)
			for range draws {
				k := z.next()
				if k >= c.n {
					t.Fatalf("draw %d out of [0, %d)", k, c.n)
				}
				counts[k]++
			}
			var norm float64
			for k := range c.n {
				norm += math.Pow(c.v+float64(k), -c.s)
			}
			var chi2 float64
			cells := 0
			for k := range c.n {
				p := math.Pow(c.v+float64(k), -c.s) / norm
				exp := p * draws
				if sd := math.Sqrt(draws * p * (1 - p)); math.Abs(counts[k]-exp) > 5*sd+1 {
					t.Errorf("k=%d: %v draws, expected %.1f (sd %.1f)", k, counts[k], exp, sd)
				}
				if exp >= 5 {
					chi2 += (counts[k] - exp) * (counts[k] - exp) / exp
					cells++
				}
			}
			// chi-square with cells-1 degrees of freedom: mean d, sd sqrt(2d).
			d := float64(cells - 1)
			if chi2 > d+6*math.Sqrt(2*d) {
				t.Errorf("chi-square %.1f over %d cells: not the Zipf distribution", chi2, cells)
			}
		})
	}
}

// TestZipfLargeKeySpace checks the generator needs no table for 10M keys
// and still gets the head of the distribution right.
func TestZipfLargeKeySpace(t *testing.T) {
	const n = 10_000_000
	s, v := 1.0001, 10.0
	z, err := newZipf(rand.New(rand.NewPCG(1, 2)), s, v, n)
	if err != nil {
		t.Fatal(err)
	}
	var norm float64
	for k := range n {
		norm += math.Pow(v+float64(k), -s)
	}
	const draws = 1_000_000
	zeros := 0.0
	tail := 0
	for range draws {
		k := z.next()
		if k >= n {
			t.Fatalf("draw %d out of range", k)
		}
		if k == 0 {
			zeros++
		}
		if k >= n/2 {
			tail++
		}
	}
	p0 := math.Pow(v, -s) / norm
	if sd := math.Sqrt(draws * p0 * (1 - p0)); math.Abs(zeros-p0*draws) > 5*sd {
		t.Errorf("P(0): %v draws, expected %.0f", zeros, p0*draws)
	}
	if tail == 0 {
		t.Error("no draw in the upper half of the key space")
	}
}

func TestZipfRejectsBadParameters(t *testing.T) {
	for _, c := range []struct {
		s, v float64
		n    uint64
	}{{0, 10, 10}, {-1, 10, 10}, {1, 0.5, 10}, {1, 10, 0}, {math.NaN(), 10, 10}, {math.Inf(1), 10, 10}} {
		if _, err := newZipf(nil, c.s, c.v, c.n); err == nil {
			t.Errorf("newZipf(%v, %v, %v): no error", c.s, c.v, c.n)
		}
	}
}

func TestZipfTraceReplays(t *testing.T) {
	tr := zipfTrace(1.0001, 10, 1000, 500, 42)
	var a, b []uint64
	tr(func(k uint64) bool { a = append(a, k); return true })
	tr(func(k uint64) bool { b = append(b, k); return true })
	if len(a) != 500 || !slices.Equal(a, b) {
		t.Fatalf("replays differ or have the wrong length (%d, %d)", len(a), len(b))
	}
}

// lruHitRatio is an independent reference for the end-to-end test.
func lruHitRatio(keys []uint64, capacity int) float64 {
	var order []uint64
	hits := 0
	for _, k := range keys {
		if i := slices.Index(order, k); i >= 0 {
			hits++
			order = append(order[:i], order[i+1:]...)
		} else if len(order) == capacity {
			order = order[1:]
		}
		order = append(order, k)
	}
	return 100 * float64(hits) / float64(len(keys))
}

func TestRunSim(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	keys := make([]uint64, 3000)
	var trace strings.Builder
	for i := range keys {
		keys[i] = uint64(r.IntN(40))
		fmt.Fprintln(&trace, keys[i])
	}
	path := filepath.Join(t.TempDir(), "t.lirs")
	if err := os.WriteFile(path, []byte(trace.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	run := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := runSim(args, &out, &errb)
		return out.String(), errb.String(), code
	}

	out, stderr, code := run("--trace", path, "--format", "lirs", "--capacity", "5,20", "--policy", "lru")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := fmt.Sprintf("capacity=5 hit_ratio=%.2f\ncapacity=20 hit_ratio=%.2f\n", lruHitRatio(keys, 5), lruHitRatio(keys, 20))
	if out != want {
		t.Errorf("lru output:\n%s\nwant:\n%s", out, want)
	}

	out, stderr, code = run("--trace", path, "--format", "lirs", "--capacity", "10", "--policy", "all")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "policy=adaptive capacity=10 hit_ratio=") {
		t.Errorf("--policy all output:\n%s", out)
	}

	// Byte mode through the cache: 40 keys fit in 1 MiB, so only the first
	// access of each key misses.
	out, stderr, code = run("--trace", path, "--format", "lirs", "--max-memory", "1MiB", "--value-size", "100")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	distinct := map[uint64]bool{}
	for _, k := range keys {
		distinct[k] = true
	}
	if want := fmt.Sprintf("max_memory=1MiB hit_ratio=%.2f\n", 100*float64(len(keys)-len(distinct))/float64(len(keys))); out != want {
		t.Errorf("byte mode output %q, want %q", out, want)
	}

	out, stderr, code = run("--format", "zipf", "--keys", "1000", "--requests", "20000", "--capacity", "100")
	if code != 0 || !strings.HasPrefix(out, "capacity=100 hit_ratio=") {
		t.Errorf("zipf: exit %d, output %q, stderr %q", code, out, stderr)
	}

	for _, bad := range [][]string{
		{"--capacity", "10"},
		{"--format", "lirs", "--capacity", "10"},
		{"--format", "nope", "--trace", path, "--capacity", "10"},
		{"--format", "lirs", "--trace", path},
		{"--format", "lirs", "--trace", path, "--capacity", "0"},
		{"--format", "lirs", "--trace", path, "--capacity", "10", "--max-memory", "1MiB"},
		{"--format", "lirs", "--trace", path, "--max-memory", "lots"},
		{"--format", "lirs", "--trace", path, "--capacity", "10", "--policy", "nope"},
		{"--format", "zipf", "--capacity", "10", "--zipf-s", "0"},
		{"--format", "zipf", "--trace", path, "--capacity", "10"},
		{"--format", "lirs", "--trace", path, "--capacity", "10", "extra"},
	} {
		if _, _, code := run(bad...); code != 2 {
			t.Errorf("runSim(%q) = %d, want 2", bad, code)
		}
	}
}
