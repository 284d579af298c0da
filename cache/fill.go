package cache

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"time"
)

// Loader loads a missing key from the backend for GetOrLoad.
//
// Load returns the value, its type tag and TTL (0 = none) and found=false
// when the backend does not have the key. The cache keeps the returned
// value slice (it copies it into its pool and hands it to waiters), so the
// loader must not modify it after returning. Load is called at most once at
// a time per (db, key) per cache, with the context of the first caller.
type Loader interface {
	Load(ctx context.Context, db int, key []byte) (value []byte, typ byte, ttl time.Duration, found bool, err error)
}

// LoaderFunc adapts a function to Loader.
type LoaderFunc func(ctx context.Context, db int, key []byte) ([]byte, byte, time.Duration, bool, error)

// Load calls f.
func (f LoaderFunc) Load(ctx context.Context, db int, key []byte) ([]byte, byte, time.Duration, bool, error) {
	return f(ctx, db, key)
}

// AllDBs makes InvalidatePrefix match keys of every database.
const AllDBs = -1

// errLoaderPanicked is what waiters get when the loader panicked in the
// goroutine that ran it (the panic itself propagates there).
var errLoaderPanicked = errors.New("cache: loader panicked")

// call is one load in flight. Fields other than invalidated are written
// by the loading goroutine before done is closed and only read after.
type call struct {
	done  chan struct{}
	db    int
	key   []byte
	value []byte
	typ   byte
	ttl   time.Duration
	found bool
	err   error
	// invalidated is set (under Cache.flightMu) by a write or an
	// invalidation of the key that happened while the load ran.
	invalidated bool
	// waiters counts StartFill callers sharing the load (under flightMu):
	// only then must Finish copy the leader's value.
	waiters int
	// raced is invalidated as Finish saw it (written before done closes).
	raced bool
}

func (c *Cache) flightKeyLocked(db int, key []byte) []byte {
	c.flightKey = binary.AppendUvarint(c.flightKey[:0], uint64(db))
	c.flightKey = append(c.flightKey, key...)
	return c.flightKey
}

// GetOrLoad returns the value of (db, key), loading it with l on a miss.
// Concurrent misses of one key share one Load (single flight); every
// caller gets its own copy appended to dst[:0]. found=false means neither
// the cache nor the backend has the key. The load runs with the first
// caller's ctx: if that ends, the load fails for everyone waiting on it. A
// waiter whose own ctx ends stops waiting; the load goes on for the others.
//
// The loaded value is stored unless a write (Set, SetDirty, Delete,
// Expire) or an invalidation of the key happened while the load ran. The
// race, step by step, with invalidation I and fill F of key k:
//
//  1. F misses and registers its call under flightMu, then loads k from the
//     backend, getting the value v1.
//  2. Meanwhile k changes in the backend to v2 and I arrives (CLIENT
//     TRACKING), or the proxy's own write of v2 calls Set.
//  3. If F stored v1 after I removed k, the cache would serve the stale v1
//     until its TTL, with no further invalidation coming.
//
// So I (and every write) first marks the calls in flight for k under
// flightMu and only then removes or replaces the item; F checks its mark
// and stores under flightMu (taking mu inside it, so the store is atomic
// with the check). Either F stored before I took flightMu, and I's removal
// (or the write's replacement) comes after the store; or I marked first,
// and F does not store. A call registered after the mark started its load
// after the backend changed, so it cannot have read v1.
func (c *Cache) GetOrLoad(ctx context.Context, dst []byte, db int, key []byte, l Loader) (value []byte, typ byte, ttl time.Duration, found bool, err error) {
	if v, t, tt, ok := c.GetInto(dst, db, key); ok {
		return v, t, tt, true, nil
	}
	c.flightMu.Lock()
	if cl := c.flights[string(c.flightKeyLocked(db, key))]; cl != nil {
		c.flightMu.Unlock()
		c.st.coalesced.Add(1)
		select {
		case <-cl.done:
		case <-ctx.Done():
			return dst[:0], 0, 0, false, ctx.Err()
		}
		if cl.err != nil {
			return dst[:0], 0, 0, false, cl.err
		}
		return append(dst[:0], cl.value...), cl.typ, cl.ttl, cl.found, nil
	}
	cl := &call{done: make(chan struct{}), db: db, key: bytes.Clone(key)}
	c.flights[string(c.flightKey)] = cl
	c.nflights.Add(1)
	c.flightMu.Unlock()
	c.st.loads.Add(1)

	finished := false
	defer func() {
		if !finished { // the loader panicked: release the waiters
			cl.err = errLoaderPanicked
			c.finishCall(cl, false)
		}
	}()
	cl.value, cl.typ, cl.ttl, cl.found, cl.err = l.Load(ctx, db, key)
	finished = true
	c.finishCall(cl, cl.err == nil && cl.found)
	if cl.err != nil {
		return dst[:0], 0, 0, false, cl.err
	}
	return append(dst[:0], cl.value...), cl.typ, cl.ttl, cl.found, nil
}

// finishCall unregisters cl, stores its value when store is set and no
// write or invalidation marked it, and wakes the waiters.
func (c *Cache) finishCall(cl *call, store bool) {
	c.flightMu.Lock()
	delete(c.flights, string(c.flightKeyLocked(cl.db, cl.key)))
	if store && cl.invalidated {
		c.st.fillsDropped.Add(1)
	} else if store {
		c.mu.Lock()
		if c.writesInFlightLocked(cl.db, cl.key) {
			c.st.fillsDropped.Add(1) // see update.go, race 3
		} else if !c.closed {
			// Errors (too large, no space) only mean it is not cached.
			_, _ = c.setLocked(cl.db, cl.key, cl.value, cl.typ, cl.ttl, false)
		}
		c.mu.Unlock()
	}
	// Only now, after the store: markFills skips flightMu when it reads
	// nflights == 0, and a write that did so must find the store done, or
	// its own store could land before this older value (race found by the
	// linearizability check under load).
	c.nflights.Add(-1)
	c.flightMu.Unlock()
	close(cl.done)
}

// markFills marks the load in flight for (db, key), if any, so that it is
// not stored. It is called before the write or invalidation changes the
// cache (see GetOrLoad).
func (c *Cache) markFills(db int, key []byte) {
	c.bumpGuard(c.hash(db, key))
	c.markFillsOnly(db, key)
}

// Invalidate drops the clean copy of (db, key) and any fill of it in
// flight; a dirty copy is kept (it is newer than the backend). It reports
// whether an item was dropped.
func (c *Cache) Invalidate(db int, key []byte) bool {
	c.markFills(db, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hash(db, key)
	s := c.shardOf(h)
	var v poolView
	pos, local := c.find(s, h, db, key, &v)
	if pos < 0 || v.Dirty() {
		return false
	}
	c.removeLocked(s, h, pos, local, reasonInvalidate)
	return true
}

// InvalidatePrefix drops the clean items of database db (AllDBs: every
// database) whose key starts with prefix, and marks fills of such keys in
// flight. It walks every item, holding the write lock: it is meant for
// tracking's BCAST prefixes and flushes, not for single keys. It returns
// the number of items dropped.
func (c *Cache) InvalidatePrefix(db int, prefix []byte) int {
	c.bumpAllGuards()
	if c.nflights.Load() != 0 {
		c.flightMu.Lock()
		for _, cl := range c.flights {
			if (db == AllDBs || cl.db == db) && bytes.HasPrefix(cl.key, prefix) {
				cl.invalidated = true
			}
		}
		c.flightMu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	c.pool.Scan(func(l poolLoc, v *poolView) bool {
		if !v.Dirty() && (db == AllDBs || int(v.DB) == db) && bytes.HasPrefix(v.Key, prefix) {
			c.removeByItemLocked(l, v, reasonInvalidate)
			n++
		}
		return true
	})
	return n
}

// InvalidateDB drops every clean item of database db.
func (c *Cache) InvalidateDB(db int) int { return c.InvalidatePrefix(db, nil) }

// InvalidateAll drops every clean item (for example when the invalidation
// link drops); dirty items stay.
func (c *Cache) InvalidateAll() int { return c.InvalidatePrefix(AllDBs, nil) }
