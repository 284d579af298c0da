package cache

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Hits must not serialize on the policy lock. A hit appends (id, hash) to
// one of numStripes small buffers picked at random (Caffeine's and
// ristretto's read buffers); a full buffer is applied to the policy in one
// batch under Cache.mu when that lock is free at once (TryLock), and
// otherwise by the next writer, which holds Cache.mu anyway. Records are
// dropped when a stripe is busy or full: the policy sees a sample of the
// hits, which is all a frequency/recency estimate needs. Misses are
// recorded the same way (id noID) so the frequency sketch sees them.

const (
	numStripes = 32
	stripeLen  = 64
)

type stripe struct {
	// mu guards n, ids and hashes. Only TryLock is used on the hit path.
	mu     sync.Mutex
	n      int
	ids    [stripeLen]uint32
	hashes [stripeLen]uint64
	// hits and misses are counted per stripe so that 2+ cores do not
	// fight over one counter's cache line.
	hits, misses atomic.Uint64
	_            [64]byte
}

func (c *Cache) record(id uint32, h uint64) {
	st := &c.stripes[rand.Uint32()&(numStripes-1)]
	if id == noID {
		st.misses.Add(1)
	} else {
		st.hits.Add(1)
	}
	if !st.mu.TryLock() {
		return
	}
	if st.n == stripeLen {
		st.mu.Unlock()
		return
	}
	st.ids[st.n], st.hashes[st.n] = id, h
	st.n++
	if st.n < stripeLen {
		st.mu.Unlock()
		return
	}
	if c.mu.TryLock() {
		c.applyLocked(st)
		st.mu.Unlock()
		c.mu.Unlock()
		return
	}
	st.mu.Unlock()
	c.drainReq.Store(true)
}

// applyLocked feeds one stripe to the policy; the caller holds c.mu and
// st.mu. An id may have been removed (or even reused) since the hit was
// recorded: removed ids are skipped, a reused id gets a stray access,
// which is harmless.
func (c *Cache) applyLocked(st *stripe) {
	for i := 0; i < st.n; i++ {
		id, h := st.ids[i], st.hashes[i]
		if id == noID {
			c.pol.Miss(h)
			continue
		}
		s, local := c.splitID(id)
		if int(local) < len(s.slots) && s.slots[local]&slotUsed != 0 {
			c.pol.Access(id, h)
		}
	}
	st.n = 0
}

// drainLocked applies full stripes that hits could not apply themselves.
func (c *Cache) drainLocked() {
	if !c.drainReq.Load() {
		return
	}
	c.drainReq.Store(false)
	for i := range c.stripes {
		st := &c.stripes[i]
		if st.mu.TryLock() {
			if st.n == stripeLen {
				c.applyLocked(st)
			}
			st.mu.Unlock()
		}
	}
}
