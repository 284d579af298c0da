package disk

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
)

func init() {
	register(
		&command{name: "hset", arity: -4, flags: flagWrite, first: 1, last: 1, fn: hsetCmd},
		&command{name: "hmset", arity: -4, flags: flagWrite, first: 1, last: 1, fn: hsetCmd},
		&command{name: "hsetnx", arity: 4, flags: flagWrite, first: 1, last: 1, fn: hsetnxCmd},
		&command{name: "hget", arity: 3, first: 1, last: 1, fn: hgetCmd},
		&command{name: "hmget", arity: -3, first: 1, last: 1, fn: hmgetCmd},
		&command{name: "hgetall", arity: 2, first: 1, last: 1, fn: hgetallCmd},
		&command{name: "hkeys", arity: 2, first: 1, last: 1, fn: hgetallCmd},
		&command{name: "hvals", arity: 2, first: 1, last: 1, fn: hgetallCmd},
		&command{name: "hdel", arity: -3, flags: flagWrite, first: 1, last: 1, fn: hdelCmd},
		&command{name: "hexists", arity: 3, first: 1, last: 1, fn: hexistsCmd},
		&command{name: "hlen", arity: 2, first: 1, last: 1, fn: hlenCmd},
		&command{name: "hstrlen", arity: 3, first: 1, last: 1, fn: hstrlenCmd},
		&command{name: "hincrby", arity: 4, flags: flagWrite, first: 1, last: 1, fn: hincrbyCmd},
		&command{name: "hincrbyfloat", arity: 4, flags: flagWrite, first: 1, last: 1, fn: hincrbyfloatCmd},
		&command{name: "hrandfield", arity: -2, first: 1, last: 1, fn: hrandfieldCmd},
		&command{name: "hscan", arity: -3, first: 1, last: 1, fn: hscanCmd},
	)
}

// hsetCmd is HSET/HMSET key field value [field value ...]: the worked
// example of FRAMEWORK.md.
func hsetCmd(t *tx, w *writer, args [][]byte) error {
	if len(args)%2 != 0 {
		return arityErr(string(lower(args[0])))
	}
	key := args[1]
	m, ok, err := t.lookupType(key, typeHash) // WRONGTYPE before any write
	if err != nil {
		return err
	}
	if !ok {
		m = t.newMeta(typeHash) // fresh generation; replaces an expired key
	}
	var added int64
	for i := 2; i < len(args); i += 2 {
		// A field named twice in one command is new only the first time:
		// the indexed batch shows this command's own earlier write.
		isNew, err := t.hashSet(&m, args[i], args[i+1]) // maintains m.count
		if err != nil {
			return err
		}
		added += b2i(isNew)
	}
	if err := t.putMeta(key, &m); err != nil { // counters, TTL index, WATCH
		return err
	}
	if eqFold(args[0], "hmset") {
		w.ok()
	} else {
		w.int(added)
	}
	return nil
}

func hsetnxCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeHash)
	if err != nil {
		return err
	}
	if ok {
		if _, exists, err := t.hashGet(&m, args[2]); err != nil {
			return err
		} else if exists {
			w.int(0)
			return nil
		}
	} else {
		m = t.newMeta(typeHash)
	}
	if _, err := t.hashSet(&m, args[2], args[3]); err != nil {
		return err
	}
	if err := t.putMeta(args[1], &m); err != nil {
		return err
	}
	w.int(1)
	return nil
}

func hgetCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeHash)
	if err != nil {
		return err
	}
	if !ok {
		w.null()
		return nil
	}
	v, exists, err := t.hashGet(&m, args[2])
	if err != nil {
		return err
	}
	if !exists {
		w.null()
		return nil
	}
	w.bulk(v)
	return nil
}

func hmgetCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeHash)
	if err != nil {
		return err
	}
	mark := len(w.b)
	w.array(len(args) - 2)
	for _, f := range args[2:] {
		if !ok {
			w.null()
			continue
		}
		v, exists, err := t.hashGet(&m, f)
		if err != nil {
			w.b = w.b[:mark]
			return err
		}
		if exists {
			w.bulk(v)
		} else {
			w.null()
		}
	}
	return nil
}

// hgetallCmd serves HGETALL, HKEYS and HVALS, in insertion order as Redis
// gives it for listpack-encoded hashes.
func hgetallCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeHash)
	if err != nil {
		return err
	}
	keys, vals := true, true
	switch {
	case eqFold(args[0], "hkeys"):
		vals = false
	case eqFold(args[0], "hvals"):
		keys = false
	}
	if !ok {
		if keys && vals {
			w.mapHeader(0)
		} else {
			w.array(0)
		}
		return nil
	}
	fields, err := t.hashAll(&m)
	if err != nil {
		return err
	}
	if keys && vals {
		w.mapHeader(len(fields))
	} else {
		w.array(len(fields))
	}
	for _, f := range fields {
		if keys {
			w.bulk(f.member)
		}
		if vals {
			w.bulk(f.value)
		}
	}
	return nil
}

func hdelCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeHash)
	if err != nil {
		return err
	}
	if !ok {
		w.int(0)
		return nil
	}
	var deleted int64
	for _, f := range args[2:] {
		_, exists, err := t.getElem(m.gen, f)
		if err != nil {
			return err
		}
		if exists {
			if err := t.delElem(m.gen, f); err != nil {
				return err
			}
			deleted++
		}
	}
	if deleted > 0 {
		m.count -= deleted
		if m.count <= 0 {
			_, err = t.deleteKey(args[1])
		} else {
			err = t.putMeta(args[1], &m)
		}
		if err != nil {
			return err
		}
	}
	w.int(deleted)
	return nil
}

func hexistsCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeHash)
	if err != nil {
		return err
	}
	exists := false
	if ok {
		if _, exists, err = t.hashGet(&m, args[2]); err != nil {
			return err
		}
	}
	w.int(b2i(exists))
	return nil
}

func hlenCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeHash)
	if err != nil {
		return err
	}
	if !ok {
		w.int(0)
		return nil
	}
	w.int(m.count)
	return nil
}

func hstrlenCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeHash)
	if err != nil {
		return err
	}
	var n int
	if ok {
		v, _, err := t.hashGet(&m, args[2])
		if err != nil {
			return err
		}
		n = len(v)
	}
	w.int(int64(n))
	return nil
}

func hincrbyCmd(t *tx, w *writer, args [][]byte) error {
	incr, err := argInt(args[3])
	if err != nil {
		return err
	}
	m, ok, err := t.lookupType(args[1], typeHash)
	if err != nil {
		return err
	}
	var cur int64
	if ok {
		v, exists, err := t.hashGet(&m, args[2])
		if err != nil {
			return err
		}
		if exists {
			if cur, ok = parseInt(v); !ok {
				return errHashNotInt
			}
		}
		ok = true
	} else {
		m = t.newMeta(typeHash)
	}
	if (incr < 0 && cur < 0 && incr < minInt64-cur) || (incr > 0 && cur > 0 && incr > maxInt64-cur) {
		return errOverflow
	}
	cur += incr
	if err := hsetOne(t, &m, args[1], args[2], strconv.AppendInt(nil, cur, 10)); err != nil {
		return err
	}
	w.int(cur)
	return nil
}

func hincrbyfloatCmd(t *tx, w *writer, args [][]byte) error {
	incr, incrInf, ok := parseLongDouble(args[3])
	if !ok {
		return errNotFloat
	}
	if incrInf {
		return replyErr("ERR value is NaN or Infinity")
	}
	m, ok, err := t.lookupType(args[1], typeHash)
	if err != nil {
		return err
	}
	cur, curInf := newLongDouble(), false
	if ok {
		v, exists, err := t.hashGet(&m, args[2])
		if err != nil {
			return err
		}
		if exists {
			var vok bool
			if cur, curInf, vok = parseLongDouble(v); !vok {
				return errHashNotFloat
			}
		}
	} else {
		m = t.newMeta(typeHash)
	}
	if curInf {
		return errNaNInf
	}
	s, ok := addLongDouble(cur, incr)
	if !ok {
		return errNaNInf
	}
	if err := hsetOne(t, &m, args[1], args[2], []byte(s)); err != nil {
		return err
	}
	w.bulkString(s)
	return nil
}

// hsetOne sets one field of the hash m (existing or new) and writes its meta.
func hsetOne(t *tx, m *meta, key, field, value []byte) error {
	if _, err := t.hashSet(m, field, value); err != nil {
		return err
	}
	return t.putMeta(key, m)
}

// Hash fields are stored as 'e' gen field -> seq(8) value, where seq is the
// field's insertion number (from the counter kept in the meta payload), so
// HGETALL/HKEYS/HVALS/HSCAN can list fields in insertion order as Redis
// does for small (listpack) hashes. Overwriting a field keeps its seq.
const hashSeqLen = 8

// hashNextSeq returns the next insertion number of hash m.
func hashNextSeq(m *meta) uint64 {
	if len(m.payload) != hashSeqLen {
		return 0
	}
	return binary.BigEndian.Uint64(m.payload)
}

// hashGet returns the value of field in hash m.
func (t *tx) hashGet(m *meta, field []byte) ([]byte, bool, error) {
	v, ok, err := t.getElem(m.gen, field)
	if !ok || err != nil {
		return nil, false, err
	}
	if len(v) < hashSeqLen {
		return nil, false, fmt.Errorf("%w: hash field %q", ErrCorrupt, field)
	}
	return v[hashSeqLen:], true, nil
}

// hashSet sets field of hash m to value, keeping the insertion number of
// an existing field; for a new field it bumps m.count and the counter in
// m.payload. The caller writes m with putMeta.
func (t *tx) hashSet(m *meta, field, value []byte) (bool, error) {
	old, exists, err := t.getElem(m.gen, field)
	if err != nil {
		return false, err
	}
	var seq uint64
	if exists && len(old) >= hashSeqLen {
		seq = binary.BigEndian.Uint64(old)
	} else {
		seq = hashNextSeq(m)
		m.payload = binary.BigEndian.AppendUint64(make([]byte, 0, hashSeqLen), seq+1)
		m.count++
		exists = false
	}
	t.ebuf = append(binary.BigEndian.AppendUint64(t.ebuf[:0], seq), value...)
	return !exists, t.setElem(m.gen, field, t.ebuf)
}

// hashAll returns every field of hash m with its value, in insertion order.
func (t *tx) hashAll(m *meta) ([]elem, error) {
	type seqElem struct {
		seq uint64
		elem
	}
	list := make([]seqElem, 0, min(m.count, 1<<16))
	it, err := t.elemIter(m.gen)
	if err != nil {
		return nil, err
	}
	for valid := it.First(); valid; valid = it.Next() {
		_, f, _ := decodeElemKey(it.Key())
		v, err := it.ValueAndErr()
		if err != nil || len(v) < hashSeqLen {
			_ = it.Close()
			if err == nil {
				err = fmt.Errorf("%w: hash field %q", ErrCorrupt, f)
			}
			return nil, err
		}
		list = append(list, seqElem{binary.BigEndian.Uint64(v), elem{t.copyOut(f), t.copyOut(v[hashSeqLen:])}})
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	if int64(len(list)) != m.count {
		return nil, errCountMismatch(nil, m.count, int64(len(list)))
	}
	sort.Slice(list, func(i, j int) bool { return list[i].seq < list[j].seq })
	out := make([]elem, len(list))
	for i := range list {
		out[i] = list[i].elem
	}
	return out, nil
}

func hrandfieldCmd(t *tx, w *writer, args [][]byte) error {
	if len(args) == 2 {
		m, ok, err := t.lookupType(args[1], typeHash)
		if err != nil {
			return err
		}
		if !ok {
			w.null()
			return nil
		}
		f, err := t.hashRandom(&m, 1, true)
		if err != nil {
			return err
		}
		w.bulk(f[0].member)
		return nil
	}
	withValues := false
	if len(args) == 4 {
		if !eqFold(args[3], "withvalues") {
			return errSyntax
		}
		withValues = true
	} else if len(args) > 4 {
		return errSyntax
	}
	count, err := argInt(args[2])
	if err != nil {
		return err
	}
	if count == minInt64 {
		return replyErr("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
	}
	m, ok, err := t.lookupType(args[1], typeHash)
	if err != nil {
		return err
	}
	if !ok || count == 0 {
		w.array(0)
		return nil
	}
	unique := count > 0
	if !unique {
		count = -count
	}
	elems, err := t.hashRandom(&m, count, unique)
	if err != nil {
		return err
	}
	if withValues && w.proto == 3 {
		w.array(len(elems))
		for _, e := range elems {
			w.array(2)
			w.bulk(e.member)
			w.bulk(e.value)
		}
		return nil
	}
	if withValues {
		w.array(2 * len(elems))
	} else {
		w.array(len(elems))
	}
	for _, e := range elems {
		w.bulk(e.member)
		if withValues {
			w.bulk(e.value)
		}
	}
	return nil
}

// hashRandom picks count fields of hash m, distinct when unique.
func (t *tx) hashRandom(m *meta, count int64, unique bool) ([]elem, error) {
	all, err := t.hashAll(m)
	if err != nil {
		return nil, err
	}
	if !unique {
		if err := checkRepeatReply(all, count); err != nil {
			return nil, err
		}
	}
	return pickRandom(all, count, unique), nil
}

// maxRepeatReply bounds the reply a negative-count random pick (HRANDFIELD
// h -N) may build. Redis streams such replies into the client's output
// buffer; the engine builds them in memory, so a request for billions of
// elements is refused instead of exhausting memory (the proxy's
// client_output_buffer limit would drop such a client anyway).
const maxRepeatReply = 256 << 20

// errReplyTooLarge is the reply when a pick would exceed maxRepeatReply.
const errReplyTooLarge replyErr = "ERR disk store: reply too large"

// checkRepeatReply refuses to pick count elements with repetition from all
// when the reply would exceed maxRepeatReply bytes.
func checkRepeatReply(all []elem, count int64) error {
	var total int64
	for _, e := range all {
		total += int64(len(e.member)+len(e.value)) + 32
	}
	avg := total / int64(max(len(all), 1))
	if count > maxRepeatReply/max(avg, 1) {
		return errReplyTooLarge
	}
	return nil
}

// pickRandom picks count of all: distinct ones (at most len(all)) when
// unique, else with repetition. all must not be empty.
func pickRandom(all []elem, count int64, unique bool) []elem {
	if unique {
		rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		if int64(len(all)) > count {
			all = all[:count]
		}
		return all
	}
	out := make([]elem, count)
	for i := range out {
		out[i] = all[rand.IntN(len(all))]
	}
	return out
}

// elem is a member and its value, copied into the tx arena.
type elem struct{ member, value []byte }

// hscanCmd is HSCAN key cursor [MATCH pattern] [COUNT count]. A hash of up
// to scanAllMax fields is answered in one reply with cursor 0 in insertion
// order, as Redis does for a listpack hash; a bigger one in pages (scan.go).
// As in Redis, the options are not looked at when the key does not exist.
func hscanCmd(t *tx, w *writer, args [][]byte) error {
	cursor, ok := parseCursor(args[2])
	if !ok {
		return errInvalidCursor
	}
	m, ok, err := t.lookupType(args[1], typeHash)
	if err != nil {
		return err
	}
	if !ok {
		writeScanPage(w, 0, nil)
		return nil
	}
	opts, err := parseScanOpts(args[3:], false)
	if err != nil {
		return err
	}
	var items [][]byte
	if scanPaged(&m) {
		next, err := t.scanElems(&m, cursor, opts, func(field, v []byte) error {
			if len(v) < hashSeqLen {
				return fmt.Errorf("%w: hash field %q", ErrCorrupt, field)
			}
			items = append(items, field, v[hashSeqLen:])
			return nil
		})
		if err != nil {
			return err
		}
		writeScanPage(w, next, items)
		return nil
	}
	fields, err := t.hashAll(&m)
	if err != nil {
		return err
	}
	for _, f := range fields {
		if opts.match == nil || globMatch(opts.match, f.member, false) {
			items = append(items, f.member, f.value)
		}
	}
	writeScanPage(w, 0, items)
	return nil
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
