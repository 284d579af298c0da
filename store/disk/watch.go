package disk

import "time"

// watch registers keys (of the Conn's current db) for WATCH. It takes the
// keys' stripes shared, so that a writer of one of them either commits
// before the registration (and this client reads the new value afterwards)
// or sees the registration when it signals (see tx.touch).
func (c *Conn) watch(keys [][]byte) error {
	s := c.s
	s.global.RLock()
	defer s.global.RUnlock()
	if s.closed.Load() {
		return ErrClosed
	}
	db := s.dbmap[c.db]
	c.stripe = appendStripes(c.stripe[:0], db, keys)
	s.lockStripes(c.stripe, false)
	defer s.unlockStripes(c.stripe, false)
	t := s.newTx(db, false, c.proto)
	defer s.releaseTx(t)
	t.now = time.Now().UnixMilli()
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for _, k := range keys {
		wk := string(append([]byte{db}, k...))
		if c.isWatching(wk) {
			continue
		}
		m, ok, err := t.physical(k)
		if err != nil {
			return err
		}
		expired := ok && t.expired(&m)
		c.watched = append(c.watched, watchKey{key: wk, expired: expired})
		set := s.watchers[wk]
		if set == nil {
			set = map[*Conn]bool{}
			s.watchers[wk] = set
		}
		set[c] = expired
		s.nwatch.Add(1)
	}
	return nil
}

func (c *Conn) isWatching(key string) bool {
	for _, wk := range c.watched {
		if wk.key == key {
			return true
		}
	}
	return false
}

// unwatchAll forgets every WATCH of c and clears its dirty flag.
func (s *Store) unwatchAll(c *Conn) {
	if len(c.watched) > 0 {
		s.watchMu.Lock()
		for _, wk := range c.watched {
			if set := s.watchers[wk.key]; set != nil {
				delete(set, c)
				if len(set) == 0 {
					delete(s.watchers, wk.key)
				}
			}
			s.nwatch.Add(-1)
		}
		s.watchMu.Unlock()
		c.watched = c.watched[:0]
	}
	c.casDirty.Store(false)
}

// signal marks the Conns watching key (physical db byte + user key) dirty.
// A deletion by expiry of a key that was already expired when WATCHed is
// no change (Redis 7.0 touchWatchedKey).
func (s *Store) signal(key string, byExpiry bool) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for c, expiredAtWatch := range s.watchers[key] {
		if byExpiry && expiredAtWatch {
			continue
		}
		c.casDirty.Store(true)
	}
}

// signalDB marks dirty the Conns watching keys of physical db for which
// affected returns true (FLUSHDB, SWAPDB, MOVE of a whole db's view).
func (s *Store) signalDB(db uint8, affected func(key []byte) bool) {
	if s.nwatch.Load() == 0 {
		return
	}
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for k, set := range s.watchers {
		if k[0] != db || !affected([]byte(k[1:])) {
			continue
		}
		for c := range set {
			c.casDirty.Store(true)
		}
	}
}

// watchedExpired reports whether a key that was live when WATCHed has
// expired since (Redis 7.0 aborts EXEC then). The caller holds the keys'
// locks.
func (c *Conn) watchedExpired(now int64) bool {
	for _, wk := range c.watched {
		if wk.expired {
			continue
		}
		t := c.s.newTx(wk.key[0], false, 2)
		t.now = now
		m, ok, err := t.physical([]byte(wk.key[1:]))
		gone := err == nil && ok && t.expired(&m)
		c.s.releaseTx(t)
		if gone {
			return true
		}
	}
	return false
}
