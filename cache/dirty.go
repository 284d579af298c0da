package cache

import (
	"context"
	"time"
)

// SetDirty stores value as dirty write-back state and returns its version.
// A dirty item counts against the quota and the namespace cap like any
// other, is never evicted, invalidated or expired away, and keeps its TTL
// uncapped (it is the newest copy there is); it becomes an ordinary clean
// item when the flusher calls MarkClean with the version.
//
// Backpressure: when the dirty bytes would exceed MaxDirty, SetDirty waits
// for MarkClean (or Delete) to bring them down, up to BackpressureTimeout,
// then returns ErrBackpressure; with a negative timeout it fails at once.
// ctx ends the wait early. A single item larger than MaxDirty is accepted
// when nothing else is dirty, so that it cannot block forever.
func (c *Cache) SetDirty(ctx context.Context, db int, key, value []byte, typ byte, ttl time.Duration) (version uint64, err error) {
	c.markFills(db, key)
	return c.waitDirty(ctx, int64(len(key)+len(value)+16), func() (uint64, error) {
		return c.setLocked(db, key, value, typ, ttl, true)
	})
}

// WaitDirty waits until need more dirty bytes fit under MaxDirty (or
// nothing is dirty), up to BackpressureTimeout, like SetDirty, without
// storing anything. A caller that must do something durable between the
// wait and the store (write-back journals the write first) calls WaitDirty,
// then PutDirty. Concurrent writers may together overshoot MaxDirty by the
// items they put between their waits and their puts.
func (c *Cache) WaitDirty(ctx context.Context, need int64) error {
	_, err := c.waitDirty(ctx, need, nil)
	return err
}

// DirtyRoom reports whether need more dirty bytes fit under MaxDirty now
// (WaitDirty would not wait).
func (c *Cache) DirtyRoom(need int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dirtyBytes == 0 || c.dirtyBytes+need <= c.maxDirty
}

// waitDirty waits for room for need dirty bytes, then runs put (if not nil)
// under mu, in the same critical section as the final check.
func (c *Cache) waitDirty(ctx context.Context, need int64, put func() (uint64, error)) (uint64, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, ErrClosed
		}
		if c.dirtyBytes == 0 || c.dirtyBytes+need <= c.maxDirty {
			var ver uint64
			var err error
			if put != nil {
				ver, err = put()
			}
			c.mu.Unlock()
			return ver, err
		}
		if c.bpTimeout < 0 {
			c.mu.Unlock()
			return 0, ErrBackpressure
		}
		ch := c.dirtyCh
		c.dirtyWaiters++
		c.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(c.bpTimeout)
		}
		var werr error
		select {
		case <-ch:
		case <-timer.C:
			werr = ErrBackpressure
		case <-ctx.Done():
			werr = ctx.Err()
		}
		c.mu.Lock()
		c.dirtyWaiters--
		c.mu.Unlock()
		if werr != nil {
			return 0, werr
		}
	}
}

// PutDirty is SetDirty without the backpressure wait (see WaitDirty). On
// failure an older dirty copy of the key is kept.
func (c *Cache) PutDirty(db int, key, value []byte, typ byte, ttl time.Duration) (version uint64, err error) {
	c.markFills(db, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, ErrClosed
	}
	return c.setLocked(db, key, value, typ, ttl, true)
}

// PeekDirty appends the value of (db, key) to dst[:0] when the key holds
// dirty state, expired or not (a dirty item is the newest state there is;
// its expiry is the caller's to interpret), and returns it with its type
// tag and version. It counts neither a hit nor a miss.
func (c *Cache) PeekDirty(dst []byte, db int, key []byte) (value []byte, typ byte, version uint64, ok bool) {
	h := c.hash(db, key)
	s := c.shardOf(h)
	var v poolView
	s.mu.RLock()
	defer s.mu.RUnlock()
	pos, _ := c.find(s, h, db, key, &v)
	if pos < 0 || !v.Dirty() {
		return dst[:0], 0, 0, false
	}
	return append(dst[:0], v.Value...), v.Type, v.Version, true
}

// MarkClean marks (db, key) clean if it is still dirty at version (the
// value the flusher wrote). It reports whether it did; false means the key
// was rewritten (a newer version will be flushed) or deleted.
func (c *Cache) MarkClean(db int, key []byte, version uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.hash(db, key)
	s := c.shardOf(h)
	var v poolView
	pos, local := c.find(s, h, db, key, &v)
	if pos < 0 || !v.Dirty() || v.Version != version {
		return false
	}
	w := s.slots[local]
	s.mu.Lock()
	s.slots[local] = w &^ slotDirty
	c.pool.SetDirty(poolLoc(slotLoc(w)), false)
	s.mu.Unlock()
	c.dirtyBytes -= int64(v.Size)
	c.dirtyKeys--
	c.notifyDirtyLocked()
	if expired(v.Expire, c.now()) {
		c.removeLocked(s, h, pos, local, reasonExpire)
	}
	return true
}

// DirtyStats returns the dirty keys and bytes (item bytes in the pool).
func (c *Cache) DirtyStats() (keys, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dirtyKeys, c.dirtyBytes
}

// notifyDirtyLocked wakes writers waiting for dirty bytes to fall.
func (c *Cache) notifyDirtyLocked() {
	if c.dirtyWaiters > 0 {
		close(c.dirtyCh)
		c.dirtyCh = make(chan struct{})
	}
}
