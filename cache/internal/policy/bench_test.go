package policy

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// BenchmarkAccess is the cache-hit path: one Access on a resident entry.
func BenchmarkAccess(b *testing.B) {
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			const n = 1 << 16
			p, _ := New(name, Config{Capacity: n, Evict: func(uint32) {}})
			for id := range uint32(n) {
				p.Admit(id, uint64(id), 1)
			}
			ids := make([]uint32, 1<<12)
			r := rand.New(rand.NewPCG(1, 1))
			for i := range ids {
				ids[i] = uint32(r.IntN(n))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				id := ids[i&(len(ids)-1)]
				p.Access(id, uint64(id))
			}
		})
	}
}

// BenchmarkMissAdmit is the miss path at steady state: Miss, then Admit of a
// new key, which evicts one entry.
func BenchmarkMissAdmit(b *testing.B) {
	for _, name := range Names() {
		for _, n := range []int{1 << 10, 1 << 20} {
			b.Run(name+"/"+strconv.Itoa(n), func(b *testing.B) {
				var free []uint32
				p, _ := New(name, Config{Capacity: int64(n), Evict: func(id uint32) { free = append(free, id) }})
				next := uint32(0)
				add := func(h uint64) {
					var id uint32
					if k := len(free); k > 0 {
						id, free = free[k-1], free[:k-1]
					} else {
						id = next
						next++
					}
					if !p.Admit(id, h, 1) {
						free = append(free, id)
					}
				}
				for i := range n {
					add(uint64(i))
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := uint64(0); b.Loop(); i++ {
					h := uint64(n) + i
					p.Miss(h)
					add(h)
				}
			})
		}
	}
}
