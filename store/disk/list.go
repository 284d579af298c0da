package disk

import (
	"bytes"

	"github.com/cockroachdb/pebble/v2"
)

// Lists.
//
// A list is a run of element records 'e' gen idx(i) -> item for i in
// [head, tail), where idx is appendListIndex (sign-flipped big-endian, so
// records sort by i even below zero). The meta payload holds head and tail;
// count = tail - head. LPUSH writes at head-1, RPUSH at tail, so pushes and
// pops at either end, LINDEX and LSET are one point read or write whatever
// the length. LINSERT shifts the shorter side of the list and LREM
// compacts it from the first removed item on (O(N), as in Redis); LTRIM and
// counted pops delete runs of items (with one range tombstone when the run
// is long, see rangeDelMin). LMPOP pops like LPOP/RPOP with a count from the
// first non-empty list.

func init() {
	register(
		&command{name: "lpush", arity: -3, flags: flagWrite, first: 1, last: 1, fn: lpushCmd},
		&command{name: "rpush", arity: -3, flags: flagWrite, first: 1, last: 1, fn: lpushCmd},
		&command{name: "lpushx", arity: -3, flags: flagWrite, first: 1, last: 1, fn: lpushCmd},
		&command{name: "rpushx", arity: -3, flags: flagWrite, first: 1, last: 1, fn: lpushCmd},
		&command{name: "lpop", arity: -2, flags: flagWrite, first: 1, last: 1, fn: lpopCmd},
		&command{name: "rpop", arity: -2, flags: flagWrite, first: 1, last: 1, fn: lpopCmd},
		&command{name: "llen", arity: 2, first: 1, last: 1, fn: llenCmd},
		&command{name: "lindex", arity: 3, first: 1, last: 1, fn: lindexCmd},
		&command{name: "lset", arity: 4, flags: flagWrite, first: 1, last: 1, fn: lsetCmd},
		&command{name: "linsert", arity: 5, flags: flagWrite, first: 1, last: 1, fn: linsertCmd},
		&command{name: "lrem", arity: 4, flags: flagWrite, first: 1, last: 1, fn: lremCmd},
		&command{name: "ltrim", arity: 4, flags: flagWrite, first: 1, last: 1, fn: ltrimCmd},
		&command{name: "lrange", arity: 4, first: 1, last: 1, fn: lrangeCmd},
		&command{name: "lpos", arity: -3, first: 1, last: 1, fn: lposCmd},
		&command{name: "lmove", arity: 5, flags: flagWrite, first: 1, last: 2, fn: lmoveCmd},
		&command{name: "rpoplpush", arity: 3, flags: flagWrite, first: 1, last: 2, fn: lmoveCmd},
		&command{name: "lmpop", arity: -4, flags: flagWrite, keys: mpopKeys, fn: lmpopCmd},
	)
}

// Error replies of list commands, word for word as redis-server 7.0.15.
const (
	errIndexRange  replyErr = "ERR index out of range"
	errRankZero    replyErr = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"
	errCountNeg    replyErr = "ERR COUNT can't be negative"
	errMaxlenNeg   replyErr = "ERR MAXLEN can't be negative"
	errRangeSigned replyErr = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
	errNumkeysGT0  replyErr = "ERR numkeys should be greater than 0"
	errCountGT0    replyErr = "ERR count should be greater than 0"
)

// argNonNeg parses a count that must be >= 0 (Redis's
// getPositiveLongFromObjectOrReply): a non-integer and a negative value both
// give msg.
func argNonNeg(p []byte, msg replyErr) (int64, error) {
	v, ok := parseInt(p)
	if !ok || v < 0 {
		return 0, msg
	}
	return v, nil
}

// list is a list key being read or changed by one command.
type list struct {
	m          meta
	head, tail int64 // items are at [head, tail)
}

// listLoad returns the list at key; ok is false when the key is absent.
func (t *tx) listLoad(key []byte) (l list, ok bool, err error) {
	m, ok, err := t.lookupType(key, typeList)
	if !ok || err != nil {
		return list{}, false, err
	}
	head, tail, valid := decodeListPayload(m.payload)
	if !valid || tail-head != m.count {
		return list{}, false, errCountMismatch(key, m.count, tail-head)
	}
	return list{m: m, head: head, tail: tail}, true, nil
}

// newList returns an empty list with a fresh generation.
func (t *tx) newList() list { return list{m: t.newMeta(typeList)} }

func (l *list) len() int64 { return l.tail - l.head }

// listItemKey returns the element member (index) of absolute position i.
func listItemKey(buf *[8]byte, i int64) []byte { return appendListIndex(buf[:0], i) }

// item returns the item at absolute position i (head <= i < tail).
func (t *tx) listItem(l *list, i int64) ([]byte, error) {
	var kb [8]byte
	v, ok, err := t.getElem(l.m.gen, listItemKey(&kb, i))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errCountMismatch(nil, l.m.count, i-l.head)
	}
	return v, nil
}

// setItem writes the item at absolute position i.
func (t *tx) listSetItem(l *list, i int64, v []byte) error {
	var kb [8]byte
	return t.setElem(l.m.gen, listItemKey(&kb, i), v)
}

// rangeDelMin is the number of adjacent records from which list and zset
// code deletes with one range tombstone instead of point deletes: many
// range tombstones in the memtable slow down every read that meets them,
// while a point delete per record is cheap for short runs.
const rangeDelMin = 64

// listDelItems deletes the items at absolute positions [from, to).
func (t *tx) listDelItems(l *list, from, to int64) error {
	if from >= to {
		return nil
	}
	if to-from < rangeDelMin {
		var kb [8]byte
		for i := from; i < to; i++ {
			if err := t.delElem(l.m.gen, listItemKey(&kb, i)); err != nil {
				return err
			}
		}
		return nil
	}
	var kb [8]byte
	lo := appendElemKey(nil, l.m.gen, listItemKey(&kb, from))
	hi := appendElemKey(nil, l.m.gen, listItemKey(&kb, to))
	return t.b.DeleteRange(lo, hi, nil)
}

// listSave writes l's meta after a change, or deletes the key when the list
// became empty (Redis never keeps an empty list).
func (t *tx) listSave(key []byte, l *list) error {
	if l.len() == 0 {
		_, err := t.deleteKey(key)
		return err
	}
	l.m.count = l.len()
	l.m.payload = appendListPayload(make([]byte, 0, 16), l.head, l.tail)
	return t.putMeta(key, &l.m)
}

// listIter iterates items at absolute positions [from, to) in order.
func (t *tx) listIter(l *list, from, to int64) (*pebble.Iterator, error) {
	var kb [8]byte
	lo := appendElemKey(nil, l.m.gen, listItemKey(&kb, from))
	hi := appendElemKey(nil, l.m.gen, listItemKey(&kb, to))
	return t.iter(lo, hi)
}

// listPush adds v at the head (left) or the tail.
func (t *tx) listPush(l *list, v []byte, left bool) error {
	if left {
		l.head--
		return t.listSetItem(l, l.head, v)
	}
	l.tail++
	return t.listSetItem(l, l.tail-1, v)
}

// listPop removes and returns the head (left) or tail item; l is not empty.
func (t *tx) listPop(l *list, left bool) ([]byte, error) {
	i := l.tail - 1
	if left {
		i = l.head
	}
	v, err := t.listItem(l, i)
	if err != nil {
		return nil, err
	}
	if err := t.listDelItems(l, i, i+1); err != nil {
		return nil, err
	}
	if left {
		l.head++
	} else {
		l.tail--
	}
	return v, nil
}

// lpushCmd is LPUSH, RPUSH, LPUSHX and RPUSHX key element [element ...].
func lpushCmd(t *tx, w *writer, args [][]byte) error {
	left := args[0][0]|0x20 == 'l'
	onlyExisting := len(args[0]) == 6 // lpushx / rpushx
	key := args[1]
	l, ok, err := t.listLoad(key)
	if err != nil {
		return err
	}
	if !ok {
		if onlyExisting {
			w.int(0)
			return nil
		}
		l = t.newList()
	}
	for _, v := range args[2:] {
		if err := t.listPush(&l, v, left); err != nil {
			return err
		}
	}
	if err := t.listSave(key, &l); err != nil {
		return err
	}
	w.int(l.len())
	return nil
}

// lpopCmd is LPOP and RPOP key [count].
func lpopCmd(t *tx, w *writer, args [][]byte) error {
	if len(args) > 3 {
		return arityErr(string(lower(args[0])))
	}
	left := args[0][0]|0x20 == 'l'
	hasCount := len(args) == 3
	var count int64
	if hasCount {
		var err error
		if count, err = argNonNeg(args[2], errNotNegative); err != nil {
			return err
		}
	}
	l, ok, err := t.listLoad(args[1])
	if err != nil {
		return err
	}
	if !ok {
		if hasCount {
			w.nullArray()
		} else {
			w.null()
		}
		return nil
	}
	if !hasCount {
		v, err := t.listPop(&l, left)
		if err != nil {
			return err
		}
		if err := t.listSave(args[1], &l); err != nil {
			return err
		}
		w.bulk(v)
		return nil
	}
	if count == 0 {
		w.array(0)
		return nil
	}
	n := min(count, l.len())
	// Read the popped items in pop order, then cut them with one range
	// tombstone.
	var from, to int64
	if left {
		from, to = l.head, l.head+n
	} else {
		from, to = l.tail-n, l.tail
	}
	items, err := t.listRead(&l, from, to)
	if err != nil {
		return err
	}
	if err := t.listDelItems(&l, from, to); err != nil {
		return err
	}
	if left {
		l.head += n
	} else {
		l.tail -= n
	}
	if err := t.listSave(args[1], &l); err != nil {
		return err
	}
	w.array(len(items))
	if left {
		for _, v := range items {
			w.bulk(v)
		}
	} else {
		for i := len(items) - 1; i >= 0; i-- {
			w.bulk(items[i])
		}
	}
	return nil
}

// listRead returns copies of the items at absolute positions [from, to).
func (t *tx) listRead(l *list, from, to int64) ([][]byte, error) {
	if from >= to {
		return nil, nil
	}
	it, err := t.listIter(l, from, to)
	if err != nil {
		return nil, err
	}
	items := make([][]byte, 0, min(to-from, 1<<16))
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return nil, err
		}
		items = append(items, t.copyOut(v))
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	if int64(len(items)) != to-from {
		return nil, errCountMismatch(nil, to-from, int64(len(items)))
	}
	return items, nil
}

func llenCmd(t *tx, w *writer, args [][]byte) error {
	l, _, err := t.listLoad(args[1])
	if err != nil {
		return err
	}
	w.int(l.len())
	return nil
}

func lindexCmd(t *tx, w *writer, args [][]byte) error {
	l, ok, err := t.listLoad(args[1])
	if err != nil {
		return err
	}
	if !ok {
		w.null()
		return nil
	}
	idx, err := argInt(args[2])
	if err != nil {
		return err
	}
	if idx < 0 {
		idx += l.len()
	}
	if idx < 0 || idx >= l.len() {
		w.null()
		return nil
	}
	v, err := t.listItem(&l, l.head+idx)
	if err != nil {
		return err
	}
	w.bulk(v)
	return nil
}

func lsetCmd(t *tx, w *writer, args [][]byte) error {
	l, ok, err := t.listLoad(args[1])
	if err != nil {
		return err
	}
	if !ok {
		return errNoKey
	}
	idx, err := argInt(args[2])
	if err != nil {
		return err
	}
	if idx < 0 {
		idx += l.len()
	}
	if idx < 0 || idx >= l.len() {
		return errIndexRange
	}
	if err := t.listSetItem(&l, l.head+idx, args[3]); err != nil {
		return err
	}
	if err := t.putMeta(args[1], &l.m); err != nil {
		return err
	}
	w.ok()
	return nil
}

// listFind returns the absolute position of the first item equal to v,
// searching from the head, or ok=false.
func (t *tx) listFind(l *list, v []byte) (int64, bool, error) {
	it, err := t.listIter(l, l.head, l.tail)
	if err != nil {
		return 0, false, err
	}
	i := l.head
	for valid := it.First(); valid; valid = it.Next() {
		cur, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return 0, false, err
		}
		if bytes.Equal(cur, v) {
			return i, true, it.Close()
		}
		i++
	}
	return 0, false, it.Close()
}

// listInsertAt inserts v so that it ends up at absolute position pos
// (head <= pos <= tail), shifting the shorter side by one.
func (t *tx) listInsertAt(l *list, pos int64, v []byte) error {
	if pos-l.head < l.tail-pos {
		// Shift [head, pos) one to the left.
		items, err := t.listRead(l, l.head, pos)
		if err != nil {
			return err
		}
		for k, it := range items {
			if err := t.listSetItem(l, l.head-1+int64(k), it); err != nil {
				return err
			}
		}
		l.head--
		return t.listSetItem(l, pos-1, v)
	}
	// Shift [pos, tail) one to the right.
	items, err := t.listRead(l, pos, l.tail)
	if err != nil {
		return err
	}
	for k, it := range items {
		if err := t.listSetItem(l, pos+1+int64(k), it); err != nil {
			return err
		}
	}
	l.tail++
	return t.listSetItem(l, pos, v)
}

func linsertCmd(t *tx, w *writer, args [][]byte) error {
	var after bool
	switch {
	case eqFold(args[2], "after"):
		after = true
	case eqFold(args[2], "before"):
	default:
		return errSyntax
	}
	l, ok, err := t.listLoad(args[1])
	if err != nil {
		return err
	}
	if !ok {
		w.int(0)
		return nil
	}
	pos, found, err := t.listFind(&l, args[3])
	if err != nil {
		return err
	}
	if !found {
		w.int(-1)
		return nil
	}
	if after {
		pos++
	}
	if err := t.listInsertAt(&l, pos, args[4]); err != nil {
		return err
	}
	if err := t.listSave(args[1], &l); err != nil {
		return err
	}
	w.int(l.len())
	return nil
}

// lremCmd is LREM key count element: count > 0 removes the first count
// matches from the head, < 0 from the tail, 0 all of them.
func lremCmd(t *tx, w *writer, args [][]byte) error {
	count, err := argInt(args[2])
	if err != nil {
		return err
	}
	l, ok, err := t.listLoad(args[1])
	if err != nil {
		return err
	}
	if !ok {
		w.int(0)
		return nil
	}
	items, err := t.listRead(&l, l.head, l.tail)
	if err != nil {
		return err
	}
	n := int64(len(items))
	drop := make([]bool, n)
	var removed int64
	limit := count
	if limit < 0 {
		limit = -limit // -MinInt64 stays negative: no limit, as in Redis
	}
	if count >= 0 {
		for i := int64(0); i < n && (count == 0 || removed < limit); i++ {
			if bytes.Equal(items[i], args[3]) {
				drop[i] = true
				removed++
			}
		}
	} else {
		for i := n - 1; i >= 0 && (limit < 0 || removed < limit); i-- {
			if bytes.Equal(items[i], args[3]) {
				drop[i] = true
				removed++
			}
		}
	}
	if removed == 0 {
		w.int(0)
		return nil
	}
	// Compact towards the head from the first removed item on; the items
	// before it keep their positions.
	first := int64(0)
	for !drop[first] {
		first++
	}
	dst := first
	for i := first; i < n; i++ {
		if drop[i] {
			continue
		}
		if err := t.listSetItem(&l, l.head+dst, items[i]); err != nil {
			return err
		}
		dst++
	}
	if err := t.listDelItems(&l, l.head+dst, l.tail); err != nil {
		return err
	}
	l.tail = l.head + dst
	if err := t.listSave(args[1], &l); err != nil {
		return err
	}
	w.int(removed)
	return nil
}

// listRange normalizes Redis start/end indexes (negative from the end) for a
// list of n items; ok is false when the range is empty.
func listRange(start, end, n int64) (int64, int64, bool) {
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	if start < 0 {
		start = 0
	}
	if start > end || start >= n {
		return 0, 0, false
	}
	if end >= n {
		end = n - 1
	}
	return start, end, true
}

func ltrimCmd(t *tx, w *writer, args [][]byte) error {
	start, err := argInt(args[2])
	if err != nil {
		return err
	}
	end, err := argInt(args[3])
	if err != nil {
		return err
	}
	l, ok, err := t.listLoad(args[1])
	if err != nil {
		return err
	}
	if !ok {
		w.ok()
		return nil
	}
	s, e, nonEmpty := listRange(start, end, l.len())
	if !nonEmpty {
		s, e = l.len(), l.len()-1 // remove everything
	}
	if err := t.listDelItems(&l, l.head, l.head+s); err != nil {
		return err
	}
	if err := t.listDelItems(&l, l.head+e+1, l.tail); err != nil {
		return err
	}
	l.head, l.tail = l.head+s, l.head+e+1
	if l.tail < l.head {
		l.tail = l.head
	}
	if err := t.listSave(args[1], &l); err != nil {
		return err
	}
	w.ok()
	return nil
}

func lrangeCmd(t *tx, w *writer, args [][]byte) error {
	start, err := argInt(args[2])
	if err != nil {
		return err
	}
	end, err := argInt(args[3])
	if err != nil {
		return err
	}
	l, ok, err := t.listLoad(args[1])
	if err != nil {
		return err
	}
	if !ok {
		w.array(0)
		return nil
	}
	s, e, nonEmpty := listRange(start, end, l.len())
	if !nonEmpty {
		w.array(0)
		return nil
	}
	it, err := t.listIter(&l, l.head+s, l.head+e+1)
	if err != nil {
		return err
	}
	mark := len(w.b)
	w.array(int(e - s + 1))
	n := int64(0)
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			w.b = w.b[:mark]
			return err
		}
		w.bulk(v)
		n++
	}
	if err := it.Close(); err != nil {
		w.b = w.b[:mark]
		return err
	}
	if n != e-s+1 {
		w.b = w.b[:mark]
		return errCountMismatch(args[1], e-s+1, n)
	}
	return nil
}

// lposCmd is LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len].
func lposCmd(t *tx, w *writer, args [][]byte) error {
	rank, count, maxlen := int64(1), int64(-1), int64(0)
	for j := 3; j < len(args); j++ {
		more := j+1 < len(args)
		switch {
		case eqFold(args[j], "rank") && more:
			j++
			r, err := argInt(args[j])
			if err != nil {
				return err
			}
			if r == 0 {
				return errRankZero
			}
			rank = r
		case eqFold(args[j], "count") && more:
			j++
			c, err := argNonNeg(args[j], errCountNeg)
			if err != nil {
				return err
			}
			count = c
		case eqFold(args[j], "maxlen") && more:
			j++
			m, err := argNonNeg(args[j], errMaxlenNeg)
			if err != nil {
				return err
			}
			maxlen = m
		default:
			return errSyntax
		}
	}
	fromTail := false
	if rank < 0 {
		// -MinInt64 wraps to MinInt64 as in Redis's C: every match then
		// qualifies, counted from the tail.
		rank = -rank
		fromTail = true
	}
	l, ok, err := t.listLoad(args[1])
	if err != nil {
		return err
	}
	if !ok {
		if count != -1 {
			w.array(0)
		} else {
			w.null()
		}
		return nil
	}
	it, err := t.listIter(&l, l.head, l.tail)
	if err != nil {
		return err
	}
	var found []int64
	var matches, index int64
	valid := it.First()
	if fromTail {
		valid = it.Last()
	}
	for valid && (maxlen == 0 || index < maxlen) {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return err
		}
		if bytes.Equal(v, args[2]) {
			matches++
			if matches >= rank {
				pos := index
				if fromTail {
					pos = l.len() - index - 1
				}
				found = append(found, pos)
				if count == -1 || (count != 0 && matches-rank+1 >= count) {
					break
				}
			}
		}
		index++
		if fromTail {
			valid = it.Prev()
		} else {
			valid = it.Next()
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	if count == -1 {
		if len(found) == 0 {
			w.null()
		} else {
			w.int(found[0])
		}
		return nil
	}
	w.array(len(found))
	for _, p := range found {
		w.int(p)
	}
	return nil
}

// parseWhere parses LEFT or RIGHT; left reports LEFT.
func parseWhere(p []byte) (left bool, err error) {
	switch {
	case eqFold(p, "left"):
		return true, nil
	case eqFold(p, "right"):
		return false, nil
	}
	return false, errSyntax
}

// lmoveCmd is LMOVE source destination LEFT|RIGHT LEFT|RIGHT and
// RPOPLPUSH source destination (= LMOVE source destination RIGHT LEFT).
func lmoveCmd(t *tx, w *writer, args [][]byte) error {
	fromLeft, toLeft := false, true
	if len(args) == 5 {
		var err error
		if fromLeft, err = parseWhere(args[3]); err != nil {
			return err
		}
		if toLeft, err = parseWhere(args[4]); err != nil {
			return err
		}
	}
	src, dstKey := args[1], args[2]
	sl, ok, err := t.listLoad(src)
	if err != nil {
		return err
	}
	if !ok {
		w.null()
		return nil
	}
	same := bytes.Equal(src, dstKey)
	var dl list
	if !same {
		var dok bool
		if dl, dok, err = t.listLoad(dstKey); err != nil {
			return err
		}
		if !dok {
			dl = t.newList()
		}
	}
	v, err := t.listPop(&sl, fromLeft)
	if err != nil {
		return err
	}
	if same {
		// A rotation: the list never becomes empty in between.
		if err := t.listPush(&sl, v, toLeft); err != nil {
			return err
		}
		if err := t.listSave(src, &sl); err != nil {
			return err
		}
		w.bulk(v)
		return nil
	}
	if err := t.listPush(&dl, v, toLeft); err != nil {
		return err
	}
	if err := t.listSave(src, &sl); err != nil {
		return err
	}
	if err := t.listSave(dstKey, &dl); err != nil {
		return err
	}
	w.bulk(v)
	return nil
}

// mpopKeys returns the keys of LMPOP/ZMPOP numkeys key [key ...] ..., or
// none when numkeys is invalid (the handler replies with the error).
func mpopKeys(args [][]byte) [][]byte {
	n, ok := parseInt(args[1])
	if !ok || n < 1 || n > int64(len(args)-2) {
		return nil
	}
	return args[2 : 2+n]
}

// parseMpop parses numkeys key [key ...] WHERE [COUNT count] of LMPOP and
// ZMPOP as Redis's [lz]mpopGenericCommand does; where validates and
// decodes the WHERE word.
func parseMpop(args [][]byte, where func([]byte) (bool, error)) (keys [][]byte, first bool, count int64, err error) {
	n, ok := parseInt(args[1])
	if !ok || n < 1 {
		return nil, false, 0, errNumkeysGT0
	}
	// The WHERE word follows the keys; compared without computing 2+n,
	// which could overflow.
	if n > int64(len(args))-3 {
		return nil, false, 0, errSyntax
	}
	wi := 2 + n
	if first, err = where(args[wi]); err != nil {
		return nil, false, 0, err
	}
	count = -1
	for j := int(wi) + 1; j < len(args); j++ {
		if count == -1 && eqFold(args[j], "count") && j+1 < len(args) {
			j++
			c, ok := parseInt(args[j])
			if !ok || c < 1 {
				return nil, false, 0, errCountGT0
			}
			count = c
			continue
		}
		return nil, false, 0, errSyntax
	}
	if count == -1 {
		count = 1
	}
	return args[2:wi], first, count, nil
}

// lmpopCmd is LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: pops
// from the first non-empty list, replying [key, [items]].
func lmpopCmd(t *tx, w *writer, args [][]byte) error {
	keys, left, count, err := parseMpop(args, parseWhere)
	if err != nil {
		return err
	}
	for _, key := range keys {
		l, ok, err := t.listLoad(key)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		n := min(count, l.len())
		var from, to int64
		if left {
			from, to = l.head, l.head+n
		} else {
			from, to = l.tail-n, l.tail
		}
		items, err := t.listRead(&l, from, to)
		if err != nil {
			return err
		}
		if err := t.listDelItems(&l, from, to); err != nil {
			return err
		}
		if left {
			l.head += n
		} else {
			l.tail -= n
		}
		if err := t.listSave(key, &l); err != nil {
			return err
		}
		w.array(2)
		w.bulk(key)
		w.array(len(items))
		if left {
			for _, v := range items {
				w.bulk(v)
			}
		} else {
			for i := len(items) - 1; i >= 0; i-- {
				w.bulk(items[i])
			}
		}
		return nil
	}
	w.nullArray()
	return nil
}
