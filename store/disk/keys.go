package disk

import (
	"encoding/binary"
	"math/rand/v2"

	"github.com/cockroachdb/pebble/v2"
)

func init() {
	register(
		&command{name: "del", arity: -2, flags: flagWrite, first: 1, last: -1, fn: delCmd},
		&command{name: "unlink", arity: -2, flags: flagWrite, first: 1, last: -1, fn: delCmd},
		&command{name: "exists", arity: -2, first: 1, last: -1, fn: existsCmd},
		&command{name: "touch", arity: -2, first: 1, last: -1, fn: existsCmd},
		&command{name: "type", arity: 2, first: 1, last: 1, fn: typeCmd},
		&command{name: "rename", arity: 3, flags: flagWrite, first: 1, last: 2, fn: renameCmd},
		&command{name: "renamenx", arity: 3, flags: flagWrite, first: 1, last: 2, fn: renameCmd},
		&command{name: "copy", arity: -3, flags: flagWrite | flagGlobal, fn: copyCmd},
		&command{name: "move", arity: 3, flags: flagWrite | flagGlobal, fn: moveCmd},
		&command{name: "swapdb", arity: 3, flags: flagWrite | flagGlobal, fn: swapdbCmd},
		&command{name: "expire", arity: -3, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: expireCmd},
		&command{name: "pexpire", arity: -3, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: expireCmd},
		&command{name: "expireat", arity: -3, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: expireCmd},
		&command{name: "pexpireat", arity: -3, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: expireCmd},
		&command{name: "ttl", arity: 2, first: 1, last: 1, fn: ttlCmd},
		&command{name: "pttl", arity: 2, first: 1, last: 1, fn: ttlCmd},
		&command{name: "expiretime", arity: 2, first: 1, last: 1, fn: ttlCmd},
		&command{name: "pexpiretime", arity: 2, first: 1, last: 1, fn: ttlCmd},
		&command{name: "persist", arity: 2, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: persistCmd},
		&command{name: "scan", arity: -2, fn: scanCmd},
		&command{name: "keys", arity: 2, fn: keysCmd},
		&command{name: "randomkey", arity: 1, fn: randomkeyCmd},
		&command{name: "dbsize", arity: 1, fn: dbsizeCmd},
		&command{name: "flushdb", arity: -1, flags: flagWrite | flagGlobal, fn: flushCmd},
		&command{name: "flushall", arity: -1, flags: flagWrite | flagGlobal, fn: flushCmd},
	)
}

func delCmd(t *tx, w *writer, args [][]byte) error {
	var n int64
	for _, k := range args[1:] {
		ok, err := t.deleteKey(k)
		if err != nil {
			return err
		}
		n += b2i(ok)
	}
	w.int(n)
	return nil
}

// existsCmd is EXISTS and TOUCH: each named key counts once per mention.
func existsCmd(t *tx, w *writer, args [][]byte) error {
	var n int64
	for _, k := range args[1:] {
		_, ok, err := t.lookup(k)
		if err != nil {
			return err
		}
		n += b2i(ok)
	}
	w.int(n)
	return nil
}

func typeCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookup(args[1])
	if err != nil {
		return err
	}
	if !ok {
		w.simple("none")
		return nil
	}
	w.simple(m.typ.String())
	return nil
}

// renameCmd moves the meta record to the new name; the elements stay
// where they are (they are keyed by generation), so RENAME is O(1) for any
// type.
func renameCmd(t *tx, w *writer, args [][]byte) error {
	nx := eqFold(args[0], "renamenx")
	src, dst := args[1], args[2]
	m, ok, err := t.lookup(src)
	if err != nil {
		return err
	}
	if !ok {
		return errNoKey
	}
	if string(src) == string(dst) {
		if nx {
			w.int(0)
		} else {
			w.ok()
		}
		return nil
	}
	if nx {
		if _, exists, err := t.lookup(dst); err != nil {
			return err
		} else if exists {
			w.int(0)
			return nil
		}
	}
	if err := t.unlinkMeta(src, &m); err != nil {
		return err
	}
	if err := t.putMeta(dst, &m); err != nil {
		return err
	}
	if nx {
		w.int(1)
	} else {
		w.ok()
	}
	return nil
}

// parseDBIndex parses a db argument as Redis's getIntFromObjectOrReply and
// checks its range.
func (t *tx) parseDBIndex(p []byte) (int, error) {
	n, err := argInt(p)
	if err != nil {
		return 0, err
	}
	if n < -1<<31 || n > 1<<31-1 {
		return 0, errNotInt
	}
	if n < 0 || n >= int64(t.s.opts.Databases) {
		return 0, errDBIndex
	}
	return int(n), nil
}

func copyCmd(t *tx, w *writer, args [][]byte) error {
	src, dst := args[1], args[2]
	dstDB := t.ldb
	replace := false
	for j := 3; j < len(args); j++ {
		switch {
		case eqFold(args[j], "replace"):
			replace = true
		case eqFold(args[j], "db") && j+1 < len(args):
			n, err := t.parseDBIndex(args[j+1])
			if err != nil {
				return err
			}
			dstDB = n
			j++
		default:
			return errSyntax
		}
	}
	if dstDB == t.ldb && string(src) == string(dst) {
		return errSameObject
	}
	m, ok, err := t.lookup(src)
	if err != nil {
		return err
	}
	if !ok {
		w.int(0)
		return nil
	}
	pdst := t.s.dbmap[dstDB]
	err = t.withDB(pdst, func() error {
		_, exists, err := t.lookup(dst)
		if err != nil {
			return err
		}
		if exists && !replace {
			ok = false
			return nil
		}
		nm := m
		nm.payload = append([]byte(nil), m.payload...)
		if m.gen != 0 {
			nm.gen = t.s.nextGen()
			if err := t.copyElems(m.typ, m.gen, nm.gen); err != nil {
				return err
			}
		}
		return t.putMeta(dst, &nm)
	})
	if err != nil {
		return err
	}
	w.int(b2i(ok))
	return nil
}

func moveCmd(t *tx, w *writer, args [][]byte) error {
	n, err := t.parseDBIndex(args[2])
	if err != nil {
		return err
	}
	if n == t.ldb {
		return errSameObject
	}
	m, ok, err := t.lookup(args[1])
	if err != nil {
		return err
	}
	if !ok {
		w.int(0)
		return nil
	}
	pdst := t.s.dbmap[n]
	var exists bool
	if err := t.withDB(pdst, func() error {
		_, exists, err = t.lookup(args[1])
		return err
	}); err != nil {
		return err
	}
	if exists {
		w.int(0)
		return nil
	}
	if err := t.unlinkMeta(args[1], &m); err != nil {
		return err
	}
	if err := t.withDB(pdst, func() error { return t.putMeta(args[1], &m) }); err != nil {
		return err
	}
	w.int(1)
	return nil
}

func swapdbCmd(t *tx, w *writer, args [][]byte) error {
	parse := func(p []byte, which string) (int, error) {
		n, ok := parseInt(p)
		if !ok || n < -1<<31 || n > 1<<31-1 {
			return 0, replyErr("ERR invalid " + which + " DB index")
		}
		if n < 0 || n >= int64(t.s.opts.Databases) {
			return 0, errDBIndex
		}
		return int(n), nil
	}
	a, err := parse(args[1], "first")
	if err != nil {
		return err
	}
	b, err := parse(args[2], "second")
	if err != nil {
		return err
	}
	if a != b {
		s := t.s
		pa, pb := s.dbmap[a], s.dbmap[b]
		// Watched keys of either db are dirty if the key exists in either.
		exists := func(key []byte) bool {
			for _, db := range []uint8{pa, pb} {
				var ok bool
				_ = t.withDB(db, func() error {
					_, ok, _ = t.lookup(key)
					return nil
				})
				if ok {
					return true
				}
			}
			return false
		}
		s.signalDB(pa, exists)
		s.signalDB(pb, exists)
		s.dbmap[a], s.dbmap[b] = pb, pa
		t.undo = append(t.undo, func() { s.dbmap[a], s.dbmap[b] = pa, pb })
		if err := t.b.Set(sysKey(sysDBMap), append([]byte(nil), s.dbmap...), nil); err != nil {
			return err
		}
		if t.conn != nil {
			t.db = s.dbmap[t.ldb]
		}
	}
	w.ok()
	return nil
}

// Option flags of EXPIRE and friends.
const (
	expireNX = 1 << iota
	expireXX
	expireGT
	expireLT
)

func expireCmd(t *tx, w *writer, args [][]byte) error {
	name := string(lower(args[0]))
	var flags int
	for _, opt := range args[3:] {
		switch {
		case eqFold(opt, "nx"):
			flags |= expireNX
		case eqFold(opt, "xx"):
			flags |= expireXX
		case eqFold(opt, "gt"):
			flags |= expireGT
		case eqFold(opt, "lt"):
			flags |= expireLT
		default:
			return replyErr("ERR Unsupported option " + string(opt))
		}
	}
	if flags&expireNX != 0 && flags&(expireXX|expireGT|expireLT) != 0 {
		return replyErr("ERR NX and XX, GT or LT options at the same time are not compatible")
	}
	if flags&expireGT != 0 && flags&expireLT != 0 {
		return replyErr("ERR GT and LT options at the same time are not compatible")
	}
	when, err := argInt(args[2])
	if err != nil {
		return err
	}
	if name == "expire" || name == "expireat" {
		if when > maxInt64/1000 || when < minInt64/1000 {
			return invalidExpire(name)
		}
		when *= 1000
	}
	var base int64
	if name == "expire" || name == "pexpire" {
		base = t.now
	}
	if when > maxInt64-base {
		return invalidExpire(name)
	}
	when += base
	m, ok, err := t.lookup(args[1])
	if err != nil {
		return err
	}
	if !ok {
		w.int(0)
		return nil
	}
	cur := m.expire
	switch {
	case flags&expireNX != 0 && cur != 0,
		flags&expireXX != 0 && cur == 0,
		flags&expireGT != 0 && (cur == 0 || when <= cur),
		flags&expireLT != 0 && cur != 0 && when >= cur:
		w.int(0)
		return nil
	}
	if when <= t.now {
		if _, err := t.deleteKey(args[1]); err != nil {
			return err
		}
		w.int(1)
		return nil
	}
	m.expire = when
	if err := t.putMeta(args[1], &m); err != nil {
		return err
	}
	w.int(1)
	return nil
}

func ttlCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookup(args[1])
	if err != nil {
		return err
	}
	switch {
	case !ok:
		w.int(-2)
	case m.expire == 0:
		w.int(-1)
	default:
		ttl := max(m.expire-t.now, 0)
		switch {
		case eqFold(args[0], "ttl"):
			w.int((ttl + 500) / 1000)
		case eqFold(args[0], "pttl"):
			w.int(ttl)
		case eqFold(args[0], "expiretime"):
			w.int(m.expire / 1000)
		default:
			w.int(m.expire)
		}
	}
	return nil
}

func persistCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookup(args[1])
	if err != nil {
		return err
	}
	if !ok || m.expire == 0 {
		w.int(0)
		return nil
	}
	m.expire = 0
	if err := t.putMeta(args[1], &m); err != nil {
		return err
	}
	w.int(1)
	return nil
}

// scanCmd walks the db's meta records in key-hash order; the cursor is the
// hash to resume from, so every key present for the whole iteration is
// returned (a key may come twice only if 64-bit hashes collide).
func scanCmd(t *tx, w *writer, args [][]byte) error {
	cursor, ok := parseCursor(args[1])
	if !ok {
		return errInvalidCursor
	}
	opts, err := parseScanOpts(args[2:], true)
	if err != nil {
		return err
	}
	lo, hi := metaDBBounds(t.db)
	start := binary.BigEndian.AppendUint64(append([]byte(nil), lo...), cursor)
	it, err := t.iter(lo, hi)
	if err != nil {
		return err
	}
	var keys [][]byte
	var next uint64
	var seen int64
	var lastHash uint64
	for valid := it.SeekGE(start); valid; valid = it.Next() {
		_, h, key, ok := decodeMetaKey(it.Key())
		if !ok || isDeadMeta(it.Value()) {
			continue // dead markers are not keys and do not count
		}
		if seen >= opts.count && h != lastHash {
			next = h
			break
		}
		seen++
		lastHash = h
		m, err := decodeMeta(it.Value())
		if err != nil || t.expired(&m) {
			continue
		}
		if opts.hasType && m.typ != opts.typ {
			continue
		}
		if opts.match != nil && !globMatch(opts.match, key, false) {
			continue
		}
		keys = append(keys, t.copyOut(key))
	}
	if err := it.Close(); err != nil {
		return err
	}
	w.array(2)
	w.bulkUint(next)
	w.array(len(keys))
	for _, k := range keys {
		w.bulk(k)
	}
	return nil
}

func keysCmd(t *tx, w *writer, args [][]byte) error {
	pattern := args[1]
	all := len(pattern) == 1 && pattern[0] == '*'
	lo, hi := metaDBBounds(t.db)
	it, err := t.iter(lo, hi)
	if err != nil {
		return err
	}
	var keys [][]byte
	for valid := it.First(); valid; valid = it.Next() {
		_, _, key, ok := decodeMetaKey(it.Key())
		if !ok {
			continue
		}
		if !all && !globMatch(pattern, key, false) {
			continue
		}
		// A dead marker does not decode: skipped like an expired key.
		m, err := decodeMeta(it.Value())
		if err != nil || t.expired(&m) {
			continue
		}
		keys = append(keys, t.copyOut(key))
	}
	if err := it.Close(); err != nil {
		return err
	}
	w.array(len(keys))
	for _, k := range keys {
		w.bulk(k)
	}
	return nil
}

// randomkeyCmd seeks to a random point of the hash-ordered meta records and
// returns the first live key from there, wrapping around once.
func randomkeyCmd(t *tx, w *writer, args [][]byte) error {
	lo, hi := metaDBBounds(t.db)
	it, err := t.iter(lo, hi)
	if err != nil {
		return err
	}
	start := binary.BigEndian.AppendUint64(append([]byte(nil), lo...), rand.Uint64())
	key, ok := firstLive(t, it, it.SeekGE(start))
	if !ok {
		key, ok = firstLive(t, it, it.First())
	}
	if err := it.Close(); err != nil {
		return err
	}
	if ok {
		w.bulk(key)
	} else {
		w.null()
	}
	return nil
}

func firstLive(t *tx, it *pebble.Iterator, valid bool) ([]byte, bool) {
	for ; valid; valid = it.Next() {
		_, _, key, ok := decodeMetaKey(it.Key())
		if !ok {
			continue
		}
		m, err := decodeMeta(it.Value())
		if err != nil || t.expired(&m) {
			continue
		}
		return t.copyOut(key), true
	}
	return nil, false
}

func dbsizeCmd(t *tx, w *writer, args [][]byte) error {
	n, _, err := t.s.liveCounts(t.r, t.db, t.now)
	if err != nil {
		return err
	}
	pk, _ := t.pendingDelta(t.db)
	w.int(n + pk)
	return nil
}

// flushCmd is FLUSHDB and FLUSHALL [ASYNC|SYNC]. Both are synchronous here
// (ASYNC is accepted): the deletion is a handful of range tombstones, and
// pebble reclaims the space in the background anyway.
func flushCmd(t *tx, w *writer, args [][]byte) error {
	if len(args) > 2 || (len(args) == 2 && !eqFold(args[1], "async") && !eqFold(args[1], "sync")) {
		return errSyntax
	}
	s := t.s
	var dbs []uint8
	if eqFold(args[0], "flushall") {
		dbs = append(dbs, s.dbmap...)
	} else {
		dbs = []uint8{t.db}
	}
	for _, db := range dbs {
		exists := func(key []byte) bool {
			var ok bool
			_ = t.withDB(db, func() error {
				_, ok, _ = t.lookup(key)
				return nil
			})
			return ok
		}
		s.signalDB(db, exists)
		if err := t.withDB(db, t.flushDB); err != nil {
			return err
		}
	}
	w.ok()
	return nil
}

// flushDB deletes every key of t.db: the elements of each collection and
// each TTL entry (O(keys) tombstones), then the meta range.
func (t *tx) flushDB() error {
	lo, hi := metaDBBounds(t.db)
	it, err := t.iter(lo, hi)
	if err != nil {
		return err
	}
	var keys, expires int64
	for valid := it.First(); valid; valid = it.Next() {
		_, _, key, ok := decodeMetaKey(it.Key())
		if !ok {
			continue
		}
		m, err := decodeMeta(it.Value())
		if err != nil {
			continue
		}
		keys++
		if m.gen != 0 {
			if err := t.dropElems(&m); err != nil {
				_ = it.Close()
				return err
			}
		}
		if m.expire != 0 {
			expires++
			if err := t.b.Delete(appendExpireKey(nil, m.expire, t.db, key), nil); err != nil {
				_ = it.Close()
				return err
			}
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	t.delta(t.db, -keys, -expires)
	return t.b.DeleteRange(lo, hi, nil)
}
