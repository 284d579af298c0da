package proxy

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/respcache/respcache/resp"
	"github.com/respcache/respcache/store/journal"
	"github.com/respcache/respcache/store/redis"
	"github.com/respcache/respcache/telemetry"
	"go.opentelemetry.io/otel/trace"
)

// Write-back (write.mode: write-back).
//
// A write on a cached type (the string and hash commands that
// proxy/internal/writeapply executes exactly as Redis does) is applied to
// the key's local state, appended to the journal as the key's new state,
// stored in the cache as a dirty item and only then acknowledged. The
// flusher sends dirty keys to the backend in batches and confirms the
// journal up to the oldest record it still holds unflushed. In detail:
//
//   - Per-key serialization: a writer holds the stripe lock of each key it
//     writes (keys hash to wbStripes mutexes, taken in index order) from
//     reading the current state to registering the new one, so two writes
//     of a key apply one after the other, and the flusher, which takes the
//     same lock to read a key's state and its journal seq together, never
//     pairs a value with the wrong record.
//   - Current state: the dirty item if there is one (newest there is), else
//     the clean copy (when the cache may be trusted: invalidation link up or
//     not used), else a read from the backend (MULTI TYPE GET HGETALL
//     PEXPIRETIME OBJECT-ENCODING EXEC). A key holding another type, a hash
//     Redis keeps unordered, or a new state larger than max_item_size is
//     not written back: its dirty state (if any) is flushed and the command
//     goes to the backend (write-through), so the result is still Redis's.
//   - Order against the rest: anything that goes to the backend (a
//     write-through command, a read the cache does not answer, a fill)
//     first waits until the dirty state of the keys it names is flushed;
//     commands whose keys are not known before they run (EXEC, scripts,
//     FLUSHALL, SWAPDB, MOVE, COPY, KEYS, SCAN, DBSIZE, ...) wait until
//     everything acknowledged before them is flushed. A client therefore
//     always reads its own writes, through any command.
//   - Journal watermark: every dirty key has an entry with the seq of the
//     record that holds its current state. While a writer appends, its
//     entry is pending with a floor (the highest seq known before the
//     append started: its record gets a higher one). The flusher confirms
//     up to the minimum over entries of seq-1 (or floor), or the last seq
//     when nothing is dirty. A record superseded by a newer record of the
//     same key counts as flushed once the newer one is.
//   - Other writers of the same upstream keys: last flush wins. Tracking
//     invalidations never drop dirty items (the cache keeps them), so an
//     invalidation caused by our own flush cannot discard newer state.

// wbStripes is the number of per-key write locks.
const wbStripes = 4096

// WriteBackConfig enables write-back. The journal must have been opened by
// the caller; Server.New replays it before returning.
type WriteBackConfig struct {
	// Journal holds acknowledged writes until they are flushed. Owned by
	// the caller, who closes it after Server.DrainWriteBack/Close.
	Journal *journal.Journal
	// FlushInterval is the flusher's period (default 5ms).
	FlushInterval time.Duration
	// MaxBatch is the most keys per flush batch (default 256); a batch is
	// sent early when that many keys are dirty.
	MaxBatch int
	// FlushTimeout bounds one batch's round trip (default 5s).
	FlushTimeout time.Duration
}

// wbEntry is one dirty key.
type wbEntry struct {
	db    int
	key   string
	id    string // its key in writeBack.table (tableKey)
	seq   uint64 // record holding the key's current state; 0: none yet
	pend  bool   // a writer is appending a record for the key
	floor uint64 // with pend or unjournaled: records not yet written are above this
	// unjournaled: the latest state's append failed; it is flushed all the
	// same (its client got an error: outcome unknown).
	unjournaled bool
	since       time.Time
	last        time.Time // the latest write
	gone        bool      // removed from the table
	// links are the sampled spans of the writes this entry's state carries
	// (at most maxLinks), for the flush span.
	links []trace.SpanContext

	prev, next *wbEntry // the flush queue, oldest first
}

// writeBack is the server's write-back state.
type writeBack struct {
	srv     *Server
	j       *journal.Journal
	cfg     WriteBackConfig
	log     *slog.Logger
	sink    wbSink
	stripes [wbStripes]sync.Mutex
	seed    maphash.Seed

	mu        sync.Mutex
	table     map[string]*wbEntry
	head      *wbEntry // queue: oldest first
	tail      *wbEntry
	lastSeq   uint64 // highest seq returned by the journal
	confirmed uint64 // highest seq confirmed
	confCh    chan struct{}
	closed    bool

	count    atomic.Int64 // len(table), read without mu
	kick     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	failed   atomic.Uint64 // flush batches that failed
	flushd   atomic.Uint64 // keys flushed
	ctx      context.Context
	cancel   context.CancelFunc
}

// errWriteBackClosed is the error for writes after the flusher stopped.
var errWriteBackClosed = errors.New("proxy: write-back closed")

func newWriteBack(srv *Server, cfg WriteBackConfig) *writeBack {
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 5 * time.Millisecond
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = 5 * time.Second
	}
	wb := &writeBack{
		srv: srv, j: cfg.Journal, cfg: cfg, log: srv.log,
		seed:   maphash.MakeSeed(),
		table:  map[string]*wbEntry{},
		confCh: make(chan struct{}),
		kick:   make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	wb.ctx, wb.cancel = context.WithCancel(context.Background())
	if srv.store != nil {
		wb.sink = &storeSink{conns: map[int]StoreConn{}, st: srv.store}
	} else {
		wb.sink = &redisSink{up: srv.up}
	}
	st := cfg.Journal.Stats()
	wb.lastSeq, wb.confirmed = st.LastSeq, st.ConfirmedSeq
	return wb
}

func (wb *writeBack) stripe(db int, key []byte) int {
	var h maphash.Hash
	h.SetSeed(wb.seed)
	var b [4]byte
	b[0], b[1], b[2], b[3] = byte(db), byte(db>>8), byte(db>>16), byte(db>>24)
	h.Write(b[:])
	h.Write(key)
	return int(h.Sum64() % wbStripes)
}

// stripesOf writes the stripe indexes of keys into dst[:0], sorted and
// deduplicated: the order every lock holder takes them in.
func (wb *writeBack) stripesOf(dst []int, db int, keys [][]byte) []int {
	dst = dst[:0]
	for _, k := range keys {
		dst = append(dst, wb.stripe(db, k))
	}
	slices.Sort(dst)
	return slices.Compact(dst)
}

// lockKeys takes the stripe locks of keys (deduplicated, in index order)
// and returns them for unlockKeys.
func (wb *writeBack) lockKeys(dst []int, db int, keys [][]byte) []int {
	dst = wb.stripesOf(dst, db, keys)
	for _, x := range dst {
		wb.stripes[x].Lock()
	}
	return dst
}

func (wb *writeBack) unlockKeys(held []int) {
	for i := len(held) - 1; i >= 0; i-- {
		wb.stripes[held[i]].Unlock()
	}
}

// entryLocked returns the entry of (db, key), or nil; tk is the caller's
// buffer for the table key (left holding it). wb.mu held.
func (wb *writeBack) entryLocked(tk *[]byte, db int, key []byte) *wbEntry {
	*tk = tableKey(*tk, db, key)
	return wb.table[string(*tk)]
}

func tableKey(dst []byte, db int, key []byte) []byte {
	dst = strconv.AppendInt(dst[:0], int64(db), 10)
	dst = append(dst, ':')
	return append(dst, key...)
}

// begin marks the key's entry pending (creating it) before its record is
// appended; the caller holds the key's stripe lock.
func (wb *writeBack) begin(tk *[]byte, db int, key []byte, now time.Time) error {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	if wb.closed {
		return errWriteBackClosed
	}
	e := wb.entryLocked(tk, db, key)
	if e == nil {
		e = &wbEntry{db: db, key: string(key), id: string(*tk), since: now}
		wb.table[e.id] = e
		wb.count.Add(1)
		wb.pushLocked(e)
	}
	if !e.pend {
		e.pend, e.floor = true, wb.lastSeq
	}
	e.last = now
	return nil
}

// commit ends begin for a key: seq is the record of its new state. seq 0
// means the append failed: the state is in the cache but in no record, so
// the entry stays until it is flushed (unjournaled; the client was told
// the outcome is unknown).
func (wb *writeBack) commit(tk *[]byte, db int, key []byte, seq uint64) {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	e := wb.entryLocked(tk, db, key)
	if e == nil {
		return
	}
	e.pend = false
	if seq > 0 {
		e.seq, e.unjournaled = seq, false
		wb.lastSeq = max(wb.lastSeq, seq)
	} else {
		e.unjournaled = true
	}
	if wb.count.Load() >= int64(wb.cfg.MaxBatch) {
		wb.poke()
	}
}

// maxLinks bounds the span links one key contributes to a flush span.
const maxLinks = 8

// link remembers a sampled write's span for the key's flush span.
func (wb *writeBack) link(tk *[]byte, db int, key []byte, sc trace.SpanContext) {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	if e := wb.entryLocked(tk, db, key); e != nil && len(e.links) < maxLinks {
		e.links = append(e.links, sc)
	}
}

// abandon ends begin for a key whose new state was not stored: an entry
// with nothing else to flush is removed.
func (wb *writeBack) abandon(tk *[]byte, db int, key []byte) {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	if e := wb.entryLocked(tk, db, key); e != nil && e.pend {
		e.pend = false
		if e.seq == 0 && !e.unjournaled {
			wb.removeLocked(e)
		}
	}
}

func (wb *writeBack) poke() {
	select {
	case wb.kick <- struct{}{}:
	default:
	}
}

func (wb *writeBack) pushLocked(e *wbEntry) {
	e.prev, e.next = wb.tail, nil
	if wb.tail != nil {
		wb.tail.next = e
	} else {
		wb.head = e
	}
	wb.tail = e
}

func (wb *writeBack) unlinkLocked(e *wbEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		wb.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		wb.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (wb *writeBack) removeLocked(e *wbEntry) {
	if e.gone {
		return
	}
	e.gone = true
	wb.unlinkLocked(e)
	delete(wb.table, e.id)
	wb.count.Add(-1)
}

// watermarkLocked is the highest seq every record at or below which is on
// the backend (or superseded by a newer record of its key).
func (wb *writeBack) watermarkLocked() uint64 {
	w := wb.lastSeq
	for e := wb.head; e != nil; e = e.next {
		if e.pend || e.unjournaled {
			w = min(w, e.floor)
		}
		if e.seq > 0 {
			w = min(w, e.seq-1)
		}
	}
	return w
}

// seqOf returns the seq a command touching (db, key) must wait for: the
// key's record (0: not dirty).
func (wb *writeBack) seqOf(tk *[]byte, db int, key []byte) uint64 {
	if wb.count.Load() == 0 {
		return 0
	}
	wb.mu.Lock()
	defer wb.mu.Unlock()
	if e := wb.entryLocked(tk, db, key); e != nil {
		return max(e.seq, 1)
	}
	return 0
}

// waitFlushed waits until every record up to seq is on the backend.
func (wb *writeBack) waitFlushed(ctx context.Context, seq uint64) error {
	for {
		wb.mu.Lock()
		if wb.confirmed >= seq || wb.count.Load() == 0 && wb.lastSeq <= seq && wb.confirmed >= wb.lastSeq {
			wb.mu.Unlock()
			return nil
		}
		if wb.closed && wb.stopped() {
			wb.mu.Unlock()
			return errWriteBackClosed
		}
		ch := wb.confCh
		wb.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return err
		}
		wb.poke()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (wb *writeBack) stopped() bool {
	select {
	case <-wb.done:
		return true
	default:
		return false
	}
}

// lastSeqNow is the highest seq acknowledged so far.
func (wb *writeBack) lastSeqNow() uint64 {
	wb.mu.Lock()
	defer wb.mu.Unlock()
	return wb.lastSeq
}

// WriteBackStats is the write-back state for INFO and metrics.
type WriteBackStats struct {
	DirtyKeys    int64
	FlushLag     time.Duration // age of the oldest unflushed write
	JournalBytes int64
	Flushed      uint64 // keys flushed since start
	FailedBatch  uint64 // flush batches that failed (each is retried)
}

func (wb *writeBack) stats() WriteBackStats {
	var st WriteBackStats
	wb.mu.Lock()
	st.DirtyKeys = int64(len(wb.table))
	if wb.head != nil {
		st.FlushLag = time.Since(wb.head.since)
	}
	wb.mu.Unlock()
	st.JournalBytes = wb.j.Stats().Bytes
	st.Flushed, st.FailedBatch = wb.flushd.Load(), wb.failed.Load()
	return st
}

// start runs the flusher.
func (wb *writeBack) start() { go wb.loop() }

func (wb *writeBack) loop() {
	defer close(wb.done)
	t := time.NewTicker(wb.cfg.FlushInterval)
	defer t.Stop()
	backoff := time.Duration(0)
	var bs wbBatch
	for {
		select {
		case <-wb.stop:
			return
		case <-t.C:
		case <-wb.kick:
		}
		for {
			n, err := wb.flushOnce(&bs)
			if err != nil {
				wb.failed.Add(1)
				backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
				if backoff >= time.Second || wb.failed.Load()%100 == 1 {
					wb.log.Warn("write-back: flush failed; retrying", "keys", n, "err", err, "retry_in", backoff)
				}
				select {
				case <-wb.stop:
					return
				case <-time.After(backoff):
				}
				continue
			}
			backoff = 0
			if n < wb.cfg.MaxBatch {
				break
			}
		}
	}
}

// wbItem is one key's flush: its state and the commands that write it.
type wbItem struct {
	e     *wbEntry
	seq   uint64
	unj   bool
	ver   uint64
	db    int
	key   []byte
	tag   byte
	cmds  [][][]byte
	multi bool // wrap cmds in MULTI/EXEC
	err   error
	val   []byte
}

type wbBatch struct {
	items []wbItem
	links []trace.SpanContext
}

// flushOnce sends one batch and returns how many keys it held.
func (wb *writeBack) flushOnce(bs *wbBatch) (int, error) {
	// Pick the oldest entries that have a record and no append pending.
	wb.mu.Lock()
	var picked []*wbEntry
	for e := wb.head; e != nil && len(picked) < wb.cfg.MaxBatch; e = e.next {
		if !e.pend && (e.seq > 0 || e.unjournaled) {
			picked = append(picked, e)
		}
	}
	empty := wb.head == nil
	wb.mu.Unlock()
	if len(picked) == 0 {
		if empty {
			wb.confirm()
		}
		return 0, nil
	}
	bs.items, bs.links = bs.items[:0], bs.links[:0]
	c := wb.srv.cs.c
	now := time.Now().UnixMilli()
	for _, e := range picked {
		key := []byte(e.key)
		held := wb.lockKeys(nil, e.db, [][]byte{key})
		wb.mu.Lock()
		gone, pend, seq, unj := e.gone, e.pend, e.seq, e.unjournaled
		links := e.links
		e.links = nil
		wb.mu.Unlock()
		bs.links = append(bs.links, links...)
		if gone || pend {
			wb.unlockKeys(held)
			continue
		}
		it := wbItem{e: e, seq: seq, unj: unj, db: e.db, key: key}
		var ok bool
		it.val, it.tag, it.ver, ok = c.PeekDirty(nil, e.db, key)
		wb.unlockKeys(held)
		if !ok {
			// The write that made it dirty failed to store (its client got
			// an error): nothing to flush.
			wb.mu.Lock()
			if e.seq == seq && e.unjournaled == unj && !e.pend {
				wb.removeLocked(e)
			}
			wb.mu.Unlock()
			continue
		}
		if !it.build(now) {
			wb.log.Error("write-back: undecodable dirty item; dropped", "db", e.db, "key", e.key)
			wb.mu.Lock()
			wb.removeLocked(e)
			wb.mu.Unlock()
			continue
		}
		bs.items = append(bs.items, it)
	}
	if len(bs.items) == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(wb.ctx, wb.cfg.FlushTimeout)
	var span telemetry.Span
	if tr := wb.srv.ins.tel.Tracing; tr != nil {
		ctx, span = tr.StartLinked(ctx, telemetry.SpanFlush, bs.links, telemetry.AttrFlushKeys.Int(len(bs.items)))
	}
	wb.sink.send(ctx, bs.items)
	cancel()
	var firstErr error
	done := 0
	for i := range bs.items {
		it := &bs.items[i]
		if it.err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("key %q: %w", it.key, it.err)
			}
			continue
		}
		done++
		held := wb.lockKeys(nil, it.db, [][]byte{it.key})
		wb.mu.Lock()
		if !it.e.gone && !it.e.pend && it.e.seq == it.seq && it.e.unjournaled == it.unj {
			wb.removeLocked(it.e)
		} else if !it.e.gone {
			// Rewritten meanwhile: the newer state goes in a later batch;
			// its lag counts from that write.
			it.e.since = it.e.last
			wb.unlinkLocked(it.e)
			wb.pushLocked(it.e)
		}
		wb.mu.Unlock()
		c.MarkClean(it.db, it.key, it.ver)
		if it.tag == tagAbsent {
			c.Invalidate(it.db, it.key) // a clean "absent" is not kept
		}
		wb.unlockKeys(held)
	}
	wb.flushd.Add(uint64(done))
	span.End(firstErr)
	wb.confirm()
	return len(bs.items), firstErr
}

// confirm moves the journal's checkpoint to the watermark and wakes
// waitFlushed.
func (wb *writeBack) confirm() {
	wb.mu.Lock()
	w := wb.watermarkLocked()
	if w <= wb.confirmed {
		wb.mu.Unlock()
		return
	}
	wb.mu.Unlock()
	if err := wb.j.Confirm(w); err != nil {
		wb.log.Error("write-back: journal confirm failed", "seq", w, "err", err)
		return
	}
	wb.mu.Lock()
	if w > wb.confirmed {
		wb.confirmed = w
		close(wb.confCh)
		wb.confCh = make(chan struct{})
	}
	wb.mu.Unlock()
}

// build turns the dirty state into backend commands.
func (it *wbItem) build(now int64) bool {
	v, ok := decodeCval(it.tag, it.val)
	if !ok {
		return false
	}
	key := it.key
	if v.expireAt != 0 && v.expireAt <= now {
		it.tag = tagAbsent
	}
	pxat := strconv.AppendInt(nil, v.expireAt, 10)
	switch it.tag {
	case tagString:
		if v.expireAt != 0 {
			it.cmds = [][][]byte{{[]byte("SET"), key, v.payload, []byte("PXAT"), pxat}}
		} else {
			it.cmds = [][][]byte{{[]byte("SET"), key, v.payload}}
		}
	case tagHash:
		h, good := newHashFields(v.payload)
		if !good {
			return false
		}
		hset := [][]byte{[]byte("HSET"), key}
		for f, val, more := h.next(); more; f, val, more = h.next() {
			hset = append(hset, f, val)
		}
		it.cmds = [][][]byte{{[]byte("DEL"), key}}
		if len(hset) > 2 {
			it.cmds = append(it.cmds, hset)
			if v.expireAt != 0 {
				it.cmds = append(it.cmds, [][]byte{[]byte("PEXPIREAT"), key, pxat})
			}
			it.multi = true
		}
	case tagAbsent:
		// A dirty "absent" comes from a real deletion, which touched the
		// key in Redis (WATCH aborts, keyspace events). When the key was
		// created and deleted between two flushes, a DEL alone would
		// find nothing and touch nothing; SET first makes it a change.
		it.cmds = [][][]byte{{[]byte("SET"), key, nil}, {[]byte("DEL"), key}}
		it.multi = true
	default:
		return false
	}
	return true
}

// wbSink writes flush items to the backend, setting each item's err.
type wbSink interface {
	send(ctx context.Context, items []wbItem)
}

// redisSink flushes over the upstream's lanes (RESP2), each key on the
// node serving its slot; a hash's commands go as one MULTI/EXEC group.
type redisSink struct {
	up   Upstream
	reqs []redis.Request
	ptrs []*redis.Request
	raw  []byte
}

func (r *redisSink) send(_ context.Context, items []wbItem) {
	var wg sync.WaitGroup
	var lanes []*redis.Lane
	n := 0
	for i := range items {
		n += len(items[i].cmds)
		if items[i].multi {
			n += 2
		}
	}
	if cap(r.reqs) < n {
		r.reqs = make([]redis.Request, n)
	}
	r.reqs = r.reqs[:n]
	type span struct{ lo, hi int }
	spans := make([]span, len(items))
	r.raw = r.raw[:0]
	offs := make([]int, 0, n+1)
	k := 0
	for i := range items {
		it := &items[i]
		lo := k
		add := func(args ...[]byte) {
			offs = append(offs, len(r.raw))
			r.raw = resp.AppendCommand(r.raw, args...)
			k++
		}
		if it.multi {
			add([]byte("MULTI"))
		}
		for _, c := range it.cmds {
			add(c...)
		}
		if it.multi {
			add([]byte("EXEC"))
		}
		spans[i] = span{lo, k}
	}
	offs = append(offs, len(r.raw))
	for i := range items {
		it := &items[i]
		slot := -1
		if r.up.Topology() == redis.Cluster {
			slot = int(keySlot(it.key))
		}
		node, err := r.up.Route(slot)
		if err != nil {
			it.err = err
			continue
		}
		lane := node.Lane(it.db, 2, -1-i%4)
		r.ptrs = r.ptrs[:0]
		for j := spans[i].lo; j < spans[i].hi; j++ {
			q := &r.reqs[j]
			q.Raw, q.Reply, q.Err, q.Done = r.raw[offs[j]:offs[j+1]], q.Reply[:0], nil, &wg
			r.ptrs = append(r.ptrs, q)
		}
		wg.Add(len(r.ptrs))
		lane.SubmitGroup(r.ptrs...)
		found := false
		for _, l := range lanes {
			found = found || l == lane
		}
		if !found {
			lanes = append(lanes, lane)
		}
	}
	for _, l := range lanes {
		l.Flush()
	}
	// The lanes' read and write timeouts end every request, so this wait
	// is bounded; a timed-out request fails its item and the batch is
	// retried (a state is written whole, so sending it twice is harmless).
	wg.Wait()
	for i := range items {
		it := &items[i]
		if it.err != nil {
			continue
		}
		for j := spans[i].lo; j < spans[i].hi && it.err == nil; j++ {
			q := &r.reqs[j]
			switch {
			case q.Err != nil:
				it.err = q.Err
			case isErrorReply(q.Reply):
				msg, _ := resp.IsError(q.Reply)
				it.err = errors.New(string(msg))
			case it.multi && j == spans[i].hi-1:
				it.err = execError(q.Reply)
			}
		}
	}
}

// execError reports an error inside an EXEC reply.
func execError(reply []byte) error {
	elems, null, ok := resp.Elements(reply, nil)
	if !ok || null {
		return fmt.Errorf("EXEC failed: %q", reply)
	}
	for _, e := range elems {
		if msg, isErr := resp.IsError(e); isErr {
			return errors.New(string(msg))
		}
	}
	return nil
}

func isErrorReply(r []byte) bool {
	_, ok := resp.IsError(r)
	return ok
}

// storeSink flushes into the in-process store, one connection per db.
type storeSink struct {
	st    Store
	conns map[int]StoreConn
	buf   []byte
}

func (s *storeSink) send(ctx context.Context, items []wbItem) {
	for i := range items {
		it := &items[i]
		sc := s.conns[it.db]
		if sc == nil {
			sc = s.st.NewConn()
			sc.SetDB(it.db)
			s.conns[it.db] = sc
		}
		do := func(args ...[]byte) []byte {
			s.buf = sc.Do(ctx, args, s.buf[:0])
			return s.buf
		}
		if it.multi {
			do([]byte("MULTI"))
		}
		for _, c := range it.cmds {
			if msg, isErr := resp.IsError(do(c...)); isErr {
				it.err = errors.New(string(msg))
			}
		}
		if it.multi {
			if it.err != nil {
				do([]byte("DISCARD"))
				continue
			}
			it.err = execError(do([]byte("EXEC")))
		}
	}
}

// shutdown flushes what is dirty (bounded by ctx), stops the flusher and
// confirms what was flushed. What is left stays in the journal for replay.
func (wb *writeBack) shutdown(ctx context.Context) error {
	err := wb.drain(ctx)
	wb.mu.Lock()
	wb.closed = true
	wb.mu.Unlock()
	wb.stopOnce.Do(func() { close(wb.stop) })
	wb.cancel()
	<-wb.done
	wb.confirm()
	if err != nil {
		k := wb.count.Load()
		return fmt.Errorf("write-back: %d dirty keys not flushed (left in the journal for replay): %w", k, err)
	}
	return nil
}

// drain flushes everything acknowledged so far.
func (wb *writeBack) drain(ctx context.Context) error {
	return wb.waitFlushed(ctx, wb.lastSeqNow())
}

// replay rebuilds the dirty state from the journal before serving.
func (wb *writeBack) replay(ctx context.Context) (int, error) {
	c := wb.srv.cs.c
	n := 0
	var tk []byte
	err := wb.j.Replay(ctx, func(e *journal.Entry) error {
		n++
		tag, val := e.Type, e.Value
		if e.Kind == journal.KindDelete {
			tag, val = tagAbsent, []byte{0}
		}
		ttl := time.Duration(0)
		if e.ExpireAtMs != 0 {
			ttl = max(time.Until(time.UnixMilli(e.ExpireAtMs)), time.Millisecond)
		}
		key := e.Key
		if _, err := c.PutDirty(e.DB, key, val, tag, ttl); err != nil {
			return fmt.Errorf("write-back replay: key %q: %w", key, err)
		}
		if err := wb.begin(&tk, e.DB, key, time.Now()); err != nil {
			return err
		}
		wb.commit(&tk, e.DB, key, e.Seq)
		return nil
	})
	return n, err
}
