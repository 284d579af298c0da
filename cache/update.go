package cache

import (
	"bytes"
	"context"
	"time"
)

// Guarded writes and asynchronous fills: what a proxy needs to keep a
// local copy in step with a backend that it reaches over a network.
//
// A write-through proxy learns a key's new value only when the backend
// acknowledges the write. Between sending the write and storing the value,
// three things can make the value wrong:
//
//  1. Another writer changes the key after our write, and its invalidation
//     (CLIENT TRACKING) arrives before we store: storing our value would
//     keep it until the next change.
//  2. Another client of the proxy writes the key too; both writes are
//     acknowledged, in some order, and the replies are processed in the
//     other order: the older value would be stored last.
//  3. Another write of the key is still in flight: it may already have
//     executed in the backend, after ours, and a fill may already have read
//     its value and answered a client with it. Storing our (older) value
//     would let a later hit go back in time (found by the linearizability
//     check: a GET saw 78 from a fill, the next GET saw 77 from the cache).
//
// So the proxy calls BeginWrite for every key of a write before sending it,
// and CommitWrite when its reply arrived. Every change of a key (Set,
// Delete, Invalidate*, SetDirty, Expire, CommitWrite) moves the key's
// version; CommitWrite stores only if the version did not move since
// BeginWrite and no other write of the key is in flight, and drops the key
// otherwise. A fill is not stored either while a write of its key is in
// flight. Dropping is always safe: the next read fills from the backend.
//
// Versions and in-flight counts live in fixed tables indexed by key hash,
// so two keys may share a slot: then one key's write costs the other a
// drop or an unstored fill, never a wrong value.

// numGuards is the size of the version and in-flight tables (12 bytes a
// slot: 192 KiB, a fixed overhead outside the quota).
const numGuards = 1 << 14

func (c *Cache) bumpGuard(h uint64) { c.guards[h&(numGuards-1)].Add(1) }

func (c *Cache) bumpAllGuards() {
	for i := range c.guards {
		c.guards[i].Add(1)
	}
}

// BeginWrite registers a write of (db, key) that is about to be sent to
// the backend and returns the key's version for CommitWrite. Every
// BeginWrite must be followed by exactly one CommitWrite of the same key.
func (c *Cache) BeginWrite(db int, key []byte) uint64 {
	g := c.hash(db, key) & (numGuards - 1)
	c.inflight[g].Add(1)
	return c.guards[g].Load()
}

// CommitWrite ends a write begun with BeginWrite once the backend answered.
// With store set it stores value like Set if (db, key) did not change since
// BeginWrite returned ver and no other write of it is in flight; in every
// other case (store false, the write failed, a race) it removes the key,
// unless the key is dirty: write-back state is newer than any reply (the
// flusher writes it to the backend after), so it is never dropped here. Fills of the key in flight are not stored. It reports
// whether it stored; a value that could not be stored (too large, not
// admitted) leaves the key absent.
func (c *Cache) CommitWrite(db int, key []byte, ver uint64, value []byte, typ byte, ttl time.Duration, store bool) bool {
	h := c.hash(db, key)
	g := h & (numGuards - 1)
	c.markFillsOnly(db, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	// The in-flight count drops under mu, after the store or the delete, so
	// that a fill's Finish (which checks it under mu) sees both together.
	defer c.inflight[g].Add(-1)
	if c.closed {
		return false
	}
	// An invalidation moves the version before it takes mu to remove the
	// item, so either it moved it first and the CAS fails, or its removal
	// waits for mu and comes after this store.
	if !store || c.inflight[g].Load() != 1 || !c.guards[g].CompareAndSwap(ver, ver+1) {
		c.guards[g].Add(1)
		c.dropCleanLocked(db, key, h)
		return false
	}
	if c.isDirtyLocked(db, key, h) {
		// Write-back state written since BeginWrite is newer than the
		// backend's reply (it will be flushed after it): kept.
		return false
	}
	if _, err := c.setLocked(db, key, value, typ, ttl, false); err != nil {
		c.dropCleanLocked(db, key, h)
		return false
	}
	return true
}

// dropCleanLocked removes (db, key) unless it is dirty; the caller holds mu
// and has marked fills.
func (c *Cache) dropCleanLocked(db int, key []byte, h uint64) {
	c.drainLocked()
	s := c.shardOf(h)
	var v poolView
	pos, local := c.find(s, h, db, key, &v)
	if pos >= 0 && !v.Dirty() {
		c.removeLocked(s, h, pos, local, reasonDelete)
	}
}

// isDirtyLocked reports whether (db, key) holds dirty state; the caller
// holds mu.
func (c *Cache) isDirtyLocked(db int, key []byte, h uint64) bool {
	var v poolView
	pos, _ := c.find(c.shardOf(h), h, db, key, &v)
	return pos >= 0 && v.Dirty()
}

// writesInFlightLocked reports a write of the key's slot between
// BeginWrite and CommitWrite; the caller holds mu.
func (c *Cache) writesInFlightLocked(db int, key []byte) bool {
	return c.inflight[c.hash(db, key)&(numGuards-1)].Load() != 0
}

// deleteLocked removes (db, key), dirty or not, and reports whether it was
// there; the caller holds mu and has marked fills.
func (c *Cache) deleteLocked(db int, key []byte, h uint64) bool {
	c.drainLocked()
	s := c.shardOf(h)
	var v poolView
	pos, local := c.find(s, h, db, key, &v)
	if pos < 0 {
		return false
	}
	c.removeLocked(s, h, pos, local, reasonDelete)
	return true
}

// markFillsOnly is markFills without the version bump (SetIfUnchanged
// moves the version itself, after checking it).
func (c *Cache) markFillsOnly(db int, key []byte) {
	if c.nflights.Load() == 0 {
		// A load registered after this point starts after the caller's
		// backend change, so it cannot return the old value.
		return
	}
	c.flightMu.Lock()
	if cl := c.flights[string(c.flightKeyLocked(db, key))]; cl != nil {
		cl.invalidated = true
	}
	c.flightMu.Unlock()
}

// Fill is a load registered with StartFill. The leader (Leader() true)
// must call Finish exactly once; the others call Wait.
type Fill struct {
	c      *Cache
	cl     *call
	leader bool
	skip   bool
}

// StartFill registers a load of (db, key) that the caller performs itself,
// asynchronously, for callers that cannot block in a Loader (a proxy that
// pipelines many misses). When a load of the key is already in flight the
// returned Fill is a waiter on it. It follows GetOrLoad's rules: a write or
// invalidation of the key before Finish means the value is not stored.
//
// While a write of the key is in flight (BeginWrite without CommitWrite)
// the Fill is neither: Skip reports true and the caller reads the backend
// itself, unshared and unstored. A shared load could have read the key
// before that write executed, while a reader that went to the backend
// since has seen it; sharing the older value then would go back in time.
func (c *Cache) StartFill(db int, key []byte) Fill {
	g := c.hash(db, key) & (numGuards - 1)
	if c.inflight[g].Load() != 0 {
		return Fill{c: c, skip: true}
	}
	c.flightMu.Lock()
	if cl := c.flights[string(c.flightKeyLocked(db, key))]; cl != nil {
		cl.waiters++
		// Checked again after joining: a write begun before this point may
		// already have executed; one begun after it executes after this
		// waiter arrived, so the shared result is not older than the wait.
		if c.inflight[g].Load() != 0 {
			cl.waiters--
			c.flightMu.Unlock()
			return Fill{c: c, skip: true}
		}
		c.flightMu.Unlock()
		c.st.coalesced.Add(1)
		return Fill{c: c, cl: cl}
	}
	cl := &call{done: make(chan struct{}), db: db, key: bytes.Clone(key)}
	c.flights[string(c.flightKey)] = cl
	c.nflights.Add(1)
	c.flightMu.Unlock()
	c.st.loads.Add(1)
	return Fill{c: c, cl: cl, leader: true}
}

// Skip reports a Fill that is neither leader nor waiter: a write of the key
// is in flight; read the backend directly and do not store.
func (f Fill) Skip() bool { return f.skip }

// Leader reports whether the caller must perform the load and Finish it.
func (f Fill) Leader() bool { return f.leader }

// Finish ends the leader's load: with err == nil and store set, value is
// stored (unless the key changed meanwhile) and handed to the waiters.
// found=false or err tell the waiters that there is nothing (or an error).
// Finish does not keep value after it returns.
func (f Fill) Finish(value []byte, typ byte, ttl time.Duration, found, store bool, err error) {
	cl, c := f.cl, f.c
	cl.typ, cl.ttl, cl.found, cl.err = typ, ttl, found, err
	c.flightMu.Lock()
	delete(c.flights, string(c.flightKeyLocked(cl.db, cl.key)))
	// No waiter can join once the flight is deleted: the count is final.
	cl.raced = cl.invalidated
	if cl.waiters > 0 {
		cl.value = bytes.Clone(value)
	}
	if store && found && err == nil {
		if cl.invalidated {
			c.st.fillsDropped.Add(1)
		} else {
			c.mu.Lock()
			if c.writesInFlightLocked(cl.db, cl.key) {
				c.st.fillsDropped.Add(1)
			} else if !c.closed {
				// Errors (too large, no space) only mean it is not cached.
				_, _ = c.setLocked(cl.db, cl.key, value, typ, ttl, false)
			}
			c.mu.Unlock()
		}
	}
	c.nflights.Add(-1) // after the store: see finishCall
	c.flightMu.Unlock()
	close(cl.done)
}

// Wait waits for the leader's Finish and returns its result. The value is
// shared with the other waiters: read it, do not modify it. When a write or
// invalidation of the key came while the load ran, the result may predate
// a change the waiter must see: Wait then returns ErrFillRaced and the
// caller should read the backend itself.
func (f Fill) Wait(ctx context.Context) (value []byte, typ byte, ttl time.Duration, found bool, err error) {
	select {
	case <-f.cl.done:
	case <-ctx.Done():
		return nil, 0, 0, false, ctx.Err()
	}
	cl := f.cl
	if cl.raced {
		return nil, 0, 0, false, ErrFillRaced
	}
	return cl.value, cl.typ, cl.ttl, cl.found, cl.err
}

// Bypassed reports whether key falls in a namespace in bypass mode (its
// reads and fills should not involve the cache at all).
func (c *Cache) Bypassed(key []byte) bool {
	ns := c.ns.Load().match(key)
	return ns != nil && ns.Mode == ModeBypass
}
