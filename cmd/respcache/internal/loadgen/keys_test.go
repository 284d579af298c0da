package loadgen

import (
	"fmt"
	"testing"
)

func TestScrambleIsBijection(t *testing.T) {
	for _, n := range []uint64{1, 2, 3, 4, 5, 7, 8, 100, 1000, 4096, 65537, 100_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := NewScramble(n)
			seen := make([]bool, n)
			for r := range n {
				k := s.Map(r)
				if k >= n {
					t.Fatalf("Map(%d) = %d, out of [0, %d)", r, k, n)
				}
				if seen[k] {
					t.Fatalf("Map(%d) = %d, already produced by another rank", r, k)
				}
				seen[k] = true
			}
		})
	}
}

// TestScrambleHugeKeySpace covers key spaces beyond uint32, where ranks
// are not tabulated.
func TestScrambleHugeKeySpace(t *testing.T) {
	const n = 1<<33 + 5
	s := NewScramble(n)
	seen := map[uint64]bool{}
	for r := range uint64(2000) {
		for _, rank := range []uint64{r, n - 1 - r} {
			k := s.Map(rank)
			if k >= n || seen[k] {
				t.Fatalf("Map(%d) = %d: out of range or repeated", rank, k)
			}
			seen[k] = true
		}
	}
}

// TestScrambleSpreadsHotRanks checks the point of the scramble: the hottest
// ranks land on key numbers that are neither adjacent nor equal to the rank.
func TestScrambleSpreadsHotRanks(t *testing.T) {
	const n = 100_000
	s := NewScramble(n)
	var hot []uint64
	identity := 0
	for r := range uint64(20) {
		k := s.Map(r)
		if k == r {
			identity++
		}
		for _, h := range hot {
			if k == h+1 || h == k+1 {
				t.Errorf("hot ranks map to adjacent keys %d and %d", h, k)
			}
		}
		hot = append(hot, k)
	}
	if identity > 1 {
		t.Errorf("%d of the 20 hottest ranks map to themselves: %v", identity, hot)
	}
	// Fixed: the same in every process, independent of any seed.
	if a, b := ptr(NewScramble(n)).Map(0), s.Map(0); a != b {
		t.Fatalf("Map(0) = %d then %d", a, b)
	}
	// The table and the network agree.
	for r := range uint64(scrambleTable + 10) {
		if a, b := s.Map(r), s.walk(r); a != b {
			t.Fatalf("rank %d: table says %d, network %d", r, a, b)
		}
	}
}

func BenchmarkScrambleWalk(b *testing.B) {
	s := NewScramble(100_000)
	b.ReportAllocs()
	var r, sink uint64
	for b.Loop() {
		sink += s.walk(r % 100_000)
		r++
	}
	_ = sink
}
