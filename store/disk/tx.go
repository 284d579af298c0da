package disk

import (
	"errors"
	"sync"

	"github.com/cockroachdb/pebble/v2"
)

// tx is the context of one command (or one EXEC): the database it addresses,
// the command's clock, the reader it reads through and, for commands that
// may write, the pebble batch that collects its writes. The dispatcher
// creates it after taking the command's locks and commits it before
// releasing them, so a handler sees a stable view of its keys and its
// writes become visible (and durable, per Options.Fsync) all at once.
//
// Handlers read through lookup/lookupType/getElem/iter and write through
// putMeta/deleteKey/setElem/delElem. Bookkeeping shared by all types (key
// counters, the TTL index, garbage collection of replaced collections,
// WATCH notifications) is done by putMeta and removeKey, never by handlers.
//
// Slices returned by tx methods are valid until the command returns.
type tx struct {
	s     *Store
	conn  *Conn // nil for background work
	db    uint8 // physical db of the keys the handler names
	ldb   int   // logical db (what SELECT chose)
	now   int64 // unix ms, fixed for the command as Redis caches it
	proto int

	b *pebble.Batch // indexed batch; nil when read-only
	r pebble.Reader // b, or the DB for read-only commands

	kbuf  []byte // scratch for keys built by tx methods
	vbuf  []byte // scratch for encoded meta records
	ebuf  []byte // scratch for encoded element values
	arena []byte // copies of values handed to handlers

	deltas  [][3]int64 // {physical db, keys delta, expires delta}
	touched []touch    // keys to signal to WATCHers after commit
	dead    []string   // physical db+key of meta records replaced by a dead marker
	inExec  bool
	noSync  bool     // commit without WAL sync whatever the policy (active expiry)
	undo    []func() // run if the batch fails to commit (SWAPDB restores the db map)
}

// touch is a modified key to report to WATCHers after commit.
type touch struct {
	key      string // physical db byte + user key
	byExpiry bool   // the key was deleted because it expired
}

var txPool = sync.Pool{New: func() any { return new(tx) }}

// newTx returns a tx on physical db; write selects an indexed batch.
func (s *Store) newTx(db uint8, write bool, proto int) *tx {
	t := txPool.Get().(*tx)
	t.s, t.db, t.proto = s, db, proto
	if write {
		t.b = s.db.NewIndexedBatch()
		t.r = t.b
	} else {
		t.r = s.db
	}
	return t
}

// plain gives a fresh read-only tx a non-indexed batch to write to while
// it keeps reading the DB (see flagPlainBatch).
func (t *tx) plain() {
	t.b = t.s.db.NewBatch()
}

// releaseTx drops an uncommitted batch and returns t to the pool.
func (s *Store) releaseTx(t *tx) {
	if t.b != nil {
		_ = t.b.Close()
	}
	const maxKeep = 64 << 10 // do not pin huge buffers in the pool
	*t = tx{
		kbuf:    keepSmall(t.kbuf, maxKeep),
		vbuf:    keepSmall(t.vbuf, maxKeep),
		ebuf:    keepSmall(t.ebuf, maxKeep),
		arena:   keepSmall(t.arena, maxKeep),
		deltas:  t.deltas[:0],
		touched: t.touched[:0],
		dead:    t.dead[:0],
		undo:    t.undo[:0],
	}
	txPool.Put(t)
}

func keepSmall(b []byte, limit int) []byte {
	if cap(b) > limit {
		return nil
	}
	return b[:0]
}

// commit writes the batch (synced per Options.Fsync; concurrent Sync
// commits share one WAL sync in pebble's commit pipeline), then applies the
// counter deltas and signals WATCHers. On error nothing was applied.
func (s *Store) commit(t *tx) error {
	if t.b == nil || t.b.Empty() {
		return nil
	}
	wopts := pebble.NoSync
	if s.syncWrites.Load() && !t.noSync {
		wopts = pebble.Sync
	}
	s.countMu.RLock()
	if err := t.b.Commit(wopts); err != nil {
		s.countMu.RUnlock()
		for i := len(t.undo) - 1; i >= 0; i-- {
			t.undo[i]()
		}
		return err
	}
	for _, d := range t.deltas {
		s.stats[d[0]].keys.Add(d[1])
		s.stats[d[0]].expires.Add(d[2])
	}
	s.countMu.RUnlock()
	for _, tc := range t.touched {
		s.signal(tc.key, tc.byExpiry)
	}
	if len(t.dead) > 0 {
		// Still under the command's stripes: the dead-marker collector
		// cannot be looking at these keys right now.
		s.markDead(t.dead)
	}
	return nil
}

// copyOut copies p into the tx arena; the copy lives until the command ends.
func (t *tx) copyOut(p []byte) []byte {
	n := len(t.arena)
	t.arena = append(t.arena, p...)
	return t.arena[n:len(t.arena):len(t.arena)]
}

// get reads a raw record through the tx's reader; the value is copied.
func (t *tx) get(k []byte) ([]byte, bool, error) {
	v, closer, err := t.r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v = t.copyOut(v)
	return v, true, closer.Close()
}

// physical returns the meta record of key as stored, expired or not. A
// dead marker (a deleted key, see killMeta) reads as absent.
func (t *tx) physical(key []byte) (meta, bool, error) {
	t.kbuf = appendMetaKey(t.kbuf[:0], t.db, key)
	v, ok, err := t.get(t.kbuf)
	if !ok || err != nil || isDeadMeta(v) {
		return meta{}, false, err
	}
	m, err := decodeMeta(v)
	if err != nil {
		return meta{}, false, err
	}
	return m, true, nil
}

// expired reports whether m is past its expiry at the command's time.
func (t *tx) expired(m *meta) bool { return m.expire != 0 && m.expire <= t.now }

// lookup returns the meta of key as commands see it: an expired key does
// not exist. It does not delete the expired record (a write that follows
// replaces it through putMeta; active expiry removes it otherwise).
func (t *tx) lookup(key []byte) (meta, bool, error) {
	m, ok, err := t.physical(key)
	if !ok || err != nil || t.expired(&m) {
		return meta{}, false, err
	}
	return m, true, nil
}

// lookupType is lookup plus the type check every typed command starts with:
// an existing key of another type gives errWrongType.
func (t *tx) lookupType(key []byte, typ keyType) (meta, bool, error) {
	m, ok, err := t.lookup(key)
	if ok && m.typ != typ {
		return meta{}, false, errWrongType
	}
	return m, ok, err
}

// newMeta returns the meta of a new, empty key of typ with no expiry; a
// collection gets a fresh generation, so nothing of an older key of the
// same name is visible in it.
func (t *tx) newMeta(typ keyType) meta {
	m := meta{typ: typ}
	if typ != typeString {
		m.gen = t.s.nextGen()
	}
	return m
}

// putMeta writes m as the meta of key, replacing whatever was there: the
// TTL index follows m.expire, an old collection with another generation is
// deleted (one range tombstone: O(1), reclaimed by compaction), the key
// counters move, and WATCHers of key are signalled. Call it after every
// change to a key, also when only elements changed (it is what bumps
// WATCH). A collection whose count reaches 0 must be deleted with
// deleteKey instead, as Redis never keeps empty collections.
func (t *tx) putMeta(key []byte, m *meta) error {
	old, exists, err := t.physical(key)
	if err != nil {
		return err
	}
	t.vbuf = appendMeta(t.vbuf[:0], m)
	t.kbuf = appendMetaKey(t.kbuf[:0], t.db, key)
	if err := t.b.Set(t.kbuf, t.vbuf, nil); err != nil {
		return err
	}
	var dk, de int64
	if exists {
		if old.expire != m.expire && old.expire != 0 {
			if err := t.b.Delete(appendExpireKey(t.kbuf[:0], old.expire, t.db, key), nil); err != nil {
				return err
			}
			de--
		}
		if old.gen != 0 && old.gen != m.gen {
			if err := t.dropElems(&old); err != nil {
				return err
			}
		}
	} else {
		dk = 1
	}
	if m.expire != 0 && (!exists || old.expire != m.expire) {
		if err := t.b.Set(appendExpireKey(t.kbuf[:0], m.expire, t.db, key), nil, nil); err != nil {
			return err
		}
		de++
	}
	t.delta(t.db, dk, de)
	t.touch(key, false)
	return nil
}

// deleteKey deletes key with its elements; it reports whether a live key
// was deleted (an expired one is removed too, but reported as absent).
func (t *tx) deleteKey(key []byte) (bool, error) {
	m, ok, err := t.physical(key)
	if !ok || err != nil {
		return false, err
	}
	live := !t.expired(&m)
	if live {
		err = t.removeKey(key, &m)
	} else {
		err = t.removeExpired(key, &m)
	}
	return live, err
}

// removeKey deletes key whose physical meta is m.
func (t *tx) removeKey(key []byte, m *meta) error {
	return t.remove(key, m, false)
}

// removeExpired deletes key whose physical meta m has expired.
func (t *tx) removeExpired(key []byte, m *meta) error {
	return t.remove(key, m, true)
}

func (t *tx) remove(key []byte, m *meta, byExpiry bool) error {
	if err := t.killMeta(key); err != nil {
		return err
	}
	var de int64
	if m.expire != 0 {
		if err := t.b.Delete(appendExpireKey(t.kbuf[:0], m.expire, t.db, key), nil); err != nil {
			return err
		}
		de = -1
	}
	if m.gen != 0 {
		if err := t.dropElems(m); err != nil {
			return err
		}
	}
	t.delta(t.db, -1, de)
	t.touch(key, byExpiry)
	return nil
}

// killMeta deletes the meta record of key by overwriting it with a dead
// marker instead of a pebble tombstone, and queues the marker for the
// collector (Store.collectDead), which turns it into a real delete once
// the memtable holding the key's history has been flushed.
//
// Why: pebble's Get (and any iterator) stops at the newest version of a key
// only if it is a value; when it is a tombstone, it steps over every older
// version still in the memtable before answering "not found". A key that is
// deleted and re-created in a loop (a queue that empties, SET NX / DEL
// locks) leaves two versions per cycle, so with tombstones every lookup of
// the absent key cost O(cycles since the last flush): 2.3k ops/s after 10k
// cycles with a 4 MiB memtable. A marker is a value, so the lookup is one
// skiplist seek whatever the history.
func (t *tx) killMeta(key []byte) error {
	t.kbuf = appendMetaKey(t.kbuf[:0], t.db, key)
	if err := t.b.Set(t.kbuf, deadMeta, nil); err != nil {
		return err
	}
	k := make([]byte, 0, len(key)+1)
	t.dead = append(t.dead, string(append(append(k, t.db), key...)))
	return nil
}

// smallDrop is the collection size up to which dropElems deletes elements
// one by one instead of with a range tombstone: point deletes of a few
// records are cheap, while many range tombstones in the memtable slow every
// read that has to step over them (a DEL/HSET churn would pile them up).
const smallDrop = 16

// dropElems deletes every element (and score entry) of m's generation:
// point deletes for small collections, one range tombstone (O(1), reclaimed
// by compaction) per key space for big ones.
func (t *tx) dropElems(m *meta) error {
	drop := func(lo, hi []byte) error {
		if m.count > smallDrop {
			return t.b.DeleteRange(lo, hi, nil)
		}
		it, err := t.iter(lo, hi)
		if err != nil {
			return err
		}
		n := 0
		for valid := it.First(); valid; valid = it.Next() {
			if n++; n > 2*smallDrop {
				// More records than the meta says: fall back to the range.
				_ = it.Close()
				return t.b.DeleteRange(lo, hi, nil)
			}
			if err := t.b.Delete(it.Key(), nil); err != nil {
				_ = it.Close()
				return err
			}
		}
		return it.Close()
	}
	lo, hi := elemBounds(m.gen)
	if err := drop(lo, hi); err != nil {
		return err
	}
	if m.typ == typeZSet {
		lo, hi = scoreBounds(m.gen)
		return drop(lo, hi)
	}
	return nil
}

func (t *tx) delta(db uint8, keys, expires int64) {
	if keys == 0 && expires == 0 {
		return
	}
	for i := range t.deltas {
		if t.deltas[i][0] == int64(db) {
			t.deltas[i][1] += keys
			t.deltas[i][2] += expires
			return
		}
	}
	t.deltas = append(t.deltas, [3]int64{int64(db), keys, expires})
}

// pendingDelta returns the counter deltas of db not yet committed (so that
// DBSIZE inside MULTI counts the transaction's own writes).
func (t *tx) pendingDelta(db uint8) (keys, expires int64) {
	for _, d := range t.deltas {
		if d[0] == int64(db) {
			return d[1], d[2]
		}
	}
	return 0, 0
}

// touch records key (of the tx's db) as modified for WATCH. Nothing is
// recorded while nobody watches anything; see signal for why that is safe.
func (t *tx) touch(key []byte, byExpiry bool) {
	if t.s.nwatch.Load() == 0 {
		return
	}
	k := make([]byte, 0, len(key)+1)
	k = append(append(k, t.db), key...)
	t.touched = append(t.touched, touch{key: string(k), byExpiry: byExpiry})
}

// getElem returns the value of member in the collection of generation gen.
func (t *tx) getElem(gen uint64, member []byte) ([]byte, bool, error) {
	t.kbuf = appendElemKey(t.kbuf[:0], gen, member)
	return t.get(t.kbuf)
}

// setElem sets member of generation gen to value.
func (t *tx) setElem(gen uint64, member, value []byte) error {
	t.kbuf = appendElemKey(t.kbuf[:0], gen, member)
	return t.b.Set(t.kbuf, value, nil)
}

// delElem deletes member of generation gen.
func (t *tx) delElem(gen uint64, member []byte) error {
	t.kbuf = appendElemKey(t.kbuf[:0], gen, member)
	return t.b.Delete(t.kbuf, nil)
}

// setRaw and delRaw write records the typed helpers do not cover (the zset
// score index: appendScoreKey).
func (t *tx) setRaw(k, v []byte) error { return t.b.Set(k, v, nil) }
func (t *tx) delRaw(k []byte) error    { return t.b.Delete(k, nil) }

// iter returns an iterator over [lo, hi) through the tx's reader (so it
// sees the tx's own writes). The caller closes it before the command ends.
func (t *tx) iter(lo, hi []byte) (*pebble.Iterator, error) {
	return t.r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
}

// elemIter returns an iterator over the elements of generation gen, in
// member byte order; decode keys with decodeElemKey.
func (t *tx) elemIter(gen uint64) (*pebble.Iterator, error) {
	lo, hi := elemBounds(gen)
	return t.iter(lo, hi)
}

// withDB runs fn with the tx addressing physical db, then restores it.
func (t *tx) withDB(db uint8, fn func() error) error {
	old := t.db
	t.db = db
	defer func() { t.db = old }()
	return fn()
}

// unlinkMeta removes the meta record of key (physical meta m) and its TTL
// entry but keeps its elements: RENAME and MOVE re-attach the generation
// to another name.
func (t *tx) unlinkMeta(key []byte, m *meta) error {
	if err := t.killMeta(key); err != nil {
		return err
	}
	var de int64
	if m.expire != 0 {
		if err := t.b.Delete(appendExpireKey(t.kbuf[:0], m.expire, t.db, key), nil); err != nil {
			return err
		}
		de = -1
	}
	t.delta(t.db, -1, de)
	t.touch(key, false)
	return nil
}

// copyElems copies every element (and zset score entry) of generation from
// to generation to. O(elements).
func (t *tx) copyElems(typ keyType, from, to uint64) error {
	copyRange := func(lo, hi []byte, rekey func(k []byte) []byte) error {
		it, err := t.iter(lo, hi)
		if err != nil {
			return err
		}
		var nk []byte
		for valid := it.First(); valid; valid = it.Next() {
			v, err := it.ValueAndErr()
			if err != nil {
				_ = it.Close()
				return err
			}
			nk = append(nk[:0], it.Key()...)
			if err := t.b.Set(rekey(nk), v, nil); err != nil {
				_ = it.Close()
				return err
			}
		}
		return it.Close()
	}
	setGen := func(k []byte) []byte {
		k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8] = byte(to>>56), byte(to>>48), byte(to>>40), byte(to>>32), byte(to>>24), byte(to>>16), byte(to>>8), byte(to)
		return k
	}
	lo, hi := elemBounds(from)
	if err := copyRange(lo, hi, setGen); err != nil {
		return err
	}
	if typ == typeZSet {
		lo, hi = scoreBounds(from)
		return copyRange(lo, hi, setGen)
	}
	return nil
}
