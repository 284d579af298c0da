package disk

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
)

// Sets.
//
// A set is its members as element records 'e' gen member -> empty, so
// SISMEMBER, SADD and SREM are point operations and members come back in
// byte order (SMEMBERS, SINTER, ...). Redis's order is its encoding's: an
// intset is in numeric order, a hashtable in hash order; the differential
// tests compare these replies as sets.
//
// One exception keeps the common case of integer sets (ids) byte-identical
// to Redis: a reply holding at most setMaxIntsetEntries members that are all
// integers comes in numeric order, which is what Redis's intset encoding
// (and a STORE/UNION result built as an intset) gives. See intsetOrder.
//
// Random members (SPOP, SRANDMEMBER) of a set of at most setRandomScanMax
// members are drawn uniformly from a full read. Larger sets are sampled by
// seeking to a uniformly random point of the key span between the first and
// the last member, which costs a seek instead of reading the set but is
// only as uniform as the members are spread over that span.
//
// SSCAN returns every matching member of a set of up to 512 members in one
// reply with cursor 0, as Redis does for a set in intset encoding; a bigger
// set is scanned COUNT members at a time with a real cursor (scan.go).

func init() {
	register(
		&command{name: "sadd", arity: -3, flags: flagWrite, first: 1, last: 1, fn: saddCmd},
		&command{name: "srem", arity: -3, flags: flagWrite, first: 1, last: 1, fn: sremCmd},
		&command{name: "smembers", arity: 2, first: 1, last: 1, fn: smembersCmd},
		&command{name: "sismember", arity: 3, first: 1, last: 1, fn: sismemberCmd},
		&command{name: "smismember", arity: -3, first: 1, last: 1, fn: smismemberCmd},
		&command{name: "scard", arity: 2, first: 1, last: 1, fn: scardCmd},
		&command{name: "spop", arity: -2, flags: flagWrite, first: 1, last: 1, fn: spopCmd},
		&command{name: "srandmember", arity: -2, first: 1, last: 1, fn: srandmemberCmd},
		&command{name: "sinter", arity: -2, first: 1, last: -1, fn: ssetopCmd},
		&command{name: "sunion", arity: -2, first: 1, last: -1, fn: ssetopCmd},
		&command{name: "sdiff", arity: -2, first: 1, last: -1, fn: ssetopCmd},
		&command{name: "sinterstore", arity: -3, flags: flagWrite, first: 1, last: -1, fn: ssetopCmd},
		&command{name: "sunionstore", arity: -3, flags: flagWrite, first: 1, last: -1, fn: ssetopCmd},
		&command{name: "sdiffstore", arity: -3, flags: flagWrite, first: 1, last: -1, fn: ssetopCmd},
		&command{name: "sintercard", arity: -3, keys: sintercardKeys, fn: sintercardCmd},
		&command{name: "smove", arity: 4, flags: flagWrite, first: 1, last: 2, fn: smoveCmd},
		&command{name: "sscan", arity: -3, first: 1, last: 1, fn: sscanCmd},
	)
}

// srandMaxRepeated bounds SRANDMEMBER's negative count. Redis streams such
// a reply until the client's output buffer limit cuts it off; the engine
// builds a reply in memory before sending it, so it refuses a count whose
// reply could not be sent anyway (16M members is over 100 MiB of RESP, above
// any sane client_output_buffer) instead of exhausting memory.
const srandMaxRepeated = 1 << 24

// errSrandTooMany is the reply to a negative SRANDMEMBER count beyond
// srandMaxRepeated. It has no Redis counterpart (see srandMaxRepeated).
const errSrandTooMany replyErr = "ERR value is out of range, the disk store returns at most 16777216 repeated members"

// setMaxIntsetEntries is Redis's default set-max-intset-entries: the
// largest set Redis keeps as a sorted intset.
const setMaxIntsetEntries = 512

// intsetOrder sorts members numerically when there are at most
// setMaxIntsetEntries of them and every one is an integer as Redis's intset
// accepts it (string2ll), so that such replies match Redis's order; other
// member lists are left in byte order.
func intsetOrder(members [][]byte) [][]byte {
	if len(members) < 2 || len(members) > setMaxIntsetEntries {
		return members
	}
	vals := make([]int64, len(members))
	for i, m := range members {
		v, ok := parseInt(m)
		if !ok {
			return members
		}
		vals[i] = v
	}
	idx := make([]int, len(members))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return cmpInt64(vals[a], vals[b]) })
	out := make([][]byte, len(members))
	for i, j := range idx {
		out[i] = members[j]
	}
	return out
}

// setRandomScanMax is the largest set whose random members are drawn from a
// full read (exactly uniform); larger sets are sampled by seeks.
const setRandomScanMax = 1024

// Error replies of set commands, word for word as redis-server 7.0.15.
const (
	errNumkeysPositive replyErr = "ERR numkeys should be greater than 0"
	errNumkeysArgs     replyErr = "ERR Number of keys can't be greater than number of args"
	errLimitNeg        replyErr = "ERR LIMIT can't be negative"
)

func saddCmd(t *tx, w *writer, args [][]byte) error {
	key := args[1]
	m, ok, err := t.lookupType(key, typeSet)
	if err != nil {
		return err
	}
	if !ok {
		m = t.newMeta(typeSet)
	}
	var added int64
	for _, mem := range args[2:] {
		_, exists, err := t.getElem(m.gen, mem)
		if err != nil {
			return err
		}
		if exists {
			continue
		}
		if err := t.setElem(m.gen, mem, nil); err != nil {
			return err
		}
		added++
	}
	if added > 0 {
		m.count += added
		if err := t.putMeta(key, &m); err != nil {
			return err
		}
	}
	w.int(added)
	return nil
}

// setSave writes m after its members changed, or deletes the key when the
// set became empty.
func (t *tx) setSave(key []byte, m *meta) error {
	if m.count <= 0 {
		_, err := t.deleteKey(key)
		return err
	}
	return t.putMeta(key, m)
}

func sremCmd(t *tx, w *writer, args [][]byte) error {
	key := args[1]
	m, ok, err := t.lookupType(key, typeSet)
	if err != nil {
		return err
	}
	if !ok {
		w.int(0)
		return nil
	}
	var removed int64
	for _, mem := range args[2:] {
		_, exists, err := t.getElem(m.gen, mem)
		if err != nil {
			return err
		}
		if !exists {
			continue
		}
		if err := t.delElem(m.gen, mem); err != nil {
			return err
		}
		removed++
	}
	if removed > 0 {
		m.count -= removed
		if err := t.setSave(key, &m); err != nil {
			return err
		}
	}
	w.int(removed)
	return nil
}

// setMembers returns the members of the set gen in byte order, copied into
// the tx arena.
func (t *tx) setMembers(m *meta) ([][]byte, error) {
	it, err := t.elemIter(m.gen)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, min(m.count, 1<<16))
	for valid := it.First(); valid; valid = it.Next() {
		_, mem, _ := decodeElemKey(it.Key())
		out = append(out, t.copyOut(mem))
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	if int64(len(out)) != m.count {
		return nil, errCountMismatch(nil, m.count, int64(len(out)))
	}
	return out, nil
}

// replySet writes members as a set reply (~ in RESP3), integer sets in
// intset order.
func replySet(w *writer, members [][]byte) {
	members = intsetOrder(members)
	w.setHeader(len(members))
	for _, mem := range members {
		w.bulk(mem)
	}
}

func smembersCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeSet)
	if err != nil {
		return err
	}
	if !ok {
		w.setHeader(0)
		return nil
	}
	members, err := t.setMembers(&m)
	if err != nil {
		return err
	}
	replySet(w, members)
	return nil
}

func sismemberCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeSet)
	if err != nil {
		return err
	}
	exists := false
	if ok {
		if _, exists, err = t.getElem(m.gen, args[2]); err != nil {
			return err
		}
	}
	w.int(b2i(exists))
	return nil
}

func smismemberCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeSet)
	if err != nil {
		return err
	}
	mark := len(w.b)
	w.array(len(args) - 2)
	for _, mem := range args[2:] {
		exists := false
		if ok {
			if _, exists, err = t.getElem(m.gen, mem); err != nil {
				w.b = w.b[:mark]
				return err
			}
		}
		w.int(b2i(exists))
	}
	return nil
}

func scardCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeSet)
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

// setRandomSeek returns a member of the set near a uniformly random point
// of the key span between its first and last member (see the file comment).
// The set is not empty.
func (t *tx) setRandomSeek(m *meta) ([]byte, error) {
	it, err := t.elemIter(m.gen)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	if !it.First() {
		return nil, errCountMismatch(nil, m.count, 0)
	}
	_, first, _ := decodeElemKey(it.Key())
	first = bytes.Clone(first)
	if !it.Last() {
		return nil, errCountMismatch(nil, m.count, 0)
	}
	_, last, _ := decodeElemKey(it.Key())
	p := 0
	for p < len(first) && p < len(last) && first[p] == last[p] {
		p++
	}
	// The 8 bytes after the common prefix, as numbers, bound the draw.
	var fb, lb [8]byte
	copy(fb[:], first[p:])
	copy(lb[:], last[p:])
	lo, hi := binary.BigEndian.Uint64(fb[:]), binary.BigEndian.Uint64(lb[:])
	r := lo
	if hi > lo {
		r = lo + rand.Uint64N(hi-lo+1)
	}
	target := appendElemKey(nil, m.gen, first[:p])
	target = binary.BigEndian.AppendUint64(target, r)
	if !it.SeekGE(target) && !it.First() {
		return nil, errCountMismatch(nil, m.count, 0)
	}
	_, mem, _ := decodeElemKey(it.Key())
	return t.copyOut(mem), it.Error()
}

// setRandom returns n members of the set: distinct ones (n <= count) when
// unique, else drawn with repetition. Order is random.
func (t *tx) setRandom(m *meta, n int64, unique bool) ([][]byte, error) {
	if m.count <= setRandomScanMax || (unique && n*2 > m.count) {
		all, err := t.setMembers(m)
		if err != nil {
			return nil, err
		}
		if unique {
			// Partial Fisher-Yates: the first n are a uniform sample.
			for i := int64(0); i < n; i++ {
				j := i + rand.Int64N(int64(len(all))-i)
				all[i], all[j] = all[j], all[i]
			}
			return all[:n], nil
		}
		out := make([][]byte, 0, min(n, 1<<16))
		for i := int64(0); i < n; i++ {
			out = append(out, all[rand.IntN(len(all))])
		}
		return out, nil
	}
	out := make([][]byte, 0, min(n, 1<<16))
	var seen map[string]bool
	if unique {
		seen = make(map[string]bool, n)
	}
	// Seeks favour members after wide gaps; when sampling without
	// repetition stalls on them, fall back to a uniform full read.
	misses := int64(0)
	for int64(len(out)) < n {
		mem, err := t.setRandomSeek(m)
		if err != nil {
			return nil, err
		}
		if unique {
			if seen[string(mem)] {
				misses++
				if misses > 4*n+64 {
					return t.setRandomFull(m, n)
				}
				continue
			}
			seen[string(mem)] = true
		}
		out = append(out, mem)
	}
	return out, nil
}

// setRandomFull draws n distinct members from a full read.
func (t *tx) setRandomFull(m *meta, n int64) ([][]byte, error) {
	all, err := t.setMembers(m)
	if err != nil {
		return nil, err
	}
	rand.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	return all[:n], nil
}

func spopCmd(t *tx, w *writer, args [][]byte) error {
	if len(args) > 3 {
		return errSyntax
	}
	key := args[1]
	hasCount := len(args) == 3
	var count int64
	if hasCount {
		var err error
		if count, err = argNonNeg(args[2], errNotNegative); err != nil {
			return err
		}
	}
	m, ok, err := t.lookupType(key, typeSet)
	if err != nil {
		return err
	}
	if !ok {
		if hasCount {
			w.setHeader(0)
		} else {
			w.null()
		}
		return nil
	}
	if !hasCount {
		var mem []byte
		if m.count <= setRandomScanMax {
			ms, err := t.setRandom(&m, 1, true)
			if err != nil {
				return err
			}
			mem = ms[0]
		} else if mem, err = t.setRandomSeek(&m); err != nil {
			return err
		}
		if err := t.delElem(m.gen, mem); err != nil {
			return err
		}
		m.count--
		if err := t.setSave(key, &m); err != nil {
			return err
		}
		w.bulk(mem)
		return nil
	}
	if count == 0 {
		w.setHeader(0)
		return nil
	}
	if count >= m.count {
		members, err := t.setMembers(&m)
		if err != nil {
			return err
		}
		if _, err := t.deleteKey(key); err != nil {
			return err
		}
		replySet(w, members)
		return nil
	}
	members, err := t.setRandom(&m, count, true)
	if err != nil {
		return err
	}
	for _, mem := range members {
		if err := t.delElem(m.gen, mem); err != nil {
			return err
		}
	}
	m.count -= int64(len(members))
	if err := t.setSave(key, &m); err != nil {
		return err
	}
	replySet(w, members)
	return nil
}

func srandmemberCmd(t *tx, w *writer, args [][]byte) error {
	if len(args) > 3 {
		return errSyntax
	}
	if len(args) == 2 {
		m, ok, err := t.lookupType(args[1], typeSet)
		if err != nil {
			return err
		}
		if !ok {
			w.null()
			return nil
		}
		var mem []byte
		if m.count <= setRandomScanMax {
			ms, err := t.setRandom(&m, 1, true)
			if err != nil {
				return err
			}
			mem = ms[0]
		} else if mem, err = t.setRandomSeek(&m); err != nil {
			return err
		}
		w.bulk(mem)
		return nil
	}
	count, err := argInt(args[2])
	if err != nil {
		return err
	}
	if count == minInt64 {
		return errRangeSigned
	}
	if count < -srandMaxRepeated {
		return errSrandTooMany
	}
	m, ok, err := t.lookupType(args[1], typeSet)
	if err != nil {
		return err
	}
	if !ok || count == 0 {
		w.array(0)
		return nil
	}
	var members [][]byte
	switch {
	case count < 0:
		members, err = t.setRandom(&m, -count, false)
	case count >= m.count:
		if members, err = t.setMembers(&m); err == nil {
			members = intsetOrder(members)
		}
	default:
		members, err = t.setRandom(&m, count, true)
	}
	if err != nil {
		return err
	}
	w.array(len(members))
	for _, mem := range members {
		w.bulk(mem)
	}
	return nil
}

// setOperand is one input set of SINTER/SUNION/SDIFF; ok is false for a
// missing key (an empty set).
type setOperand struct {
	m  meta
	ok bool
}

// loadSets looks up every key, failing with WRONGTYPE if any is not a set
// (Redis checks all the keys before computing anything).
func (t *tx) loadSets(keys [][]byte) ([]setOperand, error) {
	ops := make([]setOperand, len(keys))
	for i, k := range keys {
		m, ok, err := t.lookupType(k, typeSet)
		if err != nil {
			return nil, err
		}
		ops[i] = setOperand{m: m, ok: ok}
	}
	return ops, nil
}

// setInter returns the members common to all ops, in byte order, stopping
// after limit members when limit > 0.
func (t *tx) setInter(ops []setOperand, limit int64) ([][]byte, error) {
	for _, op := range ops {
		if !op.ok {
			return nil, nil
		}
	}
	// Walk the smallest set and probe the others, as Redis does.
	order := make([]int, len(ops))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmpInt64(ops[a].m.count, ops[b].m.count)
	})
	small := ops[order[0]].m
	it, err := t.elemIter(small.gen)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for valid := it.First(); valid; valid = it.Next() {
		_, mem, _ := decodeElemKey(it.Key())
		in := true
		for _, i := range order[1:] {
			_, exists, err := t.getElem(ops[i].m.gen, mem)
			if err != nil {
				_ = it.Close()
				return nil, err
			}
			if !exists {
				in = false
				break
			}
		}
		if in {
			out = append(out, t.copyOut(mem))
			if limit > 0 && int64(len(out)) >= limit {
				break
			}
		}
	}
	return out, it.Close()
}

// setUnion returns the members of any of ops, in byte order.
func (t *tx) setUnion(ops []setOperand) ([][]byte, error) {
	var out [][]byte
	seen := map[string]bool{}
	for _, op := range ops {
		if !op.ok {
			continue
		}
		members, err := t.setMembers(&op.m)
		if err != nil {
			return nil, err
		}
		for _, mem := range members {
			if !seen[string(mem)] {
				seen[string(mem)] = true
				out = append(out, mem)
			}
		}
	}
	slices.SortFunc(out, bytes.Compare)
	return out, nil
}

// setDiff returns the members of ops[0] in none of the others, in byte
// order.
func (t *tx) setDiff(ops []setOperand) ([][]byte, error) {
	if !ops[0].ok {
		return nil, nil
	}
	it, err := t.elemIter(ops[0].m.gen)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for valid := it.First(); valid; valid = it.Next() {
		_, mem, _ := decodeElemKey(it.Key())
		in := false
		for _, op := range ops[1:] {
			if !op.ok {
				continue
			}
			_, exists, err := t.getElem(op.m.gen, mem)
			if err != nil {
				_ = it.Close()
				return nil, err
			}
			if exists {
				in = true
				break
			}
		}
		if !in {
			out = append(out, t.copyOut(mem))
		}
	}
	return out, it.Close()
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ssetopCmd is SINTER, SUNION, SDIFF and their STORE variants.
func ssetopCmd(t *tx, w *writer, args [][]byte) error {
	name := args[0]
	store := len(name) > 6 // sinterstore, sunionstore, sdiffstore
	keys := args[1:]
	var dst []byte
	if store {
		dst, keys = args[1], args[2:]
	}
	ops, err := t.loadSets(keys)
	if err != nil {
		return err
	}
	var members [][]byte
	switch name[1] | 0x20 {
	case 'i': // sinter
		members, err = t.setInter(ops, 0)
	case 'u': // sunion
		members, err = t.setUnion(ops)
	default: // sdiff
		members, err = t.setDiff(ops)
	}
	if err != nil {
		return err
	}
	if !store {
		replySet(w, members)
		return nil
	}
	if err := t.setStore(dst, members); err != nil {
		return err
	}
	w.int(int64(len(members)))
	return nil
}

// setStore replaces dst (whatever its type) with a set of members, or
// deletes it when members is empty. members may alias records of dst: they
// were copied into the tx arena.
func (t *tx) setStore(dst []byte, members [][]byte) error {
	if len(members) == 0 {
		_, err := t.deleteKey(dst)
		return err
	}
	m := t.newMeta(typeSet)
	for _, mem := range members {
		if err := t.setElem(m.gen, mem, nil); err != nil {
			return err
		}
	}
	m.count = int64(len(members))
	// putMeta drops the old key's elements (another generation) and its
	// TTL: a STORE result has no expiry, as in Redis.
	return t.putMeta(dst, &m)
}

// sintercardKeys returns the keys of SINTERCARD numkeys key [key ...]
// [LIMIT limit], or none when numkeys is invalid (the handler replies with
// the error).
func sintercardKeys(args [][]byte) [][]byte {
	n, ok := parseInt(args[1])
	if !ok || n <= 0 || n > int64(len(args)-2) {
		return nil
	}
	return args[2 : 2+n]
}

func sintercardCmd(t *tx, w *writer, args [][]byte) error {
	n, ok := parseInt(args[1])
	if !ok || n <= 0 {
		return errNumkeysPositive
	}
	if n > int64(len(args)-2) {
		return errNumkeysArgs
	}
	keys := args[2 : 2+n]
	var limit int64
	for j := 2 + int(n); j < len(args); j++ {
		if eqFold(args[j], "limit") && j+1 < len(args) {
			j++
			l, err := argNonNeg(args[j], errLimitNeg)
			if err != nil {
				return err
			}
			limit = l
			continue
		}
		return errSyntax
	}
	ops, err := t.loadSets(keys)
	if err != nil {
		return err
	}
	members, err := t.setInter(ops, limit)
	if err != nil {
		return err
	}
	w.int(int64(len(members)))
	return nil
}

func smoveCmd(t *tx, w *writer, args [][]byte) error {
	srcKey, dstKey, mem := args[1], args[2], args[3]
	sm, sok, serr := t.lookupType(srcKey, typeSet)
	if serr != nil && serr != errWrongType {
		return serr
	}
	dm, dok, derr := t.lookupType(dstKey, typeSet)
	if derr != nil && derr != errWrongType {
		return derr
	}
	if !sok && serr == nil {
		w.int(0)
		return nil
	}
	if serr != nil {
		return serr
	}
	if derr != nil {
		return derr
	}
	_, exists, err := t.getElem(sm.gen, mem)
	if err != nil {
		return err
	}
	if bytes.Equal(srcKey, dstKey) {
		w.int(b2i(exists))
		return nil
	}
	if !exists {
		w.int(0)
		return nil
	}
	if err := t.delElem(sm.gen, mem); err != nil {
		return err
	}
	sm.count--
	if err := t.setSave(srcKey, &sm); err != nil {
		return err
	}
	if !dok {
		dm = t.newMeta(typeSet)
	}
	_, inDst, err := t.getElem(dm.gen, mem)
	if err != nil {
		return err
	}
	if !inDst {
		if err := t.setElem(dm.gen, mem, nil); err != nil {
			return err
		}
		dm.count++
	}
	if err := t.putMeta(dstKey, &dm); err != nil {
		return err
	}
	w.int(1)
	return nil
}

// sscanCmd is SSCAN key cursor [MATCH pattern] [COUNT count]. A set of up
// to scanAllMax members is answered in one reply with cursor 0 (integers
// in intset order), as Redis does for an intset; a bigger one in pages
// (scan.go).
func sscanCmd(t *tx, w *writer, args [][]byte) error {
	cursor, ok := parseCursor(args[2])
	if !ok {
		return errInvalidCursor
	}
	m, ok, err := t.lookupType(args[1], typeSet)
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
	if scanPaged(&m) {
		var items [][]byte
		next, err := t.scanElems(&m, cursor, opts, func(member, _ []byte) error {
			items = append(items, member)
			return nil
		})
		if err != nil {
			return err
		}
		writeScanPage(w, next, items)
		return nil
	}
	members, err := t.setMembers(&m)
	if err != nil {
		return err
	}
	members = intsetOrder(members)
	if opts.match != nil {
		members = slices.DeleteFunc(members, func(mem []byte) bool { return !globMatch(opts.match, mem, false) })
	}
	writeScanPage(w, 0, members)
	return nil
}
