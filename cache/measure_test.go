package cache

import (
	"bufio"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The measurements behind BENCHMARKS.md. They take minutes and gigabytes,
// so they run only with -cache.measure:
//
//	go test ./cache -run Measure -cache.measure -v -timeout 30m
var measure = flag.Bool("cache.measure", false, "run the long measurements (bytes per item, GC at 10M items, write storm)")

func needMeasure(t *testing.T) {
	if !*measure {
		t.Skip("long measurement: run with -cache.measure")
	}
}

func readMetric(name string) metrics.Value {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value
}

func rssBytes(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// TestMeasureBytesPerItem: 16-byte keys, 64-byte values. The cache is
// sized for about 1M such items and fed 2M distinct keys, so it is full
// and evicting; bytes per item is everything charged to the quota divided
// by the items held, slack and dead space included.
func TestMeasureBytesPerItem(t *testing.T) {
	needMeasure(t)
	for _, quota := range []int64{100 << 20} {
		c := newBenchCache(t, Config{MaxMemory: quota})
		k := make([]byte, 16)
		val := make([]byte, 64)
		for i := uint64(0); i < 2_000_000; i++ {
			if err := c.Set(0, benchKey(k, i), val, 0, 0); err != nil {
				t.Fatal(err)
			}
		}
		st := c.Stats()
		per := float64(st.Used) / float64(st.Items)
		t.Logf("quota %d MiB: items %d, used %d, %.1f bytes/item (payload 80, overhead %.1f)", quota>>20, st.Items, st.Used, per, per-80)
		t.Logf("  per item: headers %.2f, index %.2f, slots %.2f, policy %.2f, dead %.2f, free %.2f",
			float64(st.Headers)/float64(st.Items), float64(st.Index)/float64(st.Items), float64(st.Slots)/float64(st.Items),
			float64(st.Policy)/float64(st.Items), float64(st.Dead)/float64(st.Items), float64(st.Free)/float64(st.Items))
		if per > 100 {
			t.Errorf("%.1f bytes per item, goal <= 100", per)
		}
	}
}

// TestMeasureGC: 10M items; the cache's contribution to the GC's scan work
// and a forced GC's pause; then GC CPU share and Get p99.9 under a mixed
// load, with the collector on and off.
func TestMeasureGC(t *testing.T) {
	needMeasure(t)
	runtime.GC()
	scan0 := readMetric("/gc/scan/heap:bytes").Uint64()
	c := newBenchCache(t, Config{MaxMemory: 2 << 30})
	k := make([]byte, 16)
	val := make([]byte, 64)
	const n = 10_000_000
	for i := uint64(0); i < n; i++ {
		if err := c.Set(0, benchKey(k, i), val, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	st := c.Stats()
	runtime.GC()
	scan1 := readMetric("/gc/scan/heap:bytes").Uint64()
	// Forced GC wall time, best and worst of 5 (the machine is shared), and
	// the stop-the-world pauses from runtime/metrics.
	gcTime, gcWorst := time.Hour, time.Duration(0)
	for range 5 {
		start := time.Now()
		runtime.GC()
		d := time.Since(start)
		gcTime, gcWorst = min(gcTime, d), max(gcWorst, d)
	}
	t.Logf("forced GC: best %v worst %v", gcTime, gcWorst)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("items %d used %d MiB (segments %d, index %d, slots %d, policy %d MiB); scannable heap %d -> %d bytes (+%d); forced GC %v; HeapAlloc %d MiB; RSS %d MiB",
		st.Items, st.Used>>20, st.Segments>>20, st.Index>>20, st.Slots>>20, st.Policy>>20, scan0, scan1, int64(scan1)-int64(scan0), gcTime, ms.HeapAlloc>>20, rssBytes(t)>>20)
	if int64(scan1)-int64(scan0) > 1<<20 {
		t.Errorf("cache adds %d bytes of scannable heap, goal < 1 MiB", int64(scan1)-int64(scan0))
	}
	if gcTime > 5*time.Millisecond {
		t.Errorf("forced GC took %v, goal < 5ms", gcTime)
	}

	mixed := func() (p999 time.Duration, gcShare float64) {
		cyc0 := readMetric("/gc/cycles/total:gc-cycles").Uint64()
		defer func() { t.Logf("GC cycles during the run: %d", readMetric("/gc/cycles/total:gc-cycles").Uint64()-cyc0) }()
		gc0 := readMetric("/cpu/classes/gc/total:cpu-seconds").Float64()
		tot0 := readMetric("/cpu/classes/total:cpu-seconds").Float64()
		done := make(chan []time.Duration, 2)
		for g := 0; g < 2; g++ {
			go func() {
				r := rand.New(rand.NewPCG(uint64(g), 5))
				z := rand.NewZipf(r, 1.01, 1, n-1)
				k := make([]byte, 16)
				dst := make([]byte, 0, 128)
				val := make([]byte, 64)
				lat := make([]time.Duration, 0, 200_000)
				for i := 0; i < 2_000_000; i++ {
					key := benchKey(k, z.Uint64())
					if i%10 == 0 {
						c.Set(0, key, val, 0, 0)
						continue
					}
					if i%10 == 1 {
						s := time.Now()
						dst, _, _, _ = c.GetInto(dst, 0, key)
						lat = append(lat, time.Since(s))
						continue
					}
					dst, _, _, _ = c.GetInto(dst, 0, key)
					// A request's worth of garbage, as a server would make.
					_ = append([]byte(nil), dst...)
				}
				done <- lat
			}()
		}
		var all []time.Duration
		for g := 0; g < 2; g++ {
			all = append(all, <-done...)
		}
		slices.Sort(all)
		gc1 := readMetric("/cpu/classes/gc/total:cpu-seconds").Float64()
		tot1 := readMetric("/cpu/classes/total:cpu-seconds").Float64()
		return all[len(all)*999/1000], (gc1 - gc0) / math.Max(tot1-tot0, 1e-9)
	}
	p999on, share := mixed()
	old := debug.SetGCPercent(-1)
	p999off, _ := mixed()
	debug.SetGCPercent(old)
	t.Logf("mixed 90/10 Get/Set, 2 goroutines: GC CPU share %.2f%%; Get p99.9 %v with GC, %v with GOGC=off (ratio %.2f)",
		share*100, p999on, p999off, float64(p999on)/float64(p999off))
	if share > 0.02 {
		t.Errorf("GC CPU %.2f%%, goal < 2%%", share*100)
	}
}

// stormSize draws a value size: small mix (16 B..1 KiB) or large mix
// (4 KiB..64 KiB), log-uniform.
func stormSize(r *rand.Rand, large bool) int {
	lo, hi := 16.0, 1024.0
	if large {
		lo, hi = 4096, 65536
	}
	return int(math.Exp(math.Log(lo) + r.Float64()*(math.Log(hi)-math.Log(lo))))
}

// TestMeasureWriteStorm writes 10x the quota with the size mix changing
// halfway, checking the accounted bytes against the quota throughout and
// RSS at the end; then compares the hit ratio on the new mix with a fresh
// cache's.
func TestMeasureWriteStorm(t *testing.T) {
	needMeasure(t)
	const quota = 256 << 20
	debug.SetGCPercent(50)
	defer debug.SetGCPercent(100)
	c := newBenchCache(t, Config{MaxMemory: quota})
	r := rand.New(rand.NewPCG(1, 1))
	buf := make([]byte, 65536)
	k := make([]byte, 16)
	var written int64
	var maxUsed, maxRSS int64
	for i := uint64(0); written < 10*quota; i++ {
		large := written >= 5*quota
		sz := stormSize(r, large)
		c.Set(0, benchKey(k, i), buf[:sz], 0, 0)
		written += int64(sz)
		if i%512 == 0 {
			st := c.Stats()
			maxUsed = max(maxUsed, st.Used)
			if st.Used > quota {
				t.Fatalf("used %d > quota %d", st.Used, quota)
			}
		}
		if i%8192 == 0 {
			maxRSS = max(maxRSS, rssBytes(t))
		}
	}
	rss := rssBytes(t)
	maxRSS = max(maxRSS, rss)
	st := c.Stats()
	t.Logf("storm: wrote %d MiB; max used %d (quota %d); RSS now %d MiB, max %d MiB (limit %d MiB); compactions %d moved %d MiB",
		written>>20, maxUsed, int64(quota), rss>>20, maxRSS>>20, (quota*105/100+32<<20)>>20, st.Compactions, st.Moved>>20)
	if maxRSS > quota*105/100+32<<20 {
		t.Errorf("RSS %d MiB above 1.05 x quota + 32 MiB", maxRSS>>20)
	}

	// Hit ratio on the new (large) mix: Zipf over keys with large values,
	// Set on miss; the stormed cache against a fresh one.
	hitRatio := func(c *Cache) float64 {
		r := rand.New(rand.NewPCG(7, 7))
		z := rand.NewZipf(r, 1.05, 1, 40000)
		dst := make([]byte, 0, 65536)
		hits, total := 0, 0
		for i := 0; i < 300_000; i++ {
			n := z.Uint64()
			key := benchKey(k, 1<<40+n)
			var ok bool
			dst, _, _, ok = c.GetInto(dst, 0, key)
			if i >= 100_000 { // after warm-up
				total++
				if ok {
					hits++
				}
			}
			if !ok {
				sz := stormSize(rand.New(rand.NewPCG(n, 0)), true)
				c.Set(0, key, buf[:sz], 0, 0)
			}
		}
		return float64(hits) / float64(total)
	}
	stormed := hitRatio(c)
	fresh := hitRatio(newBenchCache(t, Config{MaxMemory: quota}))
	t.Logf("hit ratio on the new mix: after the storm %.4f, fresh cache %.4f (diff %.2f%%)", stormed, fresh, (fresh-stormed)*100)
	if fresh-stormed > 0.05 {
		t.Errorf("stormed cache hit ratio %.4f vs fresh %.4f: more than 5%% apart", stormed, fresh)
	}
}
