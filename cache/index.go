package cache

import (
	"math/bits"
	"sync"

	"github.com/respcache/respcache/pool"
)

// The index of one shard is open addressing over []uint64, in buckets of 8
// entries (one cache line), probed bucket after bucket. An entry is
// tag<<32 | local+1, where tag is 32 bits of the key hash and local the
// item's slot number in the shard. 0 is empty; tombstone marks a deleted
// entry in a bucket that was full (a probe for another key may have passed
// it). Nothing in it is a pointer, so the GC never scans it.
//
// The slot table maps local -> slot word:
//
//	bits  0..43  pool location (pool.LocBits)
//	bits 44..51  namespace id
//	bit  52      dirty
//	bit  63      in use
//
// A free slot holds the next free local+1 in its low 32 bits.

const (
	bucketLen  = 8
	tombstone  = uint64(1<<32 - 1)
	maxLoadNum = 7 // grow beyond 7/8 full
	maxLoadDen = 8

	slotLocMask  = 1<<44 - 1
	slotNSShift  = 44
	slotDirty    = 1 << 52
	slotUsed     = 1 << 63
	slotFreeMask = 1<<32 - 1
)

type shard struct {
	// mu guards idx, nb, count, tombs, slots, nslots and free against
	// concurrent readers. Every writer also holds Cache.mu, so code that
	// holds Cache.mu may read these fields without mu.
	mu     sync.RWMutex
	idx    []uint64
	nb     uint32 // buckets
	count  uint32 // live entries
	tombs  uint32
	slots  []uint64
	nslots uint32 // slots handed out at least once
	free   uint32 // first free local+1; 0 = none
	_      [40]byte
}

func slotLoc(w uint64) uint64 { return w & slotLocMask }
func slotNS(w uint64) uint8   { return uint8(w >> slotNSShift) }

// bucketOf maps the high 32 hash bits (the tag) onto [0, nb) without a
// division (Lemire's fastrange), so the table need not be a power of two
// and can grow by 25% steps, which keeps the index near 8/0.8 = 10 bytes
// per item. Because the bucket derives from the tag, a rehash needs only
// the index itself, not the keys.
func bucketOf(h uint64, nb uint32) uint32 {
	hi, _ := bits.Mul32(uint32(h>>32), nb)
	return hi
}

func tagOf(h uint64) uint64 { return (h >> 32) << 32 }

// probe calls match for each entry with h's tag until match returns true
// (then probe returns the entry's position) or the probe sequence ends
// (then -1).
func (s *shard) probe(h uint64, match func(local uint32) bool) int {
	if s.nb == 0 {
		return -1
	}
	tag := tagOf(h)
	b := bucketOf(h, s.nb)
	for n := uint32(0); n < s.nb; n++ {
		base := int(b) * bucketLen
		grp := s.idx[base : base+bucketLen : base+bucketLen]
		empty := false
		for i, e := range grp {
			if e == 0 {
				empty = true
				continue
			}
			if e&^slotFreeMask == tag && e != tombstone && match(uint32(e)-1) {
				return base + i
			}
		}
		if empty {
			return -1
		}
		if b++; b == s.nb {
			b = 0
		}
	}
	return -1
}

// insert adds local under h; the caller made room (needGrow is false).
func (s *shard) insert(h uint64, local uint32) {
	b := bucketOf(h, s.nb)
	for {
		base := int(b) * bucketLen
		for i := base; i < base+bucketLen; i++ {
			e := s.idx[i]
			if e == 0 || e == tombstone {
				if e == tombstone {
					s.tombs--
				}
				s.idx[i] = tagOf(h) | uint64(local+1)
				s.count++
				return
			}
		}
		if b++; b == s.nb {
			b = 0
		}
	}
}

// deleteAt removes the entry at pos. If its bucket has an empty entry no
// probe sequence continues past the bucket, so the entry can become empty;
// otherwise it becomes a tombstone.
func (s *shard) deleteAt(pos int) {
	base := pos - pos%bucketLen
	v := tombstone
	for _, e := range s.idx[base : base+bucketLen] {
		if e == 0 {
			v = 0
			break
		}
	}
	s.idx[pos] = v
	if v == tombstone {
		s.tombs++
	}
	s.count--
}

// needGrow reports whether one more insert would pass the load limit.
func (s *shard) needGrow() bool {
	return (uint64(s.count)+uint64(s.tombs)+1)*maxLoadDen > uint64(s.nb)*bucketLen*maxLoadNum
}

// nextBuckets is the bucket count after growth (or a same-size rehash when
// tombstones, not entries, fill the table).
func (s *shard) nextBuckets() uint32 {
	if s.nb == 0 {
		return 4
	}
	if uint64(s.tombs)*4 > uint64(s.count) {
		need := (uint64(s.count)+1)*maxLoadDen/maxLoadNum/bucketLen + 1
		if need < uint64(s.nb) {
			return s.nb
		}
	}
	return roundBuckets(s.nb + s.nb/4 + 1)
}

// roundBuckets rounds a large table to whole pages of pool.Words so that
// the bytes charged are the bytes mapped.
func roundBuckets(nb uint32) uint32 {
	const perPage = pool.WordsPage / bucketLen
	if int(nb)*bucketLen >= pool.WordsPage*16 {
		nb = (nb + perPage - 1) / perPage * perPage
	}
	return nb
}

// rehash rebuilds the index into nb buckets and returns the old table,
// which the caller frees (pool.FreeWords) after releasing s.mu.
func (s *shard) rehash(nb uint32) []uint64 {
	old := s.idx
	s.idx = pool.Words(int(nb) * bucketLen)
	s.nb = nb
	s.count, s.tombs = 0, 0
	for _, e := range old {
		if e == 0 || e == tombstone {
			continue
		}
		s.insert(e, uint32(e)-1)
	}
	return old
}

// allocSlot takes a free slot number; the caller grew slots if needed.
func (s *shard) allocSlot() uint32 {
	if s.free != 0 {
		local := s.free - 1
		s.free = uint32(s.slots[local] & slotFreeMask)
		return local
	}
	local := s.nslots
	s.nslots++
	return local
}

func (s *shard) freeSlot(local uint32) {
	s.slots[local] = uint64(s.free)
	s.free = local + 1
}

// needSlots reports whether allocSlot needs a bigger slot table.
func (s *shard) needSlots() bool { return s.free == 0 && int(s.nslots) == len(s.slots) }

func (s *shard) growSlotsLen() int {
	n := len(s.slots) + len(s.slots)/4 + 16
	if n >= pool.WordsPage*16 {
		n = (n + pool.WordsPage - 1) / pool.WordsPage * pool.WordsPage
	}
	return n
}
