package disk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// lockStripes is the number of key lock stripes. A key's stripe is chosen by
// its hash and physical db; two keys sharing a stripe only serialize, they
// never deadlock, because stripes are always taken in ascending order.
const lockStripes = 1024

// activeExpiryInterval is how often the background expiry pass runs; Redis's
// default hz 10 runs its active expire cycle at the same rate.
const activeExpiryInterval = 100 * time.Millisecond

// Dead-marker collection (see tx.killMeta). A marker becomes a real delete
// once deadFlushLag memtables have been flushed since it was last written
// (so the key's history it shadows is no longer in a memtable, where a
// tombstone would make lookups step over it), or when it has not been
// rewritten for deadMaxAge (a quiet store that never flushes). A key deleted
// in a loop keeps rewriting its marker and stays a marker while hot.
const (
	deadFlushLag = 3 // the mutable memtable plus up to two queued immutable ones
	deadMaxAge   = 30 * time.Second
	deadBatch    = 1024 // markers per collector step (one batch, one lock round)
	// deadQueueMax bounds the queue's memory (about 100 bytes a key): past
	// it every queued marker is due, hot or not.
	deadQueueMax  = 1 << 18
	deadCollectEv = time.Second
)

// expiryBatch bounds the keys one active-expiry step deletes under its locks,
// so that a mass expiry does not hold a stripe for long.
const expiryBatch = 128

// Store is an embedded, persistent, Redis-compatible keyspace on pebble.
// It is safe for concurrent use; clients talk to it through Conns.
type Store struct {
	opts Options
	db   *pebble.DB
	log  *slog.Logger

	// global is held shared by every command and exclusively by commands
	// that span the keyspace or several dbs (FLUSHDB, FLUSHALL, SWAPDB,
	// MOVE, COPY ... DB). It guards dbmap.
	global sync.RWMutex
	dbmap  []uint8 // logical db -> physical db prefix; guarded by global

	stripes [lockStripes]sync.RWMutex // per-key serialization, see lockOrder in doc.go

	stats []dbStats // per physical db
	// countMu makes a commit and its counter update one step for readers
	// of the counters: commits hold it shared (so they still run, and
	// group-sync, concurrently), liveCounts exclusively while it reads the
	// counters and the due part of the TTL index.
	countMu sync.RWMutex
	gen     atomic.Uint64 // last generation handed out

	// deadMu guards dead: the dead markers not yet collected, physical
	// db+key -> when the marker was last written. A leaf lock, taken by
	// commit under the command's stripes. Its size is bounded by the
	// distinct keys deleted during about deadFlushLag memtables of writes,
	// and by deadQueueMax.
	deadMu  sync.Mutex
	dead    map[string]deadMark
	flushed atomic.Uint64 // memtables flushed since Open (pebble FlushEnd)
	flushCh chan struct{} // pinged on each flush to run the collector early

	watchMu  sync.Mutex                // guards watchers
	watchers map[string]map[*Conn]bool // physical db+key -> Conns watching it -> expired when watched
	nwatch   atomic.Int64              // number of (conn, key) watches; 0 skips watchMu on writes

	expiredKeys atomic.Int64 // keys removed by expiry since Open (INFO stats)
	commands    atomic.Int64 // commands executed since Open (INFO stats)
	started     time.Time
	runID       string

	// policy and syncWrites are the Fsync policy, switchable at run time
	// by CONFIG SET appendfsync.
	policy     atomic.Pointer[string]
	syncWrites atomic.Bool

	closed atomic.Bool
	cancel context.CancelFunc
	wg     sync.WaitGroup // background goroutines
}

// deadMark records when a dead marker was last written: the flush count
// then and the time (unix ms).
type deadMark struct {
	flushed uint64
	at      int64
}

// dbStats counts the meta records of one physical db. They are updated
// after each commit from the deltas the command's tx collected, so they
// count keys that are physically present, expired or not; DBSIZE subtracts
// the due entries of the TTL index.
type dbStats struct {
	keys    atomic.Int64
	expires atomic.Int64
}

// Open opens (creating if needed) the store in opts.Dir, recovers the WAL
// after a crash, rebuilds the per-db key counters with one pass over the
// meta records (elements are not read; dead markers found there are queued
// for collection), and starts the active-expiry goroutine, the dead-marker
// collector and the sync goroutine (which syncs only while the policy is
// FsyncEverysec). Close stops them.
func Open(opts Options) (*Store, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("disk: open: %w", err)
	}
	s := &Store{
		opts:     opts,
		log:      opts.Logger,
		stats:    make([]dbStats, 256),
		dead:     map[string]deadMark{},
		flushCh:  make(chan struct{}, 1),
		watchers: map[string]map[*Conn]bool{},
		started:  time.Now(),
		runID:    randomHex(40),
	}
	cache := pebble.NewCache(opts.BlockCache)
	defer cache.Unref()
	popts := &pebble.Options{
		Cache: cache,
		// The configured memtable is a budget, not the size of one:
		// pebble keeps full memtables in memory until they are flushed
		// (measured with one 32 MiB memtable: 64 MiB held, RSS 215.7 MiB
		// against the 192 MiB bound of bench/disk.sh). With halves and
		// writes stopped at two queued: 47.8 MiB held, RSS 176.1 MiB.
		MemTableSize:                uint64(opts.Memtable / 2),
		MemTableStopWritesThreshold: 2,
		FormatMajorVersion:          pebble.FormatNewest,
		Logger:                      pebbleLogger{opts.Logger},
		EventListener: &pebble.EventListener{
			FlushEnd: func(info pebble.FlushInfo) {
				if info.Err != nil {
					return
				}
				s.flushed.Add(uint64(info.Input))
				select {
				case s.flushCh <- struct{}{}:
				default:
				}
			},
		},
	}
	db, err := pebble.Open(opts.Dir, popts)
	if err != nil {
		return nil, fmt.Errorf("disk: open %s: %w", opts.Dir, err)
	}
	s.db = db
	s.setFsyncPolicy(opts.Fsync)
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go s.expireLoop(ctx)
	s.wg.Add(1)
	go s.syncLoop(ctx)
	s.wg.Add(1)
	go s.deadLoop(ctx)
	return s, nil
}

// load reads the db map and rebuilds counters and the generation counter.
func (s *Store) load() error {
	s.dbmap = make([]uint8, s.opts.Databases)
	for i := range s.dbmap {
		s.dbmap[i] = uint8(i)
	}
	v, closer, err := s.db.Get(sysKey(sysDBMap))
	switch {
	case err == nil:
		// A store written with more databases keeps its mapping for the
		// ones still configured; the mapping is a permutation of 0..255.
		for i := 0; i < len(s.dbmap) && i < len(v); i++ {
			s.dbmap[i] = v[i]
		}
		_ = closer.Close()
		if !isPermutationPrefix(s.dbmap) {
			return fmt.Errorf("disk: open: %w: db map", ErrCorrupt)
		}
	case errors.Is(err, pebble.ErrNotFound):
	default:
		return fmt.Errorf("disk: open: %w", err)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixMeta}, UpperBound: []byte{prefixMeta + 1}})
	if err != nil {
		return fmt.Errorf("disk: open: %w", err)
	}
	var maxGen uint64
	now := time.Now().UnixMilli()
	for ok := it.First(); ok; ok = it.Next() {
		db, _, key, ok := decodeMetaKey(it.Key())
		if !ok {
			_ = it.Close()
			return fmt.Errorf("disk: open: %w: meta key %q", ErrCorrupt, it.Key())
		}
		if isDeadMeta(it.Value()) {
			// Left by a previous run; the collector deletes it.
			s.dead[string(append([]byte{db}, key...))] = deadMark{flushed: s.flushed.Load(), at: now}
			continue
		}
		m, err := decodeMeta(it.Value())
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("disk: open: meta of %q: %w", it.Key(), err)
		}
		s.stats[db].keys.Add(1)
		if m.expire != 0 {
			s.stats[db].expires.Add(1)
		}
		maxGen = max(maxGen, m.gen)
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("disk: open: %w", err)
	}
	// Generations of deleted collections may be reused after a restart:
	// their elements were removed with a range tombstone whose sequence
	// number is below anything written later, so a reused generation starts
	// empty.
	s.gen.Store(maxGen)
	return nil
}

func isPermutationPrefix(m []uint8) bool {
	var seen [256]bool
	for _, v := range m {
		if seen[v] {
			return false
		}
		seen[v] = true
	}
	return true
}

// Close stops the background goroutines, syncs the WAL and closes pebble.
// Conns must not be used afterwards (Do then answers an error). Close is
// idempotent.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	// Wait for in-flight commands: each holds global shared.
	s.global.Lock()
	defer s.global.Unlock()
	err := s.db.LogData(nil, pebble.Sync)
	if cerr := s.db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("disk: close: %w", err)
	}
	return nil
}

// Databases is the number of logical databases (Options.Databases).
func (s *Store) Databases() int { return s.opts.Databases }

// ServerVersion is the Redis version whose behaviour the store follows.
func (s *Store) ServerVersion() string { return "7.0.15" }

// DBSize returns the number of live (unexpired) keys of logical db, as
// DBSIZE answers; 0 for an out-of-range db. Safe for concurrent use.
func (s *Store) DBSize(db int) int64 {
	if db < 0 || db >= s.opts.Databases || s.closed.Load() {
		return 0
	}
	s.global.RLock()
	defer s.global.RUnlock()
	if s.closed.Load() {
		return 0
	}
	n, _, _ := s.liveCounts(s.db, s.dbmap[db], time.Now().UnixMilli())
	return n
}

// liveCounts returns the live keys and live keys with an expiry of physical
// db, as seen by r: the counters minus the due entries of the TTL index
// (keys active expiry has not removed yet).
func (s *Store) liveCounts(r pebble.Reader, db uint8, now int64) (keys, expires int64, err error) {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	keys, expires = s.stats[db].keys.Load(), s.stats[db].expires.Load()
	due, err := s.countDue(r, db, now)
	return keys - due, expires - due, err
}

// countDue counts the TTL-index entries of db due at now.
func (s *Store) countDue(r pebble.Reader, db uint8, now int64) (int64, error) {
	it, err := r.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixExpire},
		UpperBound: appendExpireKey(nil, now+1, 0, nil),
	})
	if err != nil {
		return 0, err
	}
	var n int64
	for ok := it.First(); ok; ok = it.Next() {
		if _, d, _, ok := decodeExpireKey(it.Key()); ok && d == db {
			n++
		}
	}
	return n, it.Close()
}

// syncLoop syncs the WAL once a second while the policy is FsyncEverysec.
func (s *Store) syncLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.fsyncPolicy() != FsyncEverysec {
				continue
			}
			if err := s.db.LogData(nil, pebble.Sync); err != nil {
				s.log.Error("disk: background sync failed", "err", err)
			}
		}
	}
}

// expireLoop is the active expiry: every activeExpiryInterval it deletes the
// keys whose TTL-index entry is due, in index order (oldest deadline first).
// It reads only the due part of the index, never the keyspace.
func (s *Store) expireLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(activeExpiryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for {
				n, err := s.expireStep(time.Now().UnixMilli())
				if err != nil {
					s.log.Error("disk: active expiry failed", "err", err)
				}
				if n < expiryBatch || ctx.Err() != nil {
					break
				}
			}
		}
	}
}

// expireStep deletes up to expiryBatch due keys and returns how many index
// entries it looked at.
func (s *Store) expireStep(now int64) (int, error) {
	s.global.RLock()
	defer s.global.RUnlock()
	if s.closed.Load() {
		return 0, nil
	}
	type due struct {
		at  int64
		db  uint8
		key []byte
	}
	var list []due
	it, err := s.db.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixExpire},
		UpperBound: appendExpireKey(nil, now+1, 0, nil),
	})
	if err != nil {
		return 0, err
	}
	for ok := it.First(); ok && len(list) < expiryBatch; ok = it.Next() {
		at, db, key, ok := decodeExpireKey(it.Key())
		if !ok {
			continue
		}
		list = append(list, due{at, db, append([]byte(nil), key...)})
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	if len(list) == 0 {
		return 0, nil
	}
	// One batch for the whole step, under the stripes of all its keys
	// (taken in ascending order like any command).
	var stripes []uint16
	for _, d := range list {
		stripes = insertStripe(stripes, stripeOf(d.db, d.key))
	}
	s.lockStripes(stripes, true)
	defer s.unlockStripes(stripes, true)
	t := s.newTx(0, true, 2)
	defer s.releaseTx(t)
	t.now, t.noSync = now, true
	var expired int64
	for _, d := range list {
		t.db = d.db
		m, exists, err := t.physical(d.key)
		if err != nil {
			return len(list), err
		}
		switch {
		case exists && m.expire == d.at && t.expired(&m):
			if err := t.removeExpired(d.key, &m); err != nil {
				return len(list), err
			}
			expired++
		case !exists || m.expire != d.at:
			// A stale index entry (cannot happen while putMeta and
			// remove maintain the index; dropped defensively).
			if err := t.b.Delete(appendExpireKey(nil, d.at, d.db, d.key), nil); err != nil {
				return len(list), err
			}
		}
	}
	if err := s.commit(t); err != nil {
		return len(list), err
	}
	s.expiredKeys.Add(expired)
	return len(list), nil
}

// markDead queues the dead markers just committed (physical db+key) for
// the collector, or refreshes their mark if already queued. The caller
// holds the keys' stripes.
func (s *Store) markDead(keys []string) {
	m := deadMark{flushed: s.flushed.Load(), at: time.Now().UnixMilli()}
	s.deadMu.Lock()
	for _, k := range keys {
		s.dead[k] = m
	}
	s.deadMu.Unlock()
}

// deadDue reports whether the marker with mark m may become a real delete.
func (s *Store) deadDue(m deadMark, flushed uint64, now int64) bool {
	return flushed >= m.flushed+deadFlushLag || now-m.at >= deadMaxAge.Milliseconds()
}

// deadLoop runs the dead-marker collector each deadCollectEv and after each
// flush, until ctx is done.
func (s *Store) deadLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(deadCollectEv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.flushCh:
		}
		for {
			n, err := s.collectDead(time.Now().UnixMilli())
			if err != nil {
				s.log.Error("disk: dead marker collection failed", "err", err)
			}
			if n < deadBatch || err != nil || ctx.Err() != nil {
				break
			}
		}
	}
}

// collectDead turns up to deadBatch due dead markers into pebble deletes, in
// one batch under the keys' stripes (so no command is between reading and
// writing one of them), and returns how many due markers it picked.
func (s *Store) collectDead(now int64) (int, error) {
	s.global.RLock()
	defer s.global.RUnlock()
	if s.closed.Load() {
		return 0, nil
	}
	flushed := s.flushed.Load()
	var keys []string
	s.deadMu.Lock()
	force := len(s.dead) > deadQueueMax
	for k, m := range s.dead {
		if force || s.deadDue(m, flushed, now) {
			keys = append(keys, k)
			if len(keys) == deadBatch {
				break
			}
		}
	}
	s.deadMu.Unlock()
	if len(keys) == 0 {
		return 0, nil
	}
	picked := len(keys)
	var stripes []uint16
	for _, k := range keys {
		stripes = insertStripe(stripes, stripeOf(k[0], []byte(k[1:])))
	}
	s.lockStripes(stripes, true)
	defer s.unlockStripes(stripes, true)
	// A command may have deleted a key again between the pick and the
	// locks: keep only the markers still due, and unqueue them (no command
	// can requeue them while we hold their stripes).
	s.deadMu.Lock()
	due := keys[:0]
	for _, k := range keys {
		if m, ok := s.dead[k]; ok && (force || s.deadDue(m, flushed, now)) {
			due = append(due, k)
			delete(s.dead, k)
		}
	}
	s.deadMu.Unlock()
	requeue := func() {
		s.deadMu.Lock()
		for _, k := range due {
			if _, ok := s.dead[k]; !ok {
				s.dead[k] = deadMark{} // due at the next pass
			}
		}
		s.deadMu.Unlock()
	}
	b := s.db.NewBatch()
	defer b.Close()
	var kb []byte
	for _, k := range due {
		kb = appendMetaKey(kb[:0], k[0], []byte(k[1:]))
		v, closer, err := s.db.Get(kb)
		if errors.Is(err, pebble.ErrNotFound) {
			continue // FLUSHDB removed it
		}
		if err != nil {
			requeue()
			return picked, err
		}
		dead := isDeadMeta(v)
		_ = closer.Close()
		if !dead {
			continue // the key was created again
		}
		if err := b.Delete(kb, nil); err != nil {
			requeue()
			return picked, err
		}
	}
	if b.Empty() {
		return picked, nil
	}
	// No sync: a marker that survives a crash is found again by load.
	if err := b.Commit(pebble.NoSync); err != nil {
		requeue()
		return picked, err
	}
	return picked, nil
}

// stripeOf picks the lock stripe of (physical db, key).
func stripeOf(db uint8, key []byte) uint16 {
	h := keyHash(key) ^ uint64(db)*0x9E3779B97F4A7C15
	return uint16(h % lockStripes)
}

// nextGen hands out a fresh element generation.
func (s *Store) nextGen() uint64 { return s.gen.Add(1) }

// pebbleLogger routes pebble's messages to slog; pebble's Info chatter goes
// to Debug.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	if p.l.Enabled(context.Background(), slog.LevelDebug) {
		p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
	}
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error("pebble: fatal: " + fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}
