package proxy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/respcache/respcache/cache"
	"github.com/respcache/respcache/proxy/internal/writeapply"
	"github.com/respcache/respcache/resp"
	"github.com/respcache/respcache/store/journal"
	"github.com/respcache/respcache/store/redis"
	"github.com/respcache/respcache/telemetry"
	"go.opentelemetry.io/otel/trace"
)

// The session's side of write-back (see writeback.go for the design).

// wbScratch is a session's reusable write-back memory.
type wbScratch struct {
	app    writeapply.Applier
	pos    []int
	keys   [][]byte // the command's keys, one per position
	uniq   []int    // indexes into keys of first occurrences
	cur    []writeapply.Value
	bufs   [][]byte   // per key: the bytes cur[i] aliases
	fields [][][]byte // per key: a hash's fields
	encs   [][]byte   // per unique key: the encoded new state
	tags   []byte
	exps   []int64
	need   []int
	tk     []byte
	reply  []byte
	load   [7]redis.Request
	// loadRaw is the key read's request bytes.
	loadRaw []byte

	// The batch's journal records, appended with one write when the batch
	// ends (or before the session waits for anything): their keys' stripe
	// locks are held until then, so records of a key reach the journal in
	// the order the states were made.
	held    []int // stripe locks held, sorted
	pending []wbPending
	arena   []byte // keys and values of pending
	entries []journal.Entry
	eptrs   []*journal.Entry
}

// wbPending is one state applied and stored dirty, not yet journaled.
type wbPending struct {
	db       int
	key, val [2]int // offsets in arena
	tag      byte
	exp      int64
	slot     int             // its command's slot in the batch
	span     context.Context // the command's span, when sampled
}

const (
	errBackpressure = "ERR write-back backpressure: unflushed writes exceed write.max_dirty and the backend did not catch up within write.backpressure_timeout"
	errWBClosed     = "ERR write-back: respcache is shutting down"
)

// wbBlind reports writes whose reply and result do not depend on the
// key's current state (so an uncached key needs no read first).
func wbBlind(name []byte, argc int) bool {
	switch {
	case isName(name, "set"):
		return argc == 3
	case isName(name, "setex"), isName(name, "psetex"), isName(name, "mset"):
		return true
	}
	return false
}

func wbHashCommand(name []byte) bool {
	return len(name) > 0 && (name[0] == 'h' || name[0] == 'H')
}

// wbWrite executes a write on cached types in write-back mode: applied to
// the local state, stored dirty, journaled (with the batch's other
// records, before any reply is sent), acknowledged. It returns false when
// the command must go to the backend instead (not modeled, another type,
// too large, a namespace in bypass mode); the caller then settles and
// forwards it.
func (s *session) wbWrite(cmd *resp.Command, c *Command, sl *slot) bool {
	wb := s.srv.wb
	args := cmd.Args
	if !writeapply.Modeled(args[0]) || !c.arityOK(len(args)) {
		return false
	}
	x := s.wbScratch()
	if wbHashCommand(args[0]) {
		e, v, ok := s.srv.up.HashListpackLimits()
		if !ok || s.srv.store != nil {
			return false
		}
		x.app.ListpackEntries, x.app.ListpackValue = e, v
	}
	pos, err := writeapply.AppendKeys(x.pos[:0], args)
	if err != nil || len(pos) == 0 {
		return false
	}
	x.pos = pos
	cs := s.srv.cs
	x.keys = x.keys[:0]
	need := int64(0)
	for _, p := range pos {
		if cs.c.Bypassed(args[p]) {
			return false
		}
		x.keys = append(x.keys, args[p])
	}
	for _, a := range args {
		need += int64(len(a)) + 16
	}
	// Earlier commands of this batch that went upstream run first: this
	// write may read what they wrote.
	if len(s.touched) > 0 || s.posts > 0 {
		s.wbRelease()
		s.flushLanes()
		if s.posts > 0 {
			s.postBatch(s.cur)
		}
	}
	// Backpressure, without holding key locks: the flusher needs them to
	// clean what this wait is waiting for.
	if !cs.c.DirtyRoom(need) {
		s.wbRelease()
		if err := cs.c.WaitDirty(s.ctx, need); err != nil {
			if errors.Is(err, cache.ErrBackpressure) {
				sl.errorf(errBackpressure)
			} else {
				sl.errorf(errWBClosed)
			}
			return true
		}
	}
	db := s.db
	s.wbLock(db, x.keys)

	blind := wbBlind(args[0], len(args))
	x.grow(len(x.keys))
	for i, k := range x.keys {
		ok, err := s.wbState(x, i, db, k, blind)
		if err != nil {
			sl.req.Err = err
			return true
		}
		if !ok {
			return false
		}
	}
	// One clock reading per batch: the commands of a pipeline run within
	// microseconds, and the model's clock has millisecond precision.
	if s.wbNow.IsZero() {
		s.wbNow = time.Now()
	}
	tnow := s.wbNow
	now := tnow.UnixMilli()
	next, reply, changed, err := x.app.Apply(now, s.proto, args, x.cur, x.reply[:0])
	if err != nil {
		return false
	}
	x.reply = reply
	if !changed {
		sl.req.Reply = append(sl.req.Reply[:0], reply...)
		return true
	}
	// Encode the new state of each distinct key.
	x.uniq, x.tags, x.exps = x.uniq[:0], x.tags[:0], x.exps[:0]
	for i, k := range x.keys {
		dup := false
		for _, j := range x.uniq {
			dup = dup || string(x.keys[j]) == string(k)
		}
		if dup {
			continue
		}
		n := len(x.uniq)
		x.uniq = append(x.uniq, i)
		v := &next[i]
		enc := x.encs[n][:0]
		var tag byte
		exp := v.ExpireAt
		if v.Kind != writeapply.Absent && exp != 0 && exp <= now+1 {
			// Due within the cache's millisecond: stored as gone.
			v = &writeapply.Value{}
			exp = 0
		}
		switch v.Kind {
		case writeapply.Absent:
			tag, enc, exp = tagAbsent, append(enc, 0), 0
		case writeapply.String:
			tag = tagString
			enc = appendCvalHeader(enc, exp)
			enc = append(enc, v.Str...)
		case writeapply.Hash:
			if v.Unordered {
				return false // Redis's order is unknown: written through
			}
			tag = tagHash
			enc = appendCvalHeader(enc, exp)
			enc[0] |= flagListpack
			enc = appendHashPayload(enc, v.Fields)
		}
		if len(k)+len(enc) > s.srv.maxItem {
			return false
		}
		x.encs[n] = enc
		x.tags = append(x.tags, tag)
		x.exps = append(x.exps, exp)
	}
	// Store (visible to other clients, as Redis shows a write before its
	// AOF is written), then queue the records for the batch's journal
	// write; the reply goes out after that write.
	cs.markDB(db)
	for n, i := range x.uniq {
		k := x.keys[i]
		if err := wb.begin(&x.tk, db, k, tnow); err != nil {
			sl.errorf(errWBClosed)
			return true
		}
		ttl := time.Duration(0)
		if x.exps[n] != 0 {
			ttl = max(time.UnixMilli(x.exps[n]).Sub(tnow), time.Millisecond)
		}
		if _, err := cs.c.PutDirty(db, k, x.encs[n], x.tags[n], ttl); err != nil {
			wb.abandon(&x.tk, db, k)
			s.srv.log.Warn("write-back: could not hold the new state", "key", string(k), "err", err)
			sl.errorf("ERR write-back: the new state could not be stored in the cache (" + sanitize(err.Error()) + "); the write was applied only partly or not at all")
			return true
		}
		p := wbPending{db: db, tag: x.tags[n], exp: x.exps[n], slot: s.cur}
		if sl.span.Recording() {
			p.span = sl.spanCtx
		}
		p.key[0] = len(x.arena)
		x.arena = append(x.arena, k...)
		p.key[1] = len(x.arena)
		p.val[0] = p.key[1]
		x.arena = append(x.arena, x.encs[n]...)
		p.val[1] = len(x.arena)
		x.pending = append(x.pending, p)
	}
	sl.req.Reply = append(sl.req.Reply[:0], reply...)
	return true
}

// wbLock takes the stripe locks of keys. Locks this batch holds already
// are kept; a lock another session holds is waited for only after this
// session released all of its own (journaling its pending records first),
// so two sessions never wait for each other.
func (s *session) wbLock(db int, keys [][]byte) {
	wb := s.srv.wb
	x := s.wbx
	x.need = wb.stripesOf(x.need, db, keys)
	for _, st := range x.need {
		if slices.Contains(x.held, st) {
			continue
		}
		if !wb.stripes[st].TryLock() {
			s.wbRelease()
			x.held = wb.lockKeys(x.held, db, keys)
			return
		}
		x.held = append(x.held, st)
	}
	slices.Sort(x.held)
}

// wbRelease journals the batch's pending records with one write, registers
// their seqs with the flusher, and releases the stripe locks. A failed
// append turns the replies of the commands concerned into errors (their
// states stay dirty and are flushed: the outcome is unknown to the client,
// as after a lost connection).
func (s *session) wbRelease() {
	// Whatever waits after this reads the clock anew.
	s.wbNow = time.Time{}
	x := s.wbx
	if x == nil || len(x.held) == 0 && len(x.pending) == 0 {
		return
	}
	wb := s.srv.wb
	if len(x.pending) > 0 {
		x.entries, x.eptrs = x.entries[:0], x.eptrs[:0]
		for _, p := range x.pending {
			e := journal.Entry{DB: p.db, Key: x.arena[p.key[0]:p.key[1]], Kind: journal.KindSet, Type: p.tag,
				Value: x.arena[p.val[0]:p.val[1]], ExpireAtMs: p.exp}
			if p.tag == tagAbsent {
				e.Kind, e.Type, e.Value = journal.KindDelete, 0, nil
			}
			x.entries = append(x.entries, e)
		}
		for n := range x.entries {
			x.eptrs = append(x.eptrs, &x.entries[n])
		}
		var spans []telemetry.Span
		if tr := s.srv.ins.tel.Tracing; tr != nil {
			for _, p := range x.pending {
				if p.span != nil {
					_, sp := tr.StartInternal(p.span, telemetry.SpanJournalAppend)
					spans = append(spans, sp)
				}
			}
		}
		last, err := wb.j.AppendBatch(s.ctx, x.eptrs)
		for _, sp := range spans {
			sp.End(err)
		}
		if err != nil {
			s.srv.log.Error("write-back: journal append failed", "records", len(x.pending), "err", err)
			msg := "ERR write-back journal: " + sanitize(err.Error()) + "; the write may or may not be applied"
			for _, p := range x.pending {
				wb.commit(&x.tk, p.db, x.arena[p.key[0]:p.key[1]], 0)
				s.slots[p.slot].req.Reply = append(s.slots[p.slot].req.Reply[:0], '-')
				s.slots[p.slot].req.Reply = append(append(s.slots[p.slot].req.Reply, msg...), "\r\n"...)
			}
		} else {
			first := last - uint64(len(x.pending)) + 1
			for n, p := range x.pending {
				wb.commit(&x.tk, p.db, x.arena[p.key[0]:p.key[1]], first+uint64(n))
				if p.span != nil {
					wb.link(&x.tk, p.db, x.arena[p.key[0]:p.key[1]], trace.SpanContextFromContext(p.span))
				}
			}
		}
		x.pending = x.pending[:0]
		if cap(x.arena) > 1<<20 {
			x.arena = nil // do not keep a large batch's memory per idle client
		} else {
			x.arena = x.arena[:0]
		}
	}
	wb.unlockKeys(x.held)
	x.held = x.held[:0]
}

// wbScratch returns the session's write-back scratch memory, made on first
// use.
func (s *session) wbScratch() *wbScratch {
	if s.wbx == nil {
		s.wbx = new(wbScratch)
	}
	return s.wbx
}

func (x *wbScratch) grow(n int) {
	for len(x.bufs) < n {
		x.bufs = append(x.bufs, nil)
		x.fields = append(x.fields, nil)
		x.encs = append(x.encs, nil)
	}
	x.cur = x.cur[:0]
	for i := 0; i < n; i++ {
		x.cur = append(x.cur, writeapply.Value{})
	}
}

// wbState sets x.cur[i] to the current state of (db, key): the dirty copy,
// the clean copy when the cache may be trusted, or the backend's. ok=false:
// the key cannot be written back (another type, an unordered hash).
func (s *session) wbState(x *wbScratch, i, db int, key []byte, blind bool) (ok bool, err error) {
	cs := s.srv.cs
	for j := 0; j < i; j++ {
		if string(x.keys[j]) == string(key) {
			x.cur[i] = x.cur[j]
			return true, nil
		}
	}
	var tag byte
	var found bool
	x.bufs[i], tag, _, found = cs.c.PeekDirty(x.bufs[i], db, key)
	if !found && cs.filling() {
		x.bufs[i], tag, _, found = cs.c.GetIntoQuiet(x.bufs[i], db, key)
	}
	if found {
		v, good := decodeCval(tag, x.bufs[i])
		if !good {
			return false, nil
		}
		return s.wbFromCval(x, i, v)
	}
	if blind {
		x.cur[i] = writeapply.Value{}
		return true, nil
	}
	return s.wbLoad(x, i, db, key)
}

func (s *session) wbFromCval(x *wbScratch, i int, v cval) (bool, error) {
	st := writeapply.Value{ExpireAt: v.expireAt}
	switch v.tag {
	case tagAbsent:
		st = writeapply.Value{}
	case tagString:
		st.Kind, st.Str = writeapply.String, v.payload
	case tagHash:
		h, good := newHashFields(v.payload)
		if !good {
			return false, nil
		}
		st.Kind = writeapply.Hash
		st.Unordered = v.flags&flagListpack == 0
		fs := x.fields[i][:0]
		for f, val, more := h.next(); more; f, val, more = h.next() {
			fs = append(fs, f, val)
		}
		x.fields[i], st.Fields = fs, fs
	default:
		return false, nil
	}
	x.cur[i] = st
	return true, nil
}

var (
	nameTYPE        = []byte("TYPE")
	namePEXPIRETIME = []byte("PEXPIRETIME")
)

// wbLoad reads a key's type, value, expiry and hash encoding from the
// backend in one transaction, on the client's lane (after anything this
// client sent before).
func (s *session) wbLoad(x *wbScratch, i, db int, key []byte) (bool, error) {
	s.wbNow = time.Time{} // the read takes a round trip
	if s.dconn != nil {
		return s.wbLoadStore(x, i, key)
	}
	lane, err := s.laneForKey(key)
	if err != nil {
		return false, err
	}
	pexpiretime := serverMajor(s.srv.up.ServerVersion()) >= 7
	raw := x.loadRaw[:0]
	var cuts [7]int
	add := func(k int, args ...[]byte) {
		raw = resp.AppendCommand(raw, args...)
		cuts[k] = len(raw)
	}
	add(0, nameMULTIraw)
	add(1, nameTYPE, key)
	add(2, nameGET, key)
	add(3, nameHGETALL, key)
	if pexpiretime {
		add(4, namePEXPIRETIME, key)
	} else {
		add(4, namePTTL, key)
	}
	add(5, nameOBJECT, nameENCODING, key)
	add(6, nameEXECraw)
	x.loadRaw = raw
	var wg sync.WaitGroup
	ptrs := make([]*redis.Request, 0, 7)
	start := 0
	for k := range x.load {
		q := &x.load[k]
		q.Raw, q.Reply, q.Err, q.Done = raw[start:cuts[k]], q.Reply[:0], nil, &wg
		start = cuts[k]
		ptrs = append(ptrs, q)
	}
	before := time.Now().UnixMilli()
	wg.Add(len(ptrs))
	lane.SubmitGroup(ptrs...)
	lane.Flush()
	wg.Wait()
	execR := &x.load[6]
	if execR.Err != nil {
		return false, execR.Err
	}
	elems, null, ok := resp.Elements(execR.Reply, nil)
	if !ok || null || len(elems) != 5 {
		if e, isErr := resp.IsError(execR.Reply); isErr {
			return false, errors.New(string(e))
		}
		return false, errors.New("write-back: unexpected reply to the key read")
	}
	typ, _ := resp.StringValue(elems[0])
	exp, _ := resp.IntValue(elems[3])
	var expireAt int64
	switch {
	case exp < 0:
	case pexpiretime:
		expireAt = exp
	default:
		expireAt = before + exp
	}
	// The value must outlive this call: keep the EXEC reply in bufs[i].
	x.bufs[i] = append(x.bufs[i][:0], execR.Reply...)
	elems, _, _ = resp.Elements(x.bufs[i], nil)
	st := writeapply.Value{ExpireAt: expireAt}
	switch string(typ) {
	case "none":
		st = writeapply.Value{}
	case "string":
		v, good := resp.StringValue(elems[1])
		if !good {
			return false, nil
		}
		st.Kind, st.Str = writeapply.String, v
	case "hash":
		pairs, _, good := resp.Elements(elems[2], nil)
		if !good || len(pairs)%2 != 0 {
			return false, nil
		}
		fs := x.fields[i][:0]
		for _, p := range pairs {
			v, good := resp.StringValue(p)
			if !good {
				return false, nil
			}
			fs = append(fs, v)
		}
		x.fields[i] = fs
		enc, _ := resp.StringValue(elems[4])
		st.Kind, st.Fields = writeapply.Hash, fs
		st.Unordered = string(enc) != "listpack" && string(enc) != "ziplist"
	default:
		return false, nil // a list, set, ...: written through
	}
	x.cur[i] = st
	return true, nil
}

var (
	nameMULTIraw = []byte("MULTI")
	nameEXECraw  = []byte("EXEC")
)

// wbLoadStore is wbLoad for the in-process store (strings only: hash
// writes are not written back in front of it): TYPE, GET and PEXPIRETIME
// in one transaction on the client's own store connection.
func (s *session) wbLoadStore(x *wbScratch, i int, key []byte) (bool, error) {
	st := s.dconn
	do := func(args ...[]byte) []byte {
		s.fillArgs = append(s.fillArgs[:0], args...)
		s.out2 = st.Do(s.ctx, s.fillArgs, s.out2[:0])
		return s.out2
	}
	do(nameMULTIraw)
	do(nameTYPE, key)
	do(nameGET, key)
	do(namePEXPIRETIME, key)
	x.bufs[i] = append(x.bufs[i][:0], do(nameEXECraw)...)
	elems, null, ok := resp.Elements(x.bufs[i], nil)
	if !ok || null || len(elems) != 3 {
		return false, errors.New("write-back: unexpected reply to the key read")
	}
	typ, _ := resp.StringValue(elems[0])
	exp, _ := resp.IntValue(elems[2])
	switch string(typ) {
	case "none":
		x.cur[i] = writeapply.Value{}
	case "string":
		v, good := resp.StringValue(elems[1])
		if !good {
			return false, nil
		}
		x.cur[i] = writeapply.Value{Kind: writeapply.String, Str: v, ExpireAt: max(exp, 0)}
	default:
		return false, nil // another type: written through
	}
	return true, nil
}

// laneForKey is laneFor for a command naming key.
func (s *session) laneForKey(key []byte) (*redis.Lane, error) {
	if s.srv.up.Topology() != redis.Cluster {
		return s.laneFor(nil, nil)
	}
	n, err := s.srv.up.Route(keySlot(key))
	if err != nil {
		return nil, err
	}
	return n.Lane(s.db, s.proto, int(s.id)), nil
}

func serverMajor(v string) int {
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// wbSettleAll reports commands that may see any key (their keys are known
// only when they run, or they read the whole keyspace).
func wbSettleAll(c *Command, nkeys int) bool {
	if c == nil {
		return true
	}
	switch c.Name {
	case "flushall", "flushdb", "swapdb", "move", "copy", "exec", "eval", "evalsha",
		"eval_ro", "evalsha_ro", "fcall", "fcall_ro", "keys", "scan", "dbsize",
		"randomkey", "sort", "sort_ro", "migrate", "function|restore", "debug", "info":
		return true
	}
	return nkeys == 0 && (c.Has(FlagWrite) || c.Has(FlagReadonly))
}

// wbSettle runs before a command goes to the backend: it waits until the
// dirty state the command may see is flushed, so the backend answers as if
// every acknowledged write had reached it. false: the wait failed and sl
// holds the error.
func (s *session) wbSettle(c *Command, args [][]byte, sl *slot) bool {
	wb := s.srv.wb
	if wb.count.Load() == 0 {
		return true
	}
	// Waiting for the flusher: first journal this batch's records and let
	// go of their locks (the flusher needs them).
	s.wbRelease()
	x := s.wbScratch()
	var target uint64
	var nkeys int
	if c != nil {
		x.pos = c.appendKeyPositions(x.pos[:0], args)
		nkeys = len(x.pos)
	}
	if wbSettleAll(c, nkeys) {
		target = wb.lastSeqNow()
	} else {
		x.keys = x.keys[:0]
		for _, p := range x.pos {
			x.keys = append(x.keys, args[p])
		}
		// The stripe locks wait out writers of these keys that are between
		// their journal append and their registration.
		x.need = wb.lockKeys(x.need, s.db, x.keys)
		for _, k := range x.keys {
			target = max(target, wb.seqOf(&x.tk, s.db, k))
		}
		wb.unlockKeys(x.need)
	}
	if target == 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(s.ctx, wb.cfg.FlushTimeout)
	defer cancel()
	if err := wb.waitFlushed(ctx, target); err != nil {
		msg := err.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			msg = "the backend did not take them within " + wb.cfg.FlushTimeout.String()
		}
		sl.errorf("ERR write-back: could not flush the unflushed writes this command depends on first: " + strings.ReplaceAll(msg, "\n", " "))
		return false
	}
	return true
}

// wbDirty reports whether (db, key) has unflushed state.
func (s *session) wbDirty(db int, key []byte) bool {
	wb := s.srv.wb
	if wb == nil || wb.count.Load() == 0 {
		return false
	}
	x := s.wbScratch()
	return wb.seqOf(&x.tk, db, key) != 0
}

// wbReadDirty answers a single-key cacheable read from the key's dirty
// state, if it has one (an expired one reads as absent).
func (s *session) wbReadDirty(c *Command, args [][]byte, sl *slot) bool {
	if c.read == rkMGet || c.read == rkExists || s.srv.wb.count.Load() == 0 || !localArgsOK(c, args) {
		return false
	}
	var tag byte
	var ok bool
	s.val, tag, _, ok = s.srv.cs.c.PeekDirty(s.val, s.db, args[1])
	if !ok {
		return false
	}
	v, good := decodeCval(tag, s.val)
	if !good {
		return false
	}
	if v.expireAt != 0 && v.expireAt < time.Now().UnixMilli() {
		v = cval{tag: tagAbsent}
	}
	out, done := s.renderRead(sl.req.Reply[:0], c, args, v)
	if done {
		sl.req.Reply = out
		sl.setOutcome(telemetry.OutcomeHit)
	}
	return done
}
