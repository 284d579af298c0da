package policy

import (
	"math/rand/v2"
	"testing"
)

// replay drives p in count mode with keys from next and returns it.
func replay(p *tinyLFU, n int, next func() uint64) {
	index := map[uint64]uint32{}
	var keyOf []uint64
	var free []uint32
	p.cfg.Evict = func(id uint32) { delete(index, keyOf[id]); free = append(free, id) }
	p.cfg.Hash = func(id uint32) uint64 { return keyOf[id] }
	for range n {
		k := next()
		if id, ok := index[k]; ok {
			p.Access(id, k)
			continue
		}
		p.Miss(k)
		var id uint32
		if m := len(free); m > 0 {
			id, free = free[m-1], free[:m-1]
		} else {
			id = uint32(len(keyOf))
			keyOf = append(keyOf, 0)
		}
		keyOf[id] = k
		if p.Admit(id, k, 1) {
			index[k] = id
		} else {
			free = append(free, id)
		}
	}
}

// TestMiniSimFollowsWorkload checks the adaptation, not just the
// bookkeeping: a frequency-skewed workload must end with a small window, a
// recency-skewed one with a large window.
func TestMiniSimFollowsWorkload(t *testing.T) {
	const capacity = 2000
	r := rand.New(rand.NewPCG(9, 9))

	freq := newTinyLFU(Config{Capacity: capacity}, adaptiveOptions)
	z := rand.NewZipf(r, 1.1, 10, 1<<30)
	replay(freq, 400_000, z.Uint64)
	if share := float64(freq.windowMax) / capacity; share > 0.05 {
		t.Errorf("Zipf: window share %.3f, want <= 0.05", share)
	}

	// Recency: each step introduces a new key and re-reads one introduced
	// within the last ~1.5 capacities, with no long-term popularity.
	rec := newTinyLFU(Config{Capacity: capacity}, adaptiveOptions)
	step := uint64(0)
	replay(rec, 400_000, func() uint64 {
		step++
		if step%2 == 0 {
			return step
		}
		return step - uint64(r.ExpFloat64()*capacity*0.75)%step
	})
	t.Logf("shares: zipf %.3f recency %.3f", float64(freq.windowMax)/capacity, float64(rec.windowMax)/capacity)
	if share := float64(rec.windowMax) / capacity; share < 0.15 {
		t.Errorf("recency: window share %.3f, want >= 0.15", share)
	}
}

func TestSetCapacityKeepsAdaptation(t *testing.T) {
	p := newTinyLFU(Config{Capacity: 1000}, adaptiveOptions)
	p.windowMax, p.protectedMax = 300, 560
	p.SetCapacity(2000)
	if p.windowMax != 600 || p.protectedMax != 1120 {
		t.Errorf("after doubling: window %d, protected %d; want 600, 1120", p.windowMax, p.protectedMax)
	}
	p.SetCapacity(0)
	p.SetCapacity(1000)
	if p.windowMax != 10 {
		t.Errorf("from zero: window %d, want the initial 10", p.windowMax)
	}
}
