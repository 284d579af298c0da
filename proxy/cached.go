package proxy

import (
	"bytes"
	"errors"
	"hash/maphash"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/respcache/respcache/cache"
	"github.com/respcache/respcache/resp"
	"github.com/respcache/respcache/store/redis"
	"github.com/respcache/respcache/telemetry"
)

// The read cache. A cacheable read (readKinds) is answered in the
// session's goroutine from the local cache when the key is there; on a miss
// the session sends a fill (MULTI, GET or HGETALL, PTTL, EXEC) on its own
// lane, in the pipeline's order, and answers from the fill's reply once it
// arrives. Concurrent misses of a key share one fill (cache.StartFill).
//
// Ordering within a client's pipeline: once a command that may change data
// is queued in a batch, later reads of that batch are not answered from the
// cache (they would overtake the write); they are sent upstream. Sharing
// another client's fill is allowed only in a batch of reads, whose relative
// order cannot be observed.
//
// Writes (every command with the write flag) go upstream; when the reply
// arrives the local copy is updated where the new value is known exactly
// (SET family, INCR family, APPEND) or dropped. Updates are guarded by the
// key's version (cache.SetIfUnchanged): see cache/update.go for the races
// this closes. The reply reaches the client only after the cache was
// updated, so a client always reads its own writes.

type readKind uint8

const (
	rkNone readKind = iota
	rkGet
	rkGetRange
	rkStrlen
	rkMGet
	rkExists
	rkType
	rkTTL
	rkPTTL
	rkHGet
	rkHMGet
	rkHGetAll
	rkHExists
	rkHLen
	rkHKeys
	rkHVals
	rkHStrlen
)

var readKinds = map[string]readKind{
	"get": rkGet, "getrange": rkGetRange, "strlen": rkStrlen, "mget": rkMGet,
	"exists": rkExists, "type": rkType, "ttl": rkTTL, "pttl": rkPTTL,
	"hget": rkHGet, "hmget": rkHMGet, "hgetall": rkHGetAll, "hexists": rkHExists,
	"hlen": rkHLen, "hkeys": rkHKeys, "hvals": rkHVals, "hstrlen": rkHStrlen,
}

func init() {
	for name, k := range readKinds {
		commandTable[name].read = k
	}
}

var (
	nameGET      = []byte("GET")
	nameHGETALL  = []byte("HGETALL")
	namePTTL     = []byte("PTTL")
	nameOBJECT   = []byte("OBJECT")
	nameENCODING = []byte("ENCODING")
)

// fill is the upstream read that fills a key for a read kind: GET for
// strings, HGETALL for hashes, none for commands answered only from what
// is already cached.
func (k readKind) fill() []byte {
	switch k {
	case rkGet, rkGetRange, rkStrlen:
		return nameGET
	case rkHGet, rkHMGet, rkHGetAll, rkHExists, rkHLen, rkHKeys, rkHVals, rkHStrlen:
		return nameHGETALL
	}
	return nil
}

// CacheConfig wires a local cache into the proxy.
type CacheConfig struct {
	// Cache holds the local copies.
	Cache *cache.Cache
	// NegativeTTL caches "key does not exist" for this long; 0 = off.
	NegativeTTL time.Duration
	// ServeStale keeps answering hits while the invalidation link (or the
	// upstream) is down.
	ServeStale bool
	// Invalidation is "tracking" (CLIENT TRACKING BCAST link; the default),
	// "ttl" (rely on the cache's TTL cap) or "off".
	Invalidation string
	// TrackingPrefixes limits the BCAST link to these prefixes (empty: all
	// keys). Keys outside them must then not be cached by the user's
	// namespaces configuration, or they would never be invalidated.
	TrackingPrefixes []string
	// Heartbeat is the invalidation link's probe period (default 1s).
	Heartbeat time.Duration
	// MaxItemSize is the largest key plus value kept (default 1 MiB); a
	// larger hash is remembered as too large and its reads pass through.
	MaxItemSize int
}

// cacheState is the server's side of the read cache.
type cacheState struct {
	c        *cache.Cache
	cfg      CacheConfig
	tracking bool
	linkUp   atomic.Bool
	tracker  *redis.Tracker
	dbs      atomic.Uint64 // bit i: database i may hold items (bit 63: any >= 63)
	bypassed atomic.Uint64 // reads sent upstream because the cache could not be used
	maxDBs   func() int
	lag      lagMeter
	negTTL   atomic.Int64 // cache.negative_ttl, changed by reloads
}

func (cs *cacheState) negativeTTL() time.Duration { return time.Duration(cs.negTTL.Load()) }

// lagMeter measures the invalidation lag: the time from sending one of our
// own writes to receiving its invalidation on the tracking link (Redis
// tracks every writer alike, so this is what another writer's change costs
// too). One write in lagEvery is sampled; at most len(pend) are awaited.
type lagMeter struct {
	seed maphash.Seed
	seq  atomic.Uint64
	wait atomic.Int32
	mu   sync.Mutex // guards pend, next, lags, n
	pend [64]lagSample
	next int
	lags [1024]time.Duration
	n    int
}

type lagSample struct {
	h    uint64
	sent int64 // unix ns; 0 = free
}

const lagEvery = 8

func (m *lagMeter) sent(key []byte) {
	if m.seq.Add(1)%lagEvery != 0 {
		return
	}
	h := maphash.Bytes(m.seed, key)
	m.mu.Lock()
	p := &m.pend[m.next%len(m.pend)]
	if p.sent == 0 {
		m.wait.Add(1)
	}
	*p = lagSample{h: h, sent: time.Now().UnixNano()}
	m.next++
	m.mu.Unlock()
}

func (m *lagMeter) invalidated(keys [][]byte) {
	if m.wait.Load() == 0 {
		return
	}
	now := time.Now().UnixNano()
	m.mu.Lock()
	for _, k := range keys {
		h := maphash.Bytes(m.seed, k)
		for i := range m.pend {
			if p := &m.pend[i]; p.sent != 0 && p.h == h {
				m.lags[m.n%len(m.lags)] = time.Duration(now - p.sent)
				m.n++
				p.sent = 0
				m.wait.Add(-1)
			}
		}
	}
	m.mu.Unlock()
}

// p99 is the 99th percentile of the last 1024 samples (0: none yet).
func (m *lagMeter) p99() time.Duration {
	m.mu.Lock()
	s := slices.Clone(m.lags[:min(m.n, len(m.lags))])
	m.mu.Unlock()
	if len(s) == 0 {
		return 0
	}
	slices.Sort(s)
	return s[(len(s)*99+99)/100-1]
}

// serving reports whether hits may be answered locally.
func (cs *cacheState) serving() bool {
	return !cs.tracking || cs.linkUp.Load() || cs.cfg.ServeStale
}

// filling reports whether misses may be stored.
func (cs *cacheState) filling() bool { return !cs.tracking || cs.linkUp.Load() }

func (cs *cacheState) markDB(db int) {
	bit := uint64(1) << min(db, 63)
	if cs.dbs.Load()&bit == 0 {
		cs.dbs.Or(bit)
	}
}

// invalidateKeys is the tracking link's callback: keys changed upstream,
// in an unknown database.
func (cs *cacheState) invalidateKeys(keys [][]byte) {
	if keys == nil {
		cs.c.InvalidateAll()
		return
	}
	cs.lag.invalidated(keys)
	mask := cs.dbs.Load()
	for _, k := range keys {
		for db := 0; db < 63; db++ {
			if mask&(1<<db) != 0 {
				cs.c.Invalidate(db, k)
			}
		}
		if mask&(1<<63) != 0 {
			for db := 63; db < cs.maxDBs(); db++ {
				cs.c.Invalidate(db, k)
			}
		}
	}
}

// Post-processing a slot needs once its upstream reply is in.
const (
	postNone uint8 = iota
	postFillLead
	postFillWait
	postWrite
	postInfo
	postRetry // send the command plainly (a fill that could not be used)
)

var (
	rawMulti = []byte("*1\r\n$5\r\nMULTI\r\n")
	rawExec  = []byte("*1\r\n$4\r\nEXEC\r\n")
)

const wrongType = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"

// errNotCacheable tells fill waiters that the leader's result cannot be
// shared (a WRONGTYPE reply, say): they ask the upstream themselves.
var errNotCacheable = errors.New("proxy: fill result not cacheable")

// readOnlyBatch reports whether every command of the batch is a cacheable
// read (or a local connection command).
func (s *session) readOnlyBatch() bool {
	if s.roKnown {
		return s.ro
	}
	s.roKnown, s.ro = true, true
	for i := range s.batch {
		c := lookupCommand(s.batch[i].Args)
		if c == nil || c.read == rkNone {
			s.ro = false
			break
		}
	}
	return s.ro
}

// cachedRead answers a cacheable read from the cache or starts its fill;
// false means forward it plainly.
func (s *session) cachedRead(cmd *resp.Command, c *Command, sl *slot) bool {
	cs := s.srv.cs
	args := cmd.Args
	if !cs.serving() {
		// Unflushed write-back state is the newest there is: served even
		// without the invalidation link (the backend does not have it).
		if s.srv.wb != nil && s.wbReadDirty(c, args, sl) {
			return true
		}
		cs.bypassed.Add(1)
		sl.setOutcome(telemetry.OutcomeBypass)
		return false
	}
	if !localArgsOK(c, args) {
		return false
	}
	switch c.read {
	case rkMGet, rkExists:
		return s.multiKeyRead(args, c, sl)
	}
	var tag byte
	var ok bool
	s.val, tag, _, ok = cs.c.GetIntoQuiet(s.val, s.db, args[1])
	if ok {
		if v, good := decodeCval(tag, s.val); good {
			if out, done := s.renderRead(sl.req.Reply[:0], c, args, v); done {
				sl.req.Reply = out
				if cs.filling() {
					sl.setOutcome(telemetry.OutcomeHit)
				} else {
					sl.setOutcome(telemetry.OutcomeStale)
				}
				return true
			}
		}
		return false
	}
	fill := c.read.fill()
	if fill == nil || !cs.filling() || cs.c.Bypassed(args[1]) || s.wbDirty(s.db, args[1]) {
		// (A dirty key missed here has expired locally: the backend
		// answers once the flush, which wbSettle waits for, is in.)
		return false
	}
	if s.dconn != nil {
		// In-process store: load at once, in this goroutine.
		f := cs.c.StartFill(s.db, args[1])
		if f.Skip() {
			return false // a write of the key is in flight: read the store
		}
		cs.markDB(s.db)
		if f.Leader() {
			sl.setOutcome(telemetry.OutcomeMiss)
			s.storeFill(f, c, args, sl)
		} else {
			sl.setOutcome(telemetry.OutcomeCoalesced)
			s.storeWait(f, c, args, sl)
		}
		return true
	}
	ro := s.readOnlyBatch()
	cluster := s.srv.up.Topology() == redis.Cluster
	if cluster && !ro {
		return false
	}
	f := cs.c.StartFill(s.db, args[1])
	if f.Skip() {
		return false // a write of the key is in flight: read upstream, unshared
	}
	if !f.Leader() {
		if !ro {
			return false
		}
		sl.post, sl.fill, sl.args, sl.c = postFillWait, f, args, c
		s.posts++
		sl.setOutcome(telemetry.OutcomeCoalesced)
		return true
	}
	lane, err := s.laneFor(cmd, c)
	if err != nil {
		f.Finish(nil, 0, 0, false, false, err)
		sl.req.Err = err
		return true
	}
	cs.markDB(s.db)
	if sl.pre == nil {
		sl.pre = new([4]redis.Request)
	}
	sl.fillRaw = resp.AppendCommand(sl.fillRaw[:0], fill, args[1])
	split := len(sl.fillRaw)
	sl.fillRaw = resp.AppendCommand(sl.fillRaw, namePTTL, args[1])
	split2 := len(sl.fillRaw)
	hash := fill[0] == 'H'
	if hash {
		// The encoding says whether Redis keeps the hash in insertion
		// order (listpack), so that a write can update the copy in place.
		sl.fillRaw = resp.AppendCommand(sl.fillRaw, nameOBJECT, nameENCODING, args[1])
	}
	for i := range sl.pre {
		sl.pre[i].Reply, sl.pre[i].Err = sl.pre[i].Reply[:0], nil
	}
	if s.fillStart.IsZero() {
		// Taken before the fill is queued: the upstream's PTTL is counted
		// from a later instant, so fillStart+PTTL is never past its expiry.
		s.fillStart = time.Now()
	}
	sl.setOutcome(telemetry.OutcomeMiss)
	if sl.span.Recording() {
		s.startUpstreamSpan(sl, string(fill))
	}
	// With the invalidation link up, the read and PTTL are sent back to
	// back without MULTI: any change of the key between them (a new value,
	// an EXPIRE) is reported by the link and drops what this fill stores,
	// and a key that expired between them (PTTL -2) is not stored, so the
	// copy still never outlives the upstream key. It saves the upstream two
	// commands per miss. Without the link, MULTI/EXEC makes them one
	// snapshot.
	sl.fillMulti = !cs.tracking || !cs.linkUp.Load()
	if sl.fillMulti {
		// One group: another client's command queued between MULTI and
		// EXEC on the shared connection would run inside this transaction
		// (and answer +QUEUED: found by the linearizability check).
		group := s.fillGroup[:0]
		sl.pre[0].Raw, sl.pre[1].Raw, sl.pre[2].Raw = rawMulti, sl.fillRaw[:split], sl.fillRaw[split:split2]
		group = append(group, &sl.pre[0], &sl.pre[1], &sl.pre[2])
		if hash {
			sl.pre[3].Raw = sl.fillRaw[split2:]
			group = append(group, &sl.pre[3])
		}
		sl.req.Raw = rawExec
		group = append(group, &sl.req)
		s.submitGroup(lane, group)
		s.fillGroup = group[:0]
	} else {
		s.submitReq(lane, sl.fillRaw[:split], &sl.pre[1])
		if hash {
			s.submitReq(lane, sl.fillRaw[split2:], &sl.pre[3])
		}
		s.submitReq(lane, sl.fillRaw[split:split2], &sl.req)
	}
	sl.post, sl.fill, sl.args, sl.c, sl.db = postFillLead, f, args, c, s.db
	s.posts++
	return true
}

// localArgsOK reports whether a cacheable read's arguments are ones the
// cache can answer; anything else (a wrong arity, GETRANGE bounds that are
// not integers) goes to the backend, which replies with its own error.
func localArgsOK(c *Command, args [][]byte) bool {
	if !c.arityOK(len(args)) {
		return false
	}
	if c.read == rkGetRange {
		if _, ok := resp.ParseInt(args[2]); !ok {
			return false
		}
		if _, ok := resp.ParseInt(args[3]); !ok {
			return false
		}
	}
	return true
}

// multiKeyRead answers MGET and EXISTS when every key is cached.
func (s *session) multiKeyRead(args [][]byte, c *Command, sl *slot) bool {
	cs := s.srv.cs
	out := sl.req.Reply[:0]
	if c.read == rkMGet {
		out = appendArray(out, len(args)-1)
	}
	n := int64(0)
	for _, k := range args[1:] {
		var tag byte
		var ok bool
		s.val, tag, _, ok = cs.c.GetIntoQuiet(s.val, s.db, k)
		if !ok {
			return false
		}
		v, good := decodeCval(tag, s.val)
		if !good {
			return false
		}
		if c.read == rkExists {
			if v.tag != tagAbsent {
				n++
			}
			continue
		}
		if v.tag == tagString {
			out = appendBulk(out, v.payload)
		} else {
			out = s.appendNull(out)
		}
	}
	if c.read == rkExists {
		out = appendIntReply(out, n)
	}
	sl.req.Reply = out
	return true
}

func (s *session) appendNull(b []byte) []byte {
	if s.proto == 3 {
		return append(b, "_\r\n"...)
	}
	return append(b, "$-1\r\n"...)
}

// renderRead appends the reply of a single-key read computed from v; false
// means the value cannot answer it (a hash too large to cache).
func (s *session) renderRead(b []byte, c *Command, args [][]byte, v cval) ([]byte, bool) {
	if v.tag == tagTooBig && c.read != rkType && c.read != rkTTL && c.read != rkPTTL {
		return b, false
	}
	switch c.read {
	case rkType:
		switch v.tag {
		case tagString:
			return append(b, "+string\r\n"...), true
		case tagAbsent:
			return append(b, "+none\r\n"...), true
		}
		return append(b, "+hash\r\n"...), true
	case rkTTL, rkPTTL:
		if v.tag == tagAbsent {
			return appendIntReply(b, -2), true
		}
		ms := pttlOf(v, time.Now())
		if c.read == rkTTL && ms >= 0 {
			ms = (ms + 500) / 1000
		}
		return appendIntReply(b, ms), true
	case rkGet, rkGetRange, rkStrlen:
		if v.tag == tagHash {
			return append(b, wrongType...), true
		}
		str := v.payload // empty for tagAbsent
		switch c.read {
		case rkGet:
			if v.tag == tagAbsent {
				return s.appendNull(b), true
			}
			return appendBulk(b, str), true
		case rkStrlen:
			return appendIntReply(b, int64(len(str))), true
		}
		start, _ := resp.ParseInt(args[2])
		end, _ := resp.ParseInt(args[3])
		return appendBulk(b, getRange(str, start, end)), true
	}
	// Hash reads.
	if v.tag == tagString {
		return append(b, wrongType...), true
	}
	var h hashFields
	if v.tag == tagHash {
		var ok bool
		if h, ok = newHashFields(v.payload); !ok {
			return b, false
		}
	}
	switch c.read {
	case rkHLen:
		return appendIntReply(b, int64(h.len())), true
	case rkHGet, rkHExists, rkHStrlen:
		val, found := h.lookup(args[2])
		switch {
		case c.read == rkHExists:
			return appendIntReply(b, boolInt(found)), true
		case c.read == rkHStrlen:
			return appendIntReply(b, int64(len(val))), true
		case !found:
			return s.appendNull(b), true
		}
		return appendBulk(b, val), true
	case rkHMGet:
		b = appendArray(b, len(args)-2)
		for _, f := range args[2:] {
			if val, found := h.lookup(f); found {
				b = appendBulk(b, val)
			} else {
				b = s.appendNull(b)
			}
		}
		return b, true
	case rkHGetAll:
		if s.proto == 3 {
			b = append(b, '%')
			b = strconv.AppendInt(b, int64(h.len()), 10)
			b = append(b, "\r\n"...)
		} else {
			b = appendArray(b, 2*h.len())
		}
		for f, val, ok := h.next(); ok; f, val, ok = h.next() {
			b = appendBulk(appendBulk(b, f), val)
		}
		return b, true
	case rkHKeys, rkHVals:
		b = appendArray(b, h.len())
		for f, val, ok := h.next(); ok; f, val, ok = h.next() {
			if c.read == rkHKeys {
				b = appendBulk(b, f)
			} else {
				b = appendBulk(b, val)
			}
		}
		return b, true
	}
	return b, false
}

func (h hashFields) lookup(field []byte) ([]byte, bool) {
	for f, v, ok := h.next(); ok; f, v, ok = h.next() {
		if bytes.Equal(f, field) {
			return v, true
		}
	}
	return nil, false
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// getRange is GETRANGE's substring, as redis-server computes it.
func getRange(s []byte, start, end int64) []byte {
	n := int64(len(s))
	if start < 0 && end < 0 && start > end {
		return nil
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start, end = max(start, 0), max(end, 0)
	if end >= n {
		end = n - 1
	}
	if start > end || n == 0 {
		return nil
	}
	return s[start : end+1]
}

// retryFill gives up a fill whose reply cannot be used: its waiters and
// the client itself read the upstream plainly.
func (s *session) retryFill(f cache.Fill, sl *slot) {
	f.Finish(nil, 0, 0, false, false, errNotCacheable)
	sl.post = postRetry
}

// finishFill turns a leader's EXEC reply into the cached value and the
// client's reply.
func (s *session) finishFill(sl *slot) {
	cs := s.srv.cs
	f := sl.fill
	sl.fill = cache.Fill{}
	if sl.req.Err != nil {
		f.Finish(nil, 0, 0, false, false, sl.req.Err)
		return
	}
	var ok bool
	hash := sl.c.read.fill()[0] == 'H'
	want := 2
	if hash && s.dconn == nil {
		want = 3 // OBJECT ENCODING
	}
	if sl.fillMulti || s.dconn != nil {
		s.elems, _, ok = resp.Elements(sl.req.Reply, s.elems)
	} else {
		// Without MULTI: the read, PTTL (the slot's own request) and the
		// encoding came as separate replies.
		ok = sl.pre[1].Err == nil && (!hash || sl.pre[3].Err == nil)
		s.elems = append(s.elems[:0], sl.pre[1].Reply, sl.req.Reply)
		if hash {
			s.elems = append(s.elems, sl.pre[3].Reply)
		}
	}
	if !ok || len(s.elems) != want {
		s.retryFill(f, sl)
		return
	}
	read, pttlFrame := s.elems[0], s.elems[1]
	// The embedded store keeps every hash in insertion order.
	listpack := hash && s.dconn != nil
	if want == 3 {
		enc, _ := resp.StringValue(s.elems[2])
		listpack = string(enc) == "listpack"
	}
	pttl, ok := resp.IntValue(pttlFrame)
	if !ok {
		s.retryFill(f, sl)
		return
	}
	var expireAt int64
	if pttl >= 0 { // 0: expires within this millisecond
		expireAt = s.fillStart.UnixMilli() + pttl
	}
	// Read without MULTI, the key expired between the read and PTTL: what
	// was read answers this client, nothing is stored.
	empty := resp.IsNull(read) || string(read) == "*0\r\n" || string(read) == "%0\r\n"
	expiredBetween := pttl == -2 && !empty
	tag := tagString
	s.enc = appendCvalHeader(s.enc[:0], expireAt)
	if listpack {
		s.enc[0] |= flagListpack
	}
	switch {
	case read[0] == '-':
		// WRONGTYPE and the like: the client gets the error as Redis
		// gave it, nothing is cached.
		f.Finish(nil, 0, 0, false, false, errNotCacheable)
		s.out2 = append(s.out2[:0], read...)
		sl.req.Reply = append(sl.req.Reply[:0], s.out2...)
		return
	case resp.IsNull(read):
		tag = tagAbsent
	case sl.c.read.fill()[0] == 'G':
		v, good := resp.StringValue(read)
		if !good {
			s.retryFill(f, sl)
			return
		}
		s.enc = append(s.enc, v...)
	default:
		var null bool
		s.fv, null, ok = resp.Elements(read, s.fv)
		if !ok || null || len(s.fv)%2 != 0 {
			s.retryFill(f, sl)
			return
		}
		if len(s.fv) == 0 {
			tag = tagAbsent
			break
		}
		for i, x := range s.fv {
			if s.fv[i], ok = resp.StringValue(x); !ok {
				s.retryFill(f, sl)
				return
			}
		}
		tag = tagHash
		s.enc = appendHashPayload(s.enc, s.fv)
	}
	v, _ := decodeCval(tag, s.enc)
	out, done := s.renderRead(s.out2[:0], sl.c, sl.args, v)
	s.out2 = out
	if !done {
		s.retryFill(f, sl)
		return
	}
	store := true
	ttl := localTTL(expireAt, time.Now())
	switch {
	case tag == tagAbsent:
		neg := cs.negativeTTL()
		store, ttl = neg > 0, neg
	case tag == tagHash && len(sl.args[1])+len(s.enc) > s.srv.maxItem:
		// Too large to keep: remember that, so reads of this hash pass
		// through instead of fetching all of it each time.
		tag = tagTooBig
		s.enc = appendCvalHeader(s.enc[:0], expireAt)
	}
	f.Finish(s.enc, tag, ttl, true, store && ttl >= 0 && !expiredBetween, nil)
	sl.req.Reply = append(sl.req.Reply[:0], out...)
}

// finishWait answers a read that shared another client's fill.
func (s *session) finishWait(sl *slot) {
	value, tag, _, found, err := sl.fill.Wait(s.ctx)
	sl.fill = cache.Fill{}
	if err != nil || !found {
		sl.post = postRetry
		return
	}
	if tag == tagTooBig {
		sl.post = postRetry
		return
	}
	v, ok := decodeCval(tag, value)
	if !ok {
		sl.post = postRetry
		return
	}
	out, done := s.renderRead(sl.req.Reply[:0], sl.c, sl.args, v)
	if !done {
		sl.post = postRetry
		return
	}
	sl.req.Reply = out
}

// postBatch completes the slots of a batch that need their upstream reply
// first: fill leaders (all of them before any wait, so that two clients
// waiting on each other's fills cannot deadlock), writes in order, then
// fill waiters; reads that could not use a fill go upstream plainly.
func (s *session) postBatch(n int) {
	for i := 0; i < n; i++ {
		if sl := &s.slots[i]; sl.post == postFillLead {
			s.finishFill(sl)
		}
	}
	for i := 0; i < n; i++ {
		sl := &s.slots[i]
		switch sl.post {
		case postWrite:
			s.afterWrite(sl)
		case postInfo:
			s.appendInfoSection(sl)
		}
	}
	retry := false
	for i := 0; i < n; i++ {
		sl := &s.slots[i]
		if sl.post == postFillWait {
			s.finishWait(sl)
		}
		retry = retry || sl.post == postRetry
	}
	if retry {
		for i := 0; i < n; i++ {
			if sl := &s.slots[i]; sl.post == postRetry {
				sl.req.Reply, sl.req.Err = sl.req.Reply[:0], nil
				cmd := resp.Command{Args: sl.args, Raw: resp.AppendCommand(nil, sl.args...)}
				s.forward(&cmd, sl.c, sl)
			}
		}
		s.flushLanes()
	}
	for i := 0; i < n; i++ {
		s.slots[i].post = postNone
		s.slots[i].args = nil
	}
	s.posts = 0
}

// beforeWrite registers a write's keys with the cache before it is sent
// (cache.BeginWrite) and marks the batch as no longer answerable from the
// cache.
func (s *session) beforeWrite(cmd *resp.Command, c *Command, sl *slot) {
	cs := s.srv.cs
	sl.post, sl.args, sl.c, sl.db = postWrite, cmd.Args, c, s.db
	s.posts++
	sl.verOff, sl.verN = s.beginWrite(c, cmd.Args, s.db)
	if cs.tracker != nil && sl.verN > 0 {
		cs.lag.sent(cmd.Args[s.wpos[sl.verOff]])
	}
	if s.writeStart.IsZero() && updatable(c.Name) {
		s.writeStart = time.Now()
	}
}

// beginWrite calls cache.BeginWrite for each key of a write; the keys'
// positions and versions are s.wpos and s.vers[off:off+n].
func (s *session) beginWrite(c *Command, args [][]byte, db int) (off, n int) {
	cs := s.srv.cs
	off = len(s.vers)
	s.keyPos = c.appendKeyPositions(s.keyPos[:0], args)
	for _, p := range s.keyPos {
		s.vers = append(s.vers, cs.c.BeginWrite(db, args[p]))
		s.wpos = append(s.wpos, p)
		s.wdone = append(s.wdone, false)
	}
	return off, len(s.keyPos)
}

// commitKey ends the write of key i of a write's range: store (the
// encoded value in s.enc, with tag and ttl) or drop.
func (s *session) commitKey(off, i int, db int, args [][]byte, tag byte, ttl time.Duration, store bool) {
	j := off + i
	if s.wdone[j] {
		return
	}
	s.wdone[j] = true
	if store {
		s.srv.cs.markDB(db)
	}
	s.srv.cs.c.CommitWrite(db, args[s.wpos[j]], s.vers[j], s.enc, tag, ttl, store && ttl >= 0)
}

// endWrite drops every key of a write's range not committed yet, then
// what the command changed beyond its keys.
func (s *session) endWrite(c *Command, args [][]byte, db, off, n int) {
	for i := 0; i < n; i++ {
		s.commitKey(off, i, db, args, 0, 0, false)
	}
	s.dropBeyondKeys(c, args, db, n)
}

func updatable(name string) bool {
	switch name {
	case "set", "setex", "psetex", "setnx", "getset", "mset", "msetnx",
		"incr", "decr", "incrby", "decrby", "incrbyfloat", "append",
		"hset", "hmset", "hsetnx", "hdel", "hincrby", "hincrbyfloat":
		return true
	}
	return false
}

// afterWrite updates or drops the local copies a write touched.
func (s *session) afterWrite(sl *slot) {
	c, args, db, off := sl.c, sl.args, sl.db, sl.verOff
	defer s.endWrite(c, args, db, off, sl.verN)
	reply := sl.req.Reply
	if sl.req.Err != nil || len(reply) == 0 || reply[0] == '-' || !updatable(c.Name) || sl.verN == 0 {
		return
	}
	now := s.writeStart
	set := func(i int, value []byte, expireAt int64) {
		if i >= sl.verN {
			return
		}
		s.enc = appendCvalHeader(s.enc[:0], expireAt)
		s.enc = append(s.enc, value...)
		s.commitKey(off, i, db, args, tagString, localTTL(expireAt, time.Now()), true)
	}
	switch c.Name {
	case "set":
		expireAt, keep, ok := setExpiry(args[3:], now)
		if !ok || reply[0] != '+' {
			// SET ... GET replies the old value, so whether it set is
			// unknown: dropped. NX/XX not met (nil): nothing changed, but
			// dropping is as right and simpler.
			return
		}
		if keep {
			old, found := s.cachedString(db, args[1])
			if !found {
				return
			}
			expireAt = old.expireAt
		}
		set(0, args[2], expireAt)
	case "setex", "psetex":
		d, _ := resp.ParseInt(args[2])
		if c.Name == "setex" {
			d *= 1000
		}
		set(0, args[3], now.UnixMilli()+d)
	case "setnx", "msetnx":
		if v, _ := resp.IntValue(reply); v != 1 {
			return // nothing was set
		}
		for i := 1; i+1 < len(args); i += 2 {
			set(i/2, args[i+1], 0)
		}
	case "getset":
		set(0, args[2], 0)
	case "mset":
		for i := 1; i+1 < len(args); i += 2 {
			set(i/2, args[i+1], 0)
		}
	case "incr", "decr", "incrby", "decrby", "incrbyfloat":
		var digits []byte
		if v, ok := resp.IntValue(reply); ok {
			digits = strconv.AppendInt(s.scratch[:0], v, 10)
		} else if v, ok := resp.StringValue(reply); ok {
			digits = append(s.scratch[:0], v...)
		}
		s.scratch = digits
		old, found := s.cachedString(db, args[1])
		if digits == nil || !found {
			return
		}
		set(0, digits, old.expireAt)
	case "hset", "hmset", "hsetnx", "hdel", "hincrby", "hincrbyfloat":
		s.afterHashWrite(c.Name, args, reply, db, off)
	case "append":
		n, _ := resp.IntValue(reply)
		old, found := s.cachedString(db, args[1])
		if !found || int64(len(old.payload)+len(args[2])) != n {
			return
		}
		s.scratch = append(append(s.scratch[:0], old.payload...), args[2]...)
		set(0, s.scratch, old.expireAt)
	}
}

// cachedString returns the cached string (or absent key, as an empty
// string without expiry) for a write that modifies it; found=false when the
// key is not cached or holds something else.
func (s *session) cachedString(db int, key []byte) (cval, bool) {
	v, ok := s.cachedValue(db, key)
	switch {
	case !ok:
		return cval{}, false
	case v.tag == tagString:
		return v, true
	case v.tag == tagAbsent:
		return cval{tag: tagString}, true
	}
	return cval{}, false
}

// cachedValue reads and decodes the local copy a write is about to update
// (into s.val2, which the result aliases). Not GetIntoQuiet: the write
// itself is in flight.
func (s *session) cachedValue(db int, key []byte) (cval, bool) {
	var tag byte
	var ok bool
	s.val2, tag, _, ok = s.srv.cs.c.GetInto(s.val2, db, key)
	if !ok {
		return cval{}, false
	}
	return decodeCval(tag, s.val2)
}

// setExpiry reads SET's options: the new expiry (unix ms, 0 none), whether
// KEEPTTL keeps the old one; ok=false for options it does not model (GET)
// or cannot parse (the upstream then answered with an error anyway).
func setExpiry(opts [][]byte, now time.Time) (expireAt int64, keep, ok bool) {
	for i := 0; i < len(opts); i++ {
		o := opts[i]
		switch {
		case isName(o, "nx"), isName(o, "xx"):
		case isName(o, "keepttl"):
			keep = true
		case isName(o, "get"):
			return 0, false, false
		case isName(o, "ex"), isName(o, "px"), isName(o, "exat"), isName(o, "pxat"):
			if i+1 >= len(opts) {
				return 0, false, false
			}
			v, good := resp.ParseInt(opts[i+1])
			if !good {
				return 0, false, false
			}
			i++
			switch {
			case isName(o, "ex"):
				expireAt = now.UnixMilli() + v*1000
			case isName(o, "px"):
				expireAt = now.UnixMilli() + v
			case isName(o, "exat"):
				expireAt = v * 1000
			default:
				expireAt = v
			}
		default:
			return 0, false, false
		}
	}
	return expireAt, keep, true
}

// dropBeyondKeys drops what a write changed beyond the keys it named
// (which endWrite has dropped): other databases, whole databases.
func (s *session) dropBeyondKeys(c *Command, args [][]byte, db, nkeys int) {
	cs := s.srv.cs
	switch c.Name {
	case "flushall":
		cs.c.InvalidateAll()
	case "flushdb":
		cs.c.InvalidateDB(db)
	case "swapdb":
		if len(args) == 3 {
			if a, ok := atoiDB(args[1]); ok {
				cs.c.InvalidateDB(a)
			}
			if b, ok := atoiDB(args[2]); ok {
				cs.c.InvalidateDB(b)
			}
		}
	case "move":
		if len(args) == 3 {
			if d, ok := atoiDB(args[2]); ok {
				cs.c.Invalidate(d, args[1])
			}
		}
	case "copy":
		for i := 3; i+1 < len(args); i++ {
			if isName(args[i], "db") {
				if d, ok := atoiDB(args[i+1]); ok {
					cs.c.Invalidate(d, args[2])
				}
			}
		}
	default:
		if nkeys == 0 && c.Has(FlagWrite) {
			// A write whose keys are not in its arguments: drop the database.
			cs.c.InvalidateDB(db)
		}
	}
}

// afterScript drops what a script or function may have written beyond
// its declared keys (endWrite drops those): the whole database when no
// invalidation link would report undeclared ones.
func (s *session) afterScript(db int) {
	cs := s.srv.cs
	if !cs.tracking || !cs.linkUp.Load() {
		cs.c.InvalidateDB(db)
	}
}

// mayWrite reports commands that change data without the write flag.
func mayWrite(c *Command) bool {
	switch c.Name {
	case "eval", "evalsha", "fcall", "exec":
		return true
	}
	return c.Has(FlagWrite)
}

// multiDrop is a write queued in a transaction: its keys were registered
// with cache.BeginWrite at queue time and are committed (dropped) at EXEC
// or DISCARD.
type multiDrop struct {
	db   int
	args [][]byte // copies
	c    *Command
	vers []uint64
	pos  []int
}

// beforePinned registers the keys of a write about to run on the client's
// pinned connection (or to be queued in its transaction).
func (s *session) beforePinned(c *Command, args [][]byte) (off, n int) {
	if s.srv.cs == nil || c == nil || !mayWrite(c) || c.Name == "exec" {
		return len(s.vers), 0
	}
	db := s.db
	if s.inMulti && s.multiDB >= 0 {
		db = s.multiDB
	}
	return s.beginWrite(c, args, db)
}

// afterPinned keeps the cache right after a command ran on the client's
// pinned connection (transactions, scripts, tracking clients, blocking
// commands): off and n are what beforePinned returned.
func (s *session) afterPinned(c *Command, args [][]byte, reply []byte, db, off, n int) {
	if s.srv.cs == nil || c == nil {
		return
	}
	switch c.Name {
	case "exec", "discard":
		s.endMulti()
		return
	}
	if !mayWrite(c) {
		return
	}
	if s.inMulti && string(reply) == "+QUEUED\r\n" {
		s.queueWrite(c, args, db, off, n)
		return
	}
	s.endWrite(c, args, db, off, n)
	if isScript(c.Name) {
		s.afterScript(db)
	}
}

// queueWrite hands a queued write's registered keys to the transaction:
// they are committed (dropped) at EXEC or DISCARD, whatever their outcome.
func (s *session) queueWrite(c *Command, args [][]byte, db, off, n int) {
	d := multiDrop{db: db, c: c, vers: append([]uint64(nil), s.vers[off:off+n]...), pos: append([]int(nil), s.wpos[off:off+n]...)}
	if s.multiDB >= 0 {
		d.db = s.multiDB
	}
	d.args = make([][]byte, len(args))
	for i, a := range args {
		d.args[i] = bytes.Clone(a)
	}
	for i := off; i < off+n; i++ {
		s.wdone[i] = true // ownership moves to the transaction
	}
	s.multiDrops = append(s.multiDrops, d)
}

// endMulti commits (drops) the keys of the transaction's queued writes.
func (s *session) endMulti() {
	cs := s.srv.cs
	for _, d := range s.multiDrops {
		for i, p := range d.pos {
			cs.c.CommitWrite(d.db, d.args[p], d.vers[i], nil, 0, 0, false)
		}
		s.dropBeyondKeys(d.c, d.args, d.db, len(d.pos))
		if isScript(d.c.Name) {
			s.afterScript(d.db)
		}
	}
	s.multiDrops = s.multiDrops[:0]
}

func isScript(name string) bool {
	switch name {
	case "eval", "evalsha", "fcall":
		return true
	}
	return false
}

// afterHashWrite updates a cached hash in place when Redis keeps it in
// insertion order (listpack encoding) before and after the write: a
// changed field keeps its place, a new one goes to the end, a deleted one
// leaves the others in order. Anything else (a hashtable-encoded hash, a
// write that makes Redis convert it, limits unknown) drops the copy.
func (s *session) afterHashWrite(name string, args [][]byte, reply []byte, db, off int) {
	cs := s.srv.cs
	key := args[1]
	maxEntries, maxValue, known := s.srv.up.HashListpackLimits()
	if !known {
		return
	}
	// Every return that does not commit leaves the copy to endWrite, which
	// drops it.
	old, ok := s.cachedValue(db, key)
	if !ok {
		return
	}
	// fv holds the hash as alternating fields and values.
	s.fv = s.fv[:0]
	switch {
	case old.tag == tagAbsent:
		old.expireAt = 0 // a new hash has no TTL
	case old.tag == tagHash && old.flags&flagListpack != 0:
		h, good := newHashFields(old.payload)
		if !good {
			return
		}
		for f, v, more := h.next(); more; f, v, more = h.next() {
			s.fv = append(s.fv, f, v)
		}
	default:
		return
	}
	find := func(f []byte) int {
		for i := 0; i < len(s.fv); i += 2 {
			if bytes.Equal(s.fv[i], f) {
				return i
			}
		}
		return -1
	}
	put := func(f, v []byte) {
		if i := find(f); i >= 0 {
			s.fv[i+1] = v
		} else {
			s.fv = append(s.fv, f, v)
		}
	}
	switch name {
	case "hset", "hmset":
		for i := 2; i+1 < len(args); i += 2 {
			put(args[i], args[i+1])
		}
	case "hsetnx":
		if n, _ := resp.IntValue(reply); n == 1 {
			put(args[2], args[3])
		}
	case "hdel":
		for _, f := range args[2:] {
			if i := find(f); i >= 0 {
				s.fv = append(s.fv[:i], s.fv[i+2:]...)
			}
		}
	case "hincrby":
		n, good := resp.IntValue(reply)
		if !good {
			return
		}
		s.scratch = strconv.AppendInt(s.scratch[:0], n, 10)
		put(args[2], s.scratch)
	case "hincrbyfloat":
		v, good := resp.StringValue(reply)
		if !good {
			return
		}
		put(args[2], v)
	}
	if int64(len(s.fv)/2) > maxEntries {
		return
	}
	for _, x := range s.fv {
		if int64(len(x)) > maxValue {
			return
		}
	}
	// fv aliases val2 and args; encode into enc, then store.
	s.enc = appendCvalHeader(s.enc[:0], old.expireAt)
	tag := tagAbsent
	if len(s.fv) > 0 {
		s.enc[0] |= flagListpack
		s.enc = appendHashPayload(s.enc, s.fv)
		tag = tagHash
	} else if cs.negativeTTL() <= 0 {
		return // the hash is gone and absence is not cached
	}
	ttl := localTTL(old.expireAt, time.Now())
	if tag == tagAbsent {
		ttl = cs.negativeTTL()
	}
	if ttl < 0 || len(args[1])+len(s.enc) > s.srv.maxItem {
		return
	}
	s.commitKey(off, 0, db, args, tag, ttl, true)
}
