package policy

import "math/bits"

const (
	sketchResetMask = 0x7777777777777777
	sketchOneMask   = 0x1111111111111111
)

// sketch is a count-min sketch of 4-bit counters estimating how often a key
// hash was seen recently (the TinyLFU frequency histogram). The layout is
// Caffeine's: a key maps to one 64-byte block of eight words, and its four
// counters sit in four different word pairs of that block, so an estimate
// touches one cache line. After sampleSize increments every counter is halved
// (aging), which makes the histogram follow a changing popularity.
//
// The table holds 16 counters per expected resident entry (8 bytes/entry);
// that is shared state, not per-entry state.
type sketch struct {
	table      []uint64
	blockMask  uint64
	size       uint64
	sampleSize uint64
	factor     uint64 // sampleSize = factor * entries
}

func newSketch(factor uint64) sketch { return sketch{factor: factor} }

// ensureCapacity sizes the table for about entries resident entries. The
// table only grows, by doubling, and growing keeps the history: a key's block
// is the low bits of its hash, so the new blocks b and b+old are both copies
// of old block b and every estimate is unchanged.
func (s *sketch) ensureCapacity(entries int) {
	entries = max(entries, 8)
	if len(s.table) >= entries {
		return
	}
	size := 1 << bits.Len(uint(entries-1))
	table := make([]uint64, size)
	for i := 0; i < size && len(s.table) > 0; i += len(s.table) {
		copy(table[i:], s.table)
	}
	if len(s.table) == 0 {
		s.size = 0
	} else {
		s.size *= uint64(size / len(s.table))
	}
	s.table = table
	s.blockMask = uint64(size>>3) - 1
	s.sampleSize = s.factor * uint64(entries)
}

func (s *sketch) ready() bool { return s.table != nil }

// mix is a 64-bit finalizer (splitmix64), so owners may pass weak hashes.
func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

func (s *sketch) frequency(hash uint64) uint8 {
	if s.table == nil {
		return 0
	}
	h := mix(hash)
	block := (h & s.blockMask) << 3
	ch := h >> 32
	f := uint64(15)
	for i := uint64(0); i < 4; i++ {
		x := ch >> (i << 3)
		idx := (x >> 1) & 15
		slot := block + (x & 1) + (i << 1)
		f = min(f, (s.table[slot]>>(idx<<2))&15)
	}
	return uint8(f)
}

// increment counts one occurrence of hash; saturated counters stay at 15.
func (s *sketch) increment(hash uint64) {
	if s.table == nil {
		return
	}
	h := mix(hash)
	block := (h & s.blockMask) << 3
	ch := h >> 32
	added := false
	for i := uint64(0); i < 4; i++ {
		x := ch >> (i << 3)
		shift := ((x >> 1) & 15) << 2
		slot := block + (x & 1) + (i << 1)
		if (s.table[slot]>>shift)&15 != 15 {
			s.table[slot] += 1 << shift
			added = true
		}
	}
	if added {
		s.size++
		if s.size >= s.sampleSize {
			s.reset()
		}
	}
}

// reset halves every counter. size is adjusted for the truncation of odd
// counters, as Caffeine does.
func (s *sketch) reset() {
	odd := 0
	for i, w := range s.table {
		odd += bits.OnesCount64(w & sketchOneMask)
		s.table[i] = (w >> 1) & sketchResetMask
	}
	s.size = (s.size - uint64(odd>>2)) >> 1
}
