package proxy

import (
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/respcache/respcache/cache"
	"github.com/respcache/respcache/internal/redistest"
	"github.com/respcache/respcache/resp"
	"github.com/respcache/respcache/store/redis"
)

// zipf draws ranks 0..n-1 with P(k) proportional to 1/(k+1)^s, for any
// s > 0 (math/rand's Zipf needs s > 1), by inverting the cumulative table.
type zipf struct {
	cdf []float64
	rng *rand.Rand
}

func newZipf(n int, s float64, seed uint64) *zipf {
	z := &zipf{cdf: make([]float64, n), rng: rand.New(rand.NewPCG(seed, seed^0x9e37))}
	sum := 0.0
	for k := 0; k < n; k++ {
		sum += 1 / math.Pow(float64(k+1), s)
		z.cdf[k] = sum
	}
	for k := range z.cdf {
		z.cdf[k] /= sum
	}
	return z
}

func (z *zipf) next() int {
	return min(sort.SearchFloat64s(z.cdf, z.rng.Float64()), len(z.cdf)-1)
}

// TestCacheUpstreamRelief drives a Zipf(s=1.0) read workload through
// respcache and checks that the upstream receives no more reads than the
// cache's own simulation of the same sequence (the same cache code, fed
// directly) predicts as misses. Short form in CI: 100k keys, a 6.4MiB quota;
// REDISTEST_LONG=1 runs the size: 1M keys, 64MiB.
func TestCacheUpstreamRelief(t *testing.T) {
	keys, quota, requests := 100_000, int64(64<<20)/10, 400_000
	if os.Getenv("REDISTEST_LONG") == "1" {
		keys, quota, requests = 1_000_000, 64<<20, 4_000_000
	}
	const valueSize = 100
	value := make([]byte, valueSize)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	key := func(i int) []byte { return []byte("key:" + strconv.Itoa(i)) }

	z := newZipf(keys, 1.0, 42)
	seq := make([]int32, requests)
	for i := range seq {
		seq[i] = int32(z.next())
	}

	// The prediction: the same sequence through a cache of the same quota,
	// items encoded as the proxy encodes them.
	sim, err := cache.New(cache.Config{MaxMemory: quota})
	if err != nil {
		t.Fatal(err)
	}
	enc := appendCvalHeader(nil, 0)
	enc = append(enc, value...)
	var simMisses int
	for _, r := range seq {
		k := key(int(r))
		if _, _, _, ok := sim.Get(0, k); !ok {
			simMisses++
			sim.Set(0, k, enc, tagString, 0)
		}
	}
	sim.Close()

	rs := redistest.Start(t)
	load, err := redistest.DialRaw(rs.Addr(), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var buf []byte
	for i := 0; i < keys; i++ {
		buf = resp.AppendCommand(buf, []byte("SET"), key(i), value)
		if i%1000 == 999 || i == keys-1 {
			load.SendRaw(buf)
			for j := 0; j <= i%1000; j++ {
				if _, err := load.ReadReply(); err != nil {
					t.Fatal(err)
				}
			}
			buf = buf[:0]
		}
	}
	load.Do("CONFIG", "RESETSTAT")
	load.Close()

	c, err := cache.New(cache.Config{MaxMemory: quota})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := startProxy(t, Config{Cache: CacheConfig{Cache: c, Invalidation: "off"}}, redis.Config{Addrs: []string{rs.Addr()}})

	// Four connections, each taking every fourth request in order, pipelined
	// 16 deep: close to the sequence's own order.
	const conns, depth = 4, 16
	var wg sync.WaitGroup
	for ci := 0; ci < conns; ci++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := redistest.DialRaw(p.Addr, 30*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			var out []byte
			pending := 0
			for i := ci; i < len(seq); i += conns {
				out = resp.AppendCommand(out, []byte("GET"), key(int(seq[i])))
				pending++
				if pending == depth || i+conns >= len(seq) {
					if err := conn.SendRaw(out); err != nil {
						t.Error(err)
						return
					}
					for ; pending > 0; pending-- {
						r, err := conn.ReadReply()
						if err != nil || len(r) != len(value)+8 {
							t.Errorf("GET reply %q %v", r, err)
							return
						}
					}
					out = out[:0]
				}
			}
		}()
	}
	wg.Wait()
	direct := redistest.Dial(t, rs.Addr())
	upstream := cmdCalls(t, direct, "get")
	predicted := float64(simMisses) / float64(requests)
	measured := float64(upstream) / float64(requests)
	t.Logf("%d Zipf(1.0) reads over %d keys, quota %d MiB: upstream reads %d (miss ratio %.4f), simulated misses %d (%.4f)",
		requests, keys, quota>>20, upstream, measured, simMisses, predicted)
	if limit := int(float64(simMisses)*1.05) + 100; upstream > limit {
		t.Errorf("upstream got %d reads, more than the simulated %d misses + 5%%", upstream, simMisses)
	}
}
