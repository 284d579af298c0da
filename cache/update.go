package cache

import (
	"bytes"
	"context"
	"time"
)

// Guarded updates and asynchronous fills: what a proxy needs to keep a
// local copy in step with a backend that it reaches over a network.
//
// A write-through proxy learns a key's new value only when the backend
// acknowledges the write. Between sending the write and storing the value,
// two things may happen that make the value stale at once:
//
//  1. Another writer changes the key after our write, and its invalidation
//     (CLIENT TRACKING) arrives before we store: storing our value would
//     then keep it until the next change.
//  2. Another client of the proxy writes the key too; both writes are
//     acknowledged, in some order, and the replies are processed in the
//     other order: the older value would be stored last.
//
// So the proxy takes the key's version before sending the write (Version),
// and stores with SetIfUnchanged: every change of the key (Set, Delete,
// Invalidate*, SetDirty, Expire, a successful SetIfUnchanged) moves the
// version, and a SetIfUnchanged that finds it moved drops the key instead
// of storing. Dropping is always safe: the next read fills from the backend.
//
// Versions live in a fixed table of counters indexed by key hash, so two
// keys may share one: a change of one then only costs the other an update
// turned into a drop.

// numGuards is the size of the version table (8 bytes each: 128 KiB, a
// fixed overhead outside the quota).
const numGuards = 1 << 14

func (c *Cache) bumpGuard(h uint64) { c.guards[h&(numGuards-1)].Add(1) }

func (c *Cache) bumpAllGuards() {
	for i := range c.guards {
		c.guards[i].Add(1)
	}
}

// Version returns the change counter of (db, key), to pass to
// SetIfUnchanged after the backend confirmed a write.
func (c *Cache) Version(db int, key []byte) uint64 {
	return c.guards[c.hash(db, key)&(numGuards-1)].Load()
}

// SetIfUnchanged stores value like Set if (db, key) has not changed since
// Version returned ver; otherwise it removes the key (dirty or not). Either
// way fills of the key in flight are not stored. It reports whether it
// stored; a value that could not be stored (too large, not admitted) leaves
// the key absent.
func (c *Cache) SetIfUnchanged(db int, key []byte, ver uint64, value []byte, typ byte, ttl time.Duration) bool {
	h := c.hash(db, key)
	g := &c.guards[h&(numGuards-1)]
	c.markFillsOnly(db, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	// An invalidation bumps the counter before it takes mu to remove the
	// item, so either it bumped first and the CAS fails, or its removal
	// waits for mu and comes after this store.
	if !g.CompareAndSwap(ver, ver+1) {
		g.Add(1)
		c.deleteLocked(db, key, h)
		return false
	}
	if _, err := c.setLocked(db, key, value, typ, ttl, false); err != nil {
		c.deleteLocked(db, key, h)
		return false
	}
	return true
}

func (c *Cache) deleteLocked(db int, key []byte, h uint64) {
	c.drainLocked()
	s := c.shardOf(h)
	var v poolView
	if pos, local := c.find(s, h, db, key, &v); pos >= 0 {
		c.removeLocked(s, h, pos, local, reasonDelete)
	}
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
}

// StartFill registers a load of (db, key) that the caller performs itself,
// asynchronously, for callers that cannot block in a Loader (a proxy that
// pipelines many misses). When a load of the key is already in flight the
// returned Fill is a waiter on it. It follows GetOrLoad's rules: a write or
// invalidation of the key before Finish means the value is not stored.
func (c *Cache) StartFill(db int, key []byte) Fill {
	c.flightMu.Lock()
	if cl := c.flights[string(c.flightKeyLocked(db, key))]; cl != nil {
		cl.waiters++
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
	c.nflights.Add(-1)
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
			if !c.closed {
				// Errors (too large, no space) only mean it is not cached.
				_, _ = c.setLocked(cl.db, cl.key, value, typ, ttl, false)
			}
			c.mu.Unlock()
		}
	}
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
