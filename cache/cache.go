package cache

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/respcache/respcache/cache/internal/policy"
	"github.com/respcache/respcache/pool"
)

// Cache is a byte-budgeted cache of typed values keyed by (db, key). It is
// safe for concurrent use. See the package documentation for the design.
type Cache struct {
	seed      maphash.Seed
	shards    []shard
	shardBits uint
	clock     func() time.Time
	epoch     time.Time
	segSize   int
	maxItem   int
	stripes   []stripe
	ns        atomic.Pointer[nsTable]
	drainReq  atomic.Bool // a full access stripe waits for Cache.mu

	// mu serializes every mutation: it guards pool, pol, the accounting
	// fields below, the shards' free lists and growth, and the ids in the
	// policy. Lock order: flightMu, then mu, then a shard's mu.
	mu           sync.Mutex
	pool         *pool.Pool
	pol          policy.Policy
	polCap       int64        // estimated id capacity of the policy's arrays
	sizer        policy.Sizer // the policy's own footprint report, if it has one
	polCharged   int64        // policy bytes included in metaBytes
	perEntry     int64
	quota        int64
	ttl          time.Duration
	maxDirty     int64
	bpTimeout    time.Duration
	nsIDs        map[string]uint8
	metaBytes    int64 // index + slot tables + policy metadata
	payload      int64 // key+value bytes of live items
	dirtyBytes   int64
	dirtyKeys    int64
	dirtyWaiters int
	dirtyCh      chan struct{} // closed when dirty bytes fall
	version      uint64
	pendingID    uint32 // id being admitted, not yet in its slot
	pendingHash  uint64
	pinID        uint32 // id the current operation must not lose
	evictNS      int    // >= 0: only this namespace's items are evictable
	scratch      []byte
	closed       bool

	// flightMu guards flights and flightKey.
	flightMu  sync.Mutex
	flights   map[string]*call
	flightKey []byte
	nflights  atomic.Int32

	// guards are change counters and inflight the writes in flight, by key
	// hash, for guarded writes; see update.go.
	guards   []atomic.Uint64
	inflight []atomic.Int32

	st counters

	stop chan struct{}
	wg   sync.WaitGroup
}

const noID = math.MaxUint32

// New returns a cache; Close stops its background expiry.
func New(cfg Config) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.ensureDefaults()
	c := &Cache{
		seed:      maphash.MakeSeed(),
		shards:    make([]shard, cfg.Shards),
		clock:     cfg.Clock,
		segSize:   cfg.SegmentSize,
		maxItem:   cfg.MaxItemSize,
		stripes:   make([]stripe, numStripes),
		perEntry:  int64(cfg.PolicyBytesPerEntry),
		quota:     cfg.MaxMemory,
		ttl:       cfg.TTL,
		maxDirty:  cfg.MaxDirty,
		bpTimeout: cfg.BackpressureTimeout,
		nsIDs:     map[string]uint8{},
		dirtyCh:   make(chan struct{}),
		pendingID: noID,
		pinID:     noID,
		evictNS:   -1,
		flights:   map[string]*call{},
		guards:    make([]atomic.Uint64, numGuards),
		inflight:  make([]atomic.Int32, numGuards),
		stop:      make(chan struct{}),
	}
	c.shardBits = uint(bitsLen(cfg.Shards - 1))
	c.epoch = c.clock()
	tab, err := buildNSTable(cfg.Namespaces, c.nsIDs)
	if err != nil {
		return nil, err
	}
	c.ns.Store(tab)
	c.pool, err = pool.New(pool.Config{SegmentSize: cfg.SegmentSize, Limit: cfg.MaxMemory})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	mk := cfg.newPolicy
	if mk == nil {
		mk = policy.New
	}
	c.pol, err = mk(cfg.Policy, policy.Config{
		Capacity: c.itemBudget(cfg.MaxMemory),
		Evict:    c.onEvict,
		Pinned:   c.pinned,
		Hash:     c.hashOfID,
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	if sz, ok := c.pol.(policy.Sizer); ok {
		c.sizer = sz
		c.mu.Lock()
		err = c.syncPolicyBytesLocked()
		c.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("cache: the policy's own memory does not fit the quota: %w", err)
		}
	}
	if cfg.ExpireInterval > 0 {
		c.wg.Add(1)
		go c.expireLoop(cfg.ExpireInterval)
	}
	return c, nil
}

func bitsLen(x int) int {
	n := 0
	for ; x > 0; x >>= 1 {
		n++
	}
	return n
}

// Close stops the background work and releases the pool's memory. Calls
// after Close fail with ErrClosed or miss.
func (c *Cache) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.stop)
	c.mu.Unlock()
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		idx, slots := s.idx, s.slots
		s.idx, s.nb, s.count, s.tombs = nil, 0, 0, 0
		s.slots, s.nslots, s.free = nil, 0, 0
		s.mu.Unlock()
		pool.FreeWords(idx)
		pool.FreeWords(slots)
	}
	c.pool.Close()
	return nil
}

// hash is the 64-bit hash of (db, key); the low bits pick the shard, bits
// 32..63 are the index tag and pick the bucket.
func (c *Cache) hash(db int, key []byte) uint64 {
	h := maphash.Bytes(c.seed, key)
	if db != 0 {
		h ^= uint64(db) * 0x9e3779b97f4a7c15
		h ^= h >> 33
		h *= 0xff51afd7ed558ccd
		h ^= h >> 33
	}
	return h
}

func (c *Cache) shardOf(h uint64) *shard { return &c.shards[h&(uint64(len(c.shards))-1)] }

func (c *Cache) idOf(h uint64, local uint32) uint32 {
	return local<<c.shardBits | uint32(h&(uint64(len(c.shards))-1))
}

func (c *Cache) splitID(id uint32) (*shard, uint32) {
	return &c.shards[id&(uint32(len(c.shards))-1)], id >> c.shardBits
}

// find looks (db, key) up in s; the caller holds s.mu or c.mu. On success
// v describes the item.
func (c *Cache) find(s *shard, h uint64, db int, key []byte, v *pool.View) (pos int, local uint32) {
	if s.nb == 0 {
		return -1, 0
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
			if e&^slotFreeMask != tag || e == tombstone {
				continue
			}
			l := uint32(e) - 1
			c.pool.Read(pool.Loc(slotLoc(s.slots[l])), v)
			if int(v.DB) == db && bytes.Equal(v.Key, key) {
				return base + i, l
			}
		}
		if empty {
			return -1, 0
		}
		if b++; b == s.nb {
			b = 0
		}
	}
	return -1, 0
}

// now is nanoseconds since the cache's epoch.
func (c *Cache) now() int64 { return int64(c.clock().Sub(c.epoch)) }

// expireAt converts a TTL to the stored stamp: milliseconds since the
// epoch, rounded up so that an item never expires early. 0 means none.
func (c *Cache) expireAt(ttl time.Duration) uint64 {
	if ttl <= 0 {
		return 0
	}
	return uint64((c.now() + int64(ttl) + 999_999) / 1e6)
}

func expired(stamp uint64, now int64) bool { return stamp != 0 && now >= int64(stamp)*1e6 }

func remaining(stamp uint64, now int64) time.Duration {
	if stamp == 0 {
		return 0
	}
	return time.Duration(int64(stamp)*1e6 - now)
}

// Get returns a copy of the value in a new slice; see GetInto.
func (c *Cache) Get(db int, key []byte) (value []byte, typ byte, ttl time.Duration, ok bool) {
	return c.GetInto(nil, db, key)
}

// GetInto appends the value of (db, key) to dst[:0] and returns it with its
// type tag and remaining TTL (0 = no expiry). It does not allocate when dst
// has the capacity. The returned slice belongs to the caller; the cache
// never touches it again, so concurrent eviction cannot change it. Expired
// items are never returned.
//
// The hit path takes only the key's shard read lock: the access is recorded
// in a lossy striped buffer and applied to the eviction policy in batches.
func (c *Cache) GetInto(dst []byte, db int, key []byte) (value []byte, typ byte, ttl time.Duration, ok bool) {
	return c.getInto(dst, db, key, false)
}

// GetIntoQuiet is GetInto that misses while a write of the key is in
// flight (between BeginWrite and CommitWrite): the backend may already
// hold that write, and a reader that went to the backend may already have
// seen it, so the older local copy must not be served then (see
// update.go, race 3).
func (c *Cache) GetIntoQuiet(dst []byte, db int, key []byte) (value []byte, typ byte, ttl time.Duration, ok bool) {
	return c.getInto(dst, db, key, true)
}

func (c *Cache) getInto(dst []byte, db int, key []byte, quiet bool) (value []byte, typ byte, ttl time.Duration, ok bool) {
	h := c.hash(db, key)
	// A write in flight hides clean copies, never dirty ones: a dirty item
	// is newer than anything the backend has.
	busy := quiet && c.inflight[h&(numGuards-1)].Load() != 0
	s := c.shardOf(h)
	var v pool.View
	s.mu.RLock()
	pos, local := c.find(s, h, db, key, &v)
	if pos < 0 || busy && !v.Dirty() {
		s.mu.RUnlock()
		c.record(noID, h)
		return dst[:0], 0, 0, false
	}
	if v.Expire != 0 {
		now := c.now()
		if expired(v.Expire, now) {
			s.mu.RUnlock()
			c.record(noID, h)
			return dst[:0], 0, 0, false
		}
		ttl = remaining(v.Expire, now)
	}
	dst = append(dst[:0], v.Value...)
	typ = v.Type
	s.mu.RUnlock()
	c.record(c.idOf(h, local), h)
	return dst, typ, ttl, true
}

// Contains reports whether (db, key) is present and not expired, without
// counting a hit or a miss.
func (c *Cache) Contains(db int, key []byte) bool {
	h := c.hash(db, key)
	s := c.shardOf(h)
	var v pool.View
	s.mu.RLock()
	defer s.mu.RUnlock()
	pos, _ := c.find(s, h, db, key, &v)
	return pos >= 0 && !expired(v.Expire, c.now())
}

// Set stores a clean copy of value under (db, key) with type tag typ and
// time to live ttl (0 = none; negative deletes). The TTL is capped by the
// namespace's and the cache's TTL. Set replaces a dirty copy. It returns
// ErrTooLarge (dropping any old copy) or ErrNoSpace; a value the eviction
// policy declines to admit is not stored and is not an error. Any fill of
// the key in flight is not stored (see GetOrLoad).
func (c *Cache) Set(db int, key, value []byte, typ byte, ttl time.Duration) error {
	c.markFills(db, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	_, err := c.setLocked(db, key, value, typ, ttl, false)
	return err
}

// Delete removes (db, key), dirty or not, and reports whether it was there.
// A fill of the key in flight is not stored.
func (c *Cache) Delete(db int, key []byte) bool {
	c.markFills(db, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deleteLocked(db, key, c.hash(db, key))
}

// Expire changes the TTL of (db, key): ttl > 0 sets it (capped like Set's
// for clean items), 0 removes it (subject to the caps), negative deletes the
// key. It reports whether the key was present.
func (c *Cache) Expire(db int, key []byte, ttl time.Duration) bool {
	c.markFills(db, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drainLocked()
	h := c.hash(db, key)
	s := c.shardOf(h)
	var v pool.View
	pos, local := c.find(s, h, db, key, &v)
	if pos < 0 || expired(v.Expire, c.now()) {
		return false
	}
	if ttl < 0 {
		c.removeLocked(s, h, pos, local, reasonDelete)
		return true
	}
	// Rewrite the item: the stamp is a varint and may change length. The
	// value is copied out first because making room may move or reuse the
	// bytes it lives in.
	c.scratch = append(append(c.scratch[:0], v.Key...), v.Value...)
	k, val := c.scratch[:len(v.Key)], c.scratch[len(v.Key):]
	if v.Dirty() {
		// A dirty item keeps its version so that the flusher's MarkClean
		// still matches; its TTL is the user's and is not capped.
		_, err := c.putLocked(db, k, val, v.Type, ttl, true, v.Version, h)
		return err == nil
	}
	_, err := c.setLocked(db, k, val, v.Type, ttl, false)
	return err == nil
}

// setLocked is Set and SetDirty under c.mu.
func (c *Cache) setLocked(db int, key, value []byte, typ byte, ttl time.Duration, dirty bool) (uint64, error) {
	c.drainLocked()
	var ver uint64
	if dirty {
		c.version++
		ver = c.version
	}
	return c.putLocked(db, key, value, typ, ttl, dirty, ver, c.hash(db, key))
}

func (c *Cache) putLocked(db int, key, value []byte, typ byte, ttl time.Duration, dirty bool, ver uint64, h uint64) (uint64, error) {
	if db < 0 || db > math.MaxUint32 {
		return 0, fmt.Errorf("cache: db %d out of range", db)
	}
	s := c.shardOf(h)
	ns := c.ns.Load().match(key)
	var nsID uint8
	if ns != nil {
		nsID = ns.id
		if ns.Mode == ModeBypass {
			c.dropLocked(s, h, db, key)
			if dirty {
				return 0, ErrBypass
			}
			return 0, nil
		}
		if !dirty && ns.TTL > 0 && (ttl == 0 || ttl > ns.TTL) {
			ttl = ns.TTL
		}
	}
	if !dirty && c.ttl > 0 && (ttl == 0 || ttl > c.ttl) {
		ttl = c.ttl
	}
	if ttl < 0 {
		c.dropLocked(s, h, db, key)
		return 0, nil
	}
	it := pool.Item{Key: key, Value: value, Type: typ, NS: nsID, DB: uint32(db), Expire: c.expireAt(ttl), Version: ver, Dirty: dirty}
	size := it.Size()
	if size > c.maxItem {
		c.dropLocked(s, h, db, key)
		return 0, ErrTooLarge
	}
	var v pool.View
	pos, local := c.find(s, h, db, key, &v)
	if pos >= 0 {
		return ver, c.replaceLocked(s, h, local, &v, &it, size, ns)
	}
	return ver, c.insertLocked(s, h, &it, size, ns)
}

// dropLocked removes (db, key) if present.
func (c *Cache) dropLocked(s *shard, h uint64, db int, key []byte) {
	var v pool.View
	if pos, local := c.find(s, h, db, key, &v); pos >= 0 {
		c.removeLocked(s, h, pos, local, reasonDelete)
	}
}

// nsRoomLocked evicts items of namespace ns until need more bytes fit under
// its cap. The policy chooses the victims: while evictNS is set, pinned()
// reports every item of another namespace as pinned.
func (c *Cache) nsRoomLocked(ns *nsEntry, need int64) error {
	if ns == nil || ns.MaxMemory == 0 {
		return nil
	}
	if need > ns.MaxMemory {
		return ErrTooLarge
	}
	c.evictNS = int(ns.id)
	defer func() { c.evictNS = -1 }()
	for c.pool.NSLive(ns.id)+need > ns.MaxMemory {
		if !c.pol.EvictOne() {
			return ErrNoSpace
		}
	}
	return nil
}

// policyRoomLocked makes the policy's cost fit cost more bytes, so that
// Admit of a dirty item cannot reject it (policies only turn newcomers
// away when they must evict).
func (c *Cache) policyRoomLocked(cost int64) error {
	budget := c.itemBudget(c.pool.Limit())
	for c.pol.Used()+cost > budget {
		if !c.pol.EvictOne() {
			return ErrNoSpace
		}
	}
	return nil
}

func (c *Cache) insertLocked(s *shard, h uint64, it *pool.Item, size int, ns *nsEntry) error {
	if err := c.nsRoomLocked(ns, int64(size)); err != nil {
		return err
	}
	if it.Dirty {
		if err := c.policyRoomLocked(int64(size)); err != nil {
			return err
		}
	}
	if err := c.ensureRoomLocked(s); err != nil {
		return err
	}
	s.mu.Lock()
	local := s.allocSlot()
	s.mu.Unlock()
	id := c.idOf(h, local)
	if err := c.policyGrowLocked(id); err != nil {
		c.freeLocalLocked(s, local)
		return err
	}
	c.pendingID, c.pendingHash = id, h
	admitted := c.pol.Admit(id, h, uint32(size))
	c.pendingID = noID
	if c.sizer != nil {
		c.pinID = id
		err := c.syncPolicyBytesLocked()
		c.pinID = noID
		if err != nil {
			if admitted {
				c.pol.Remove(id)
			}
			c.freeLocalLocked(s, local)
			return err
		}
	}
	if !admitted {
		c.freeLocalLocked(s, local)
		if it.Dirty {
			return ErrNoSpace
		}
		c.st.rejected.Add(1)
		return nil
	}
	c.pinID = id
	loc, err := c.allocLocked(it)
	c.pinID = noID
	if err != nil {
		c.pol.Remove(id)
		c.freeLocalLocked(s, local)
		return err
	}
	w := uint64(loc) | uint64(it.NS)<<slotNSShift | slotUsed
	if it.Dirty {
		w |= slotDirty
		c.dirtyBytes += int64(size)
		c.dirtyKeys++
	}
	s.mu.Lock()
	s.slots[local] = w
	s.insert(h, local)
	s.mu.Unlock()
	c.payload += int64(len(it.Key) + len(it.Value))
	return nil
}

func (c *Cache) replaceLocked(s *shard, h uint64, local uint32, old *pool.View, it *pool.Item, size int, ns *nsEntry) error {
	id := c.idOf(h, local)
	oldSize, oldNS, oldDirty := old.Size, old.NS, old.Dirty()
	oldPayload := len(old.Key) + len(old.Value)
	need := int64(size)
	if ns != nil && oldNS == ns.id {
		need -= int64(oldSize)
	}
	c.pinID = id
	defer func() { c.pinID = noID }()
	// On failure a clean write drops the old copy (the backend already has
	// the new value, so the old one is stale); a dirty write keeps it (it
	// may be the only copy of an unflushed write, and the new one was not
	// accepted).
	fail := func(err error) error {
		if !it.Dirty {
			c.removeLocked(s, h, -1, local, reasonDelete)
		}
		return err
	}
	if err := c.nsRoomLocked(ns, need); err != nil {
		return fail(err)
	}
	if it.Dirty && !oldDirty {
		if err := c.policyRoomLocked(int64(size - oldSize)); err != nil {
			return fail(err)
		}
	}
	loc, err := c.allocLocked(it)
	if err != nil {
		return fail(err)
	}
	// Compaction inside allocLocked may have moved the old copy: reread.
	w := s.slots[local]
	oldLoc := pool.Loc(slotLoc(w))
	nw := uint64(loc) | uint64(it.NS)<<slotNSShift | slotUsed
	if it.Dirty {
		nw |= slotDirty
	}
	s.mu.Lock()
	s.slots[local] = nw
	s.mu.Unlock()
	c.pool.Free(oldLoc)
	if w&slotDirty != 0 {
		c.dirtyBytes -= int64(oldSize)
		c.dirtyKeys--
	}
	if it.Dirty {
		c.dirtyBytes += int64(size)
		c.dirtyKeys++
	} else if w&slotDirty != 0 {
		c.notifyDirtyLocked()
	}
	c.payload += int64(len(it.Key)+len(it.Value)) - int64(oldPayload)
	c.pol.Resize(id, uint32(size))
	c.pol.Access(id, h)
	return nil
}

// allocLocked writes it into the pool, making room when the pool is full:
// first by compacting the segment with the most dead space, then by asking
// the policy for victims (EvictOne) when fragmentation, not cost, is what
// is short.
func (c *Cache) allocLocked(it *pool.Item) (pool.Loc, error) {
	minGain := c.segSize / 8
	for {
		loc, err := c.pool.Put(it)
		if err == nil {
			return loc, nil
		}
		if err != pool.ErrFull {
			return 0, fmt.Errorf("cache: %w", err)
		}
		if c.pool.Compact(minGain, c.relocate) {
			continue
		}
		if c.evictBytesLocked(int64(minGain)) {
			continue
		}
		if c.pool.Compact(it.Size(), c.relocate) {
			continue
		}
		return 0, ErrNoSpace
	}
}

// evictBytesLocked evicts until n bytes of items are gone; it reports
// whether anything was evicted.
func (c *Cache) evictBytesLocked(n int64) bool {
	start := c.pool.Stats().Live
	any := false
	for start-c.pool.Stats().Live < n {
		if !c.pol.EvictOne() {
			break
		}
		any = true
	}
	return any
}

// relocate repoints the slot of an item that compaction moved, or drops it
// when it has expired. Called by pool.Compact under c.mu.
func (c *Cache) relocate(old, nl pool.Loc, v *pool.View) {
	h := c.hash(int(v.DB), v.Key)
	s := c.shardOf(h)
	pos := s.probe(h, func(l uint32) bool { return slotLoc(s.slots[l]) == uint64(old) })
	if pos < 0 {
		var fv pool.View
		p2, l2 := c.find(s, h, int(v.DB), v.Key, &fv)
		w := uint64(0)
		if p2 >= 0 {
			w = s.slots[l2]
		}
		panic(fmt.Sprintf("cache: compaction moved an item the index does not know: %q old=%x new=%x find=%d slot=%x", v.Key, old, nl, p2, w))
	}
	local := uint32(s.idx[pos]) - 1
	s.mu.Lock()
	s.slots[local] = s.slots[local]&^slotLocMask | uint64(nl)
	s.mu.Unlock()
	if v.Dirty() || c.idOf(h, local) == c.pinID || !expired(v.Expire, c.now()) {
		return
	}
	c.removeLocked(s, h, pos, local, reasonExpire)
}

type removeReason uint8

const (
	reasonDelete removeReason = iota
	reasonEvict
	reasonExpire
	reasonInvalidate
)

// removeLocked deletes the entry at index position pos (or finds it by
// local when pos < 0), frees its slot and pool bytes, and tells the policy
// unless the policy evicted it.
func (c *Cache) removeLocked(s *shard, h uint64, pos int, local uint32, why removeReason) {
	w := s.slots[local]
	loc := pool.Loc(slotLoc(w))
	if pos < 0 {
		pos = s.probe(h, func(l uint32) bool { return l == local })
		if pos < 0 {
			panic("cache: remove of an item the index does not know")
		}
	}
	var v pool.View
	c.pool.Read(loc, &v)
	size, payload := v.Size, len(v.Key)+len(v.Value)
	s.mu.Lock()
	s.deleteAt(pos)
	s.freeSlot(local)
	s.mu.Unlock()
	// No reader can reach the item now: readers find it only through the
	// index under s.mu, which we held while deleting the entry.
	c.pool.Free(loc)
	c.payload -= int64(payload)
	if w&slotDirty != 0 {
		c.dirtyBytes -= int64(size)
		c.dirtyKeys--
		c.notifyDirtyLocked()
	}
	switch why {
	case reasonEvict:
		c.st.evictions.Add(1)
		return // the policy already forgot it
	case reasonExpire:
		c.st.expirations.Add(1)
	case reasonInvalidate:
		c.st.invalidations.Add(1)
	}
	c.pol.Remove(c.idOf(h, local))
}

func (c *Cache) freeLocalLocked(s *shard, local uint32) {
	s.mu.Lock()
	s.freeSlot(local)
	s.mu.Unlock()
}

// onEvict is the policy's Evict callback (under c.mu).
func (c *Cache) onEvict(id uint32) {
	s, local := c.splitID(id)
	w := s.slots[local]
	if w&slotUsed == 0 {
		panic("cache: policy evicted an id that is not resident")
	}
	var v pool.View
	c.pool.Read(pool.Loc(slotLoc(w)), &v)
	c.removeLocked(s, c.hash(int(v.DB), v.Key), -1, local, reasonEvict)
}

// pinned is the policy's Pinned callback (under c.mu): dirty items, the
// item the current operation works on, and while a namespace cap is being
// enforced, items of other namespaces.
func (c *Cache) pinned(id uint32) bool {
	if id == c.pendingID {
		return false
	}
	if id == c.pinID {
		return true
	}
	s, local := c.splitID(id)
	w := s.slots[local]
	if w&slotDirty != 0 {
		return true
	}
	return c.evictNS >= 0 && int(slotNS(w)) != c.evictNS
}

// hashOfID is the policy's Hash callback (under c.mu): the index keeps only
// 32 bits of the hash, so it is recomputed from the key in the pool.
func (c *Cache) hashOfID(id uint32) uint64 {
	if id == c.pendingID {
		return c.pendingHash
	}
	s, local := c.splitID(id)
	var v pool.View
	c.pool.Read(pool.Loc(slotLoc(s.slots[local])), &v)
	return c.hash(int(v.DB), v.Key)
}

// itemBudget is the policy capacity for a pool limit: the limit minus the
// compaction reserve, the active segment, one more segment and 1/32 of the
// limit. The slack lets the policy's victims empty whole segments before a
// new one is needed, which keeps compaction's copying low (measured in
// BENCHMARKS.md: write amplification ~1.1 with it, ~2.4 without).
func (c *Cache) itemBudget(poolLimit int64) int64 {
	return max(poolLimit-3*int64(c.segSize)-poolLimit/32, 0)
}

func (c *Cache) shardMetaBytes(s *shard) int64 { return int64(len(s.idx)+len(s.slots)) * 8 }

// chargeLocked makes room for delta more bytes of metadata inside the
// quota, shrinking the pool first. Accounted bytes (pool mapped + metadata)
// therefore never exceed the quota, even for a moment.
func (c *Cache) chargeLocked(delta int64) error {
	if err := c.shrinkPoolLocked(c.quota - c.metaBytes - delta); err != nil {
		return err
	}
	c.metaBytes += delta
	return nil
}

// shrinkPoolLocked lowers the pool limit to limit, freeing segments by
// compaction and eviction until the pool fits with its compaction reserve
// intact (without the reserve, dead space could no longer be reclaimed),
// and resizes the policy's budget.
func (c *Cache) shrinkPoolLocked(limit int64) error {
	if limit < 4*int64(c.segSize) {
		return ErrNoSpace
	}
	c.pol.SetCapacity(c.itemBudget(limit))
	c.pool.MapReserve()
	c.pool.SetLimit(limit)
	for !(c.pool.Trim() && c.pool.HasReserve()) {
		if c.pool.Compact(1, c.relocate) {
			continue
		}
		if c.pol.EvictOne() {
			continue
		}
		c.pool.SealActive()
		if !c.pool.Compact(1, c.relocate) {
			return ErrNoSpace
		}
	}
	return nil
}

// ensureRoomLocked grows s's index and slot table ahead of an insert.
func (c *Cache) ensureRoomLocked(s *shard) error {
	if s.needGrow() {
		nb := s.nextBuckets()
		newBytes := int64(nb) * bucketLen * 8
		if err := c.chargeLocked(newBytes); err != nil {
			return err
		}
		oldBytes := int64(len(s.idx)) * 8
		s.mu.Lock()
		old := s.rehash(nb)
		s.mu.Unlock()
		pool.FreeWords(old) // no reader can hold it: they use s.idx under s.mu
		c.metaBytes -= oldBytes
		c.afterMetaChangeLocked()
	}
	if s.needSlots() {
		n := s.growSlotsLen()
		if err := c.chargeLocked(int64(n) * 8); err != nil {
			return err
		}
		old := s.slots
		ns := pool.Words(n)
		copy(ns, s.slots)
		s.mu.Lock()
		s.slots = ns
		s.mu.Unlock()
		pool.FreeWords(old)
		c.metaBytes -= int64(len(old)) * 8
		c.afterMetaChangeLocked()
	}
	return nil
}

// syncPolicyBytesLocked charges the policy's reported footprint. The policy
// grows inside Admit and SetCapacity, so the growth is charged right after
// the call, before the operation returns: the pool shrinks by as much,
// evicting if needed. Accounted bytes are back within the quota before any
// other operation can observe them.
func (c *Cache) syncPolicyBytesLocked() error {
	for range 4 { // SetCapacity inside may grow the policy again; it settles fast
		m := c.sizer.MemoryBytes()
		delta := m - c.polCharged
		if delta == 0 {
			return nil
		}
		c.polCharged = m
		c.metaBytes += delta
		if delta > 0 {
			if err := c.shrinkPoolLocked(c.quota - c.metaBytes); err != nil {
				return err
			}
			continue
		}
		c.afterMetaChangeLocked()
	}
	return nil
}

// policyMetaBytes is what is charged for the policy.
func (c *Cache) policyMetaBytes() int64 {
	if c.sizer != nil {
		return c.polCharged
	}
	return c.polCap * c.perEntry
}

// policyGrowLocked charges the policy's metadata growth for a new id when
// the policy does not report its footprint: PolicyBytesPerEntry per id,
// growing as the policy's arrays do.
func (c *Cache) policyGrowLocked(id uint32) error {
	if c.sizer != nil || int64(id) < c.polCap {
		return nil
	}
	// Mirror the policy's geometric growth: max(id+1, 2x, 64) entries.
	n := max(int64(id)+1, 2*c.polCap, 64)
	if err := c.chargeLocked((n - c.polCap) * c.perEntry); err != nil {
		return err
	}
	c.polCap = n
	return nil
}

// afterMetaChangeLocked gives freed metadata bytes back to the pool.
func (c *Cache) afterMetaChangeLocked() {
	limit := c.quota - c.metaBytes
	if limit > c.pool.Limit() {
		c.pool.SetLimit(limit)
		c.pol.SetCapacity(c.itemBudget(limit))
		if c.sizer != nil && c.sizer.MemoryBytes() > c.polCharged {
			_ = c.syncPolicyBytesLocked() // only shrinks the pool back
		}
	}
}

// SetMaxMemory changes the quota at run time. Shrinking evicts (never dirty
// items) and returns memory to the OS before it returns; ErrNoSpace means
// dirty items alone exceed the new quota (the quota is then as small as
// they allow, and shrinks further as they are flushed... on the next call).
func (c *Cache) SetMaxMemory(n int64) error {
	if n < minMaxMemory || int64(c.segSize)*8 > n {
		return fmt.Errorf("%w: max memory %d is below %d or 8 segments", ErrConfig, n, minMaxMemory)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.drainLocked()
	old := c.quota
	c.quota = n
	if n >= old {
		c.pool.SetLimit(n - c.metaBytes)
		c.pol.SetCapacity(c.itemBudget(n - c.metaBytes))
		if c.sizer != nil {
			return c.syncPolicyBytesLocked()
		}
		return nil
	}
	if err := c.shrinkPoolLocked(n - c.metaBytes); err != nil {
		c.quota = c.pool.Stats().Mapped + c.metaBytes
		c.pool.SetLimit(c.quota - c.metaBytes)
		c.pol.SetCapacity(c.itemBudget(c.quota - c.metaBytes))
		return err
	}
	if c.maxDirty > n {
		c.maxDirty = n
	}
	c.shrinkIndexesLocked()
	return nil
}

// shrinkIndexesLocked rehashes shard indexes that eviction left mostly
// empty into smaller tables and gives the bytes back to the pool.
func (c *Cache) shrinkIndexesLocked() {
	for i := range c.shards {
		s := &c.shards[i]
		want := uint64(roundBuckets(uint32((uint64(s.count)+1)*maxLoadDen/maxLoadNum/bucketLen*5/4 + 1)))
		if want*2 > uint64(s.nb) {
			continue
		}
		oldBytes := int64(len(s.idx)) * 8
		s.mu.Lock()
		old := s.rehash(uint32(want))
		s.mu.Unlock()
		pool.FreeWords(old)
		c.metaBytes += int64(len(s.idx))*8 - oldBytes
	}
	c.afterMetaChangeLocked()
}

// SetTTL changes the cache-wide TTL cap for items stored from now on.
func (c *Cache) SetTTL(ttl time.Duration) {
	c.mu.Lock()
	c.ttl = max(ttl, 0)
	c.mu.Unlock()
}

// SetMaxDirty changes the dirty-bytes limit (0 = MaxMemory/2).
func (c *Cache) SetMaxDirty(n int64) {
	c.mu.Lock()
	if n <= 0 || n > c.quota {
		n = c.quota / 2
	}
	c.maxDirty = n
	c.notifyDirtyLocked()
	c.mu.Unlock()
}

// SetNamespaces replaces the namespaces. Items already stored keep their
// namespace; a prefix that comes back keeps its identity. Caps that are now
// exceeded are enforced at once.
func (c *Cache) SetNamespaces(nss []Namespace) error {
	if err := validateNamespaces(nss); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	ids := make(map[string]uint8, len(c.nsIDs))
	for k, v := range c.nsIDs {
		ids[k] = v
	}
	tab, err := buildNSTable(nss, ids)
	if err != nil {
		return err
	}
	c.nsIDs = ids
	c.ns.Store(tab)
	for i := range tab.list {
		e := &tab.list[i]
		if e.Mode == ModeBypass {
			c.dropNSLocked(e.id)
			continue
		}
		if err := c.nsRoomLocked(e, 0); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cache) dropNSLocked(id uint8) {
	c.pool.Scan(func(l pool.Loc, v *pool.View) bool {
		if v.NS == id && !v.Dirty() {
			c.removeByItemLocked(l, v, reasonInvalidate)
		}
		return true
	})
}

// removeByItemLocked removes the item at l described by v.
func (c *Cache) removeByItemLocked(l pool.Loc, v *pool.View, why removeReason) {
	h := c.hash(int(v.DB), v.Key)
	s := c.shardOf(h)
	pos := s.probe(h, func(x uint32) bool { return slotLoc(s.slots[x]) == uint64(l) })
	if pos < 0 {
		panic("cache: pool item unknown to the index")
	}
	c.removeLocked(s, h, pos, uint32(s.idx[pos])-1, why)
}

func (c *Cache) expireLoop(every time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.ExpireNow()
		}
	}
}

// ExpireNow runs one background expiry pass: it frees the items whose TTL
// has passed, reading only segments whose earliest expiry has passed. It
// returns the number of items removed.
func (c *Cache) ExpireNow() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0
	}
	c.drainLocked()
	now := c.now()
	return c.pool.Expired(uint64(now/1e6), func(l pool.Loc, v *pool.View) {
		if !v.Dirty() { // dirty items stay until flushed (MarkClean drops them then)
			c.removeByItemLocked(l, v, reasonExpire)
		}
	})
}

type (
	poolView = pool.View
	poolLoc  = pool.Loc
)
