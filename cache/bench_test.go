package cache

import (
	"encoding/binary"
	"flag"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

var benchPolicy = flag.String("cache.policy", "", `policy for benchmarks and measurements: "" (adaptive), "lru", or "test" (the test LRU)`)

func benchConfig(cfg Config) Config {
	if *benchPolicy == "test" {
		cfg.newPolicy = newTestLRU
	} else {
		cfg.Policy = *benchPolicy
	}
	return cfg
}

func newBenchCache(b testing.TB, cfg Config) *Cache {
	c, err := New(benchConfig(cfg))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// benchKey writes a 16-byte key for n into k.
func benchKey(k []byte, n uint64) []byte {
	k = k[:16]
	copy(k, "key:")
	binary.BigEndian.PutUint64(k[8:], n)
	binary.BigEndian.PutUint32(k[4:], uint32(n*2654435761))
	return k
}

const benchKeys = 1 << 20

// zipfKeys precomputes n Zipf(1.01) key numbers below max, so that the
// benchmarks time the cache, not the generator (~90 ns per draw).
func zipfKeys(seed uint64, n int, max uint64) []uint64 {
	z := rand.NewZipf(rand.New(rand.NewPCG(seed, 1)), 1.01, 1, max-1)
	out := make([]uint64, n)
	for i := range out {
		out[i] = z.Uint64()
	}
	return out
}

// BenchmarkGet: Get of a 64-byte value, Zipf(1.01) keys over 1M resident
// items, on every core (b.RunParallel). Question: how many hits per second
// does the cache serve, and does a hit allocate? BenchmarkGetHot does the
// same over 10K items, which fit in the CPU caches.
func BenchmarkGet(b *testing.B)    { benchGet(b, benchKeys) }
func BenchmarkGetHot(b *testing.B) { benchGet(b, 10_000) }

func benchGet(b *testing.B, nkeys uint64) {
	c := newBenchCache(b, Config{MaxMemory: 512 << 20})
	val := make([]byte, 64)
	k := make([]byte, 16)
	for i := uint64(0); i < nkeys; i++ {
		if err := c.Set(0, benchKey(k, i), val, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
	var seed atomic.Uint64
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		keys := zipfKeys(seed.Add(1), 1<<16, nkeys)
		k := make([]byte, 16)
		dst := make([]byte, 0, 128)
		miss := 0
		for i := 0; pb.Next(); i++ {
			var ok bool
			dst, _, _, ok = c.GetInto(dst, 0, benchKey(k, keys[i&(1<<16-1)]))
			if !ok {
				miss++
			}
		}
		if miss > 0 {
			b.Errorf("%d misses on resident keys", miss)
		}
	})
}

// BenchmarkSet: Set of 64-byte values, Zipf keys over 1M, every core, in a
// cache that holds them all (overwrites) — and BenchmarkSetEvict in one
// that holds a quarter (every new key evicts).
func BenchmarkSet(b *testing.B)      { benchSet(b, 512<<20) }
func BenchmarkSetEvict(b *testing.B) { benchSet(b, 24<<20) }

func benchSet(b *testing.B, quota int64) {
	c := newBenchCache(b, Config{MaxMemory: quota})
	var seed atomic.Uint64
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		keys := zipfKeys(seed.Add(1), 1<<16, benchKeys)
		k := make([]byte, 16)
		val := make([]byte, 64)
		for i := 0; pb.Next(); i++ {
			if err := c.Set(0, benchKey(k, keys[i&(1<<16-1)]), val, 0, time.Hour); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkMixed: 90% Get / 10% Set, Zipf keys, every core.
func BenchmarkMixed(b *testing.B) {
	c := newBenchCache(b, Config{MaxMemory: 256 << 20})
	val := make([]byte, 64)
	k := make([]byte, 16)
	for i := uint64(0); i < benchKeys; i++ {
		c.Set(0, benchKey(k, i), val, 0, 0)
	}
	var seed atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		keys := zipfKeys(seed.Add(1), 1<<16, benchKeys)
		k := make([]byte, 16)
		dst := make([]byte, 0, 128)
		for i := 0; pb.Next(); i++ {
			key := benchKey(k, keys[i&(1<<16-1)])
			if i%10 == 0 {
				c.Set(0, key, val, 0, 0)
			} else {
				dst, _, _, _ = c.GetInto(dst, 0, key)
			}
		}
	})
}
