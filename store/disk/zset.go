package disk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
)

// Sorted sets.
//
// A zset has two records per member: the element 'e' gen member -> 8-byte
// sortableFloat(score), for ZSCORE and membership, and the score index
// 'z' gen sortableFloat(score) member -> empty, ordered by score then member
// exactly as Redis orders a sorted set. Score and lex ranges are a seek
// plus a walk of the range; ZRANGE by rank and ZRANK walk from the nearer
// end of the index (O(rank), where Redis's skiplist is O(log N)).
//
// The meta payload holds two watermarks, in sortableFloat space: every index
// entry lies in [lo, hi). Inserts widen them; ZPOPMIN/ZPOPMAX and removals
// from either end narrow them, and every index walk is clamped to them.
// That keeps a queue (ZADD at the top, ZPOPMIN or ZREMRANGEBYSCORE -inf at
// the bottom) from slowing down: the deleted entries below lo are never
// stepped over again, though the LSM keeps their tombstones until
// compaction.
//
// Scores are stored with -0 turned into +0, as Redis's listpack encoding
// (every zset of up to 128 members) does; replies of ZINCRBY and ZADD INCR
// show the computed score, -0 included, as Redis does. (A zset Redis keeps
// as a skiplist, past 128 members or with a member over 64 bytes, stores -0
// as is; the engine answers 0 there.)
//
// Lex ranges follow Redis's listpack walk: from the first entry inside the
// near bound to the first one outside the far bound, in index order. With
// equal scores, the only case Redis defines, that is the lexicographic
// range, and it starts with a seek.
//
// ZUNION, ZINTER, ZDIFF (and their STORE variants, ZINTERCARD) read their
// inputs into memory, as Redis does; sets count as zsets of score 1.
// ZSCAN returns a zset of up to 128 members whole, in score order, with
// cursor 0, as Redis does for a listpack zset; a bigger one is scanned COUNT
// members at a time, in member order, with a real cursor (scan.go).

func init() {
	register(
		&command{name: "zadd", arity: -4, flags: flagWrite, first: 1, last: 1, fn: zaddCmd},
		&command{name: "zincrby", arity: 4, flags: flagWrite, first: 1, last: 1, fn: zaddCmd},
		&command{name: "zrem", arity: -3, flags: flagWrite, first: 1, last: 1, fn: zremCmd},
		&command{name: "zscore", arity: 3, first: 1, last: 1, fn: zscoreCmd},
		&command{name: "zmscore", arity: -3, first: 1, last: 1, fn: zmscoreCmd},
		&command{name: "zcard", arity: 2, first: 1, last: 1, fn: zcardCmd},
		&command{name: "zcount", arity: 4, first: 1, last: 1, fn: zcountCmd},
		&command{name: "zlexcount", arity: 4, first: 1, last: 1, fn: zcountCmd},
		&command{name: "zrange", arity: -4, first: 1, last: 1, fn: zrangeCmd},
		&command{name: "zrangestore", arity: -5, flags: flagWrite, first: 1, last: 2, fn: zrangeCmd},
		&command{name: "zrangebyscore", arity: -4, first: 1, last: 1, fn: zrangeCmd},
		&command{name: "zrevrangebyscore", arity: -4, first: 1, last: 1, fn: zrangeCmd},
		&command{name: "zrangebylex", arity: -4, first: 1, last: 1, fn: zrangeCmd},
		&command{name: "zrevrangebylex", arity: -4, first: 1, last: 1, fn: zrangeCmd},
		&command{name: "zrevrange", arity: -4, first: 1, last: 1, fn: zrangeCmd},
		&command{name: "zrank", arity: 3, first: 1, last: 1, fn: zrankCmd},
		&command{name: "zrevrank", arity: 3, first: 1, last: 1, fn: zrankCmd},
		&command{name: "zpopmin", arity: -2, flags: flagWrite, first: 1, last: 1, fn: zpopCmd},
		&command{name: "zpopmax", arity: -2, flags: flagWrite, first: 1, last: 1, fn: zpopCmd},
		&command{name: "zremrangebyscore", arity: 4, flags: flagWrite, first: 1, last: 1, fn: zremrangeCmd},
		&command{name: "zremrangebyrank", arity: 4, flags: flagWrite, first: 1, last: 1, fn: zremrangeCmd},
		&command{name: "zremrangebylex", arity: 4, flags: flagWrite, first: 1, last: 1, fn: zremrangeCmd},
		&command{name: "zscan", arity: -3, first: 1, last: 1, fn: zscanCmd},
		&command{name: "zunion", arity: -3, keys: zsetopKeys, fn: zsetopCmd},
		&command{name: "zinter", arity: -3, keys: zsetopKeys, fn: zsetopCmd},
		&command{name: "zdiff", arity: -3, keys: zsetopKeys, fn: zsetopCmd},
		&command{name: "zintercard", arity: -3, keys: zsetopKeys, fn: zsetopCmd},
		&command{name: "zunionstore", arity: -4, flags: flagWrite, keys: zsetopKeys, fn: zsetopCmd},
		&command{name: "zinterstore", arity: -4, flags: flagWrite, keys: zsetopKeys, fn: zsetopCmd},
		&command{name: "zdiffstore", arity: -4, flags: flagWrite, keys: zsetopKeys, fn: zsetopCmd},
		&command{name: "zmpop", arity: -4, flags: flagWrite, keys: mpopKeys, fn: zmpopCmd},
		&command{name: "zrandmember", arity: -2, first: 1, last: 1, fn: zrandmemberCmd},
	)
}

// Error replies of sorted-set commands, word for word as redis-server 7.0.15.
const (
	errMinMaxFloat   replyErr = "ERR min or max is not a float"
	errLexRange      replyErr = "ERR min or max not valid string range item"
	errZaddXXNX      replyErr = "ERR XX and NX options at the same time are not compatible"
	errZaddGTLTNX    replyErr = "ERR GT, LT, and/or NX options at the same time are not compatible"
	errZaddIncrPair  replyErr = "ERR INCR option supports a single increment-element pair"
	errScoreNaN      replyErr = "ERR resulting score is not a number (NaN)"
	errLimitNeedsBy  replyErr = "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
	errWithscoresLex replyErr = "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
	errWeightFloat   replyErr = "ERR weight value is not a float"
)

// ---- number parsing as Redis's C does it ----

func isDigitC(c byte) bool { return c >= '0' && c <= '9' }

func isHexDigitC(c byte) bool {
	return isDigitC(c) || (c|0x20 >= 'a' && c|0x20 <= 'f')
}

func hasFoldPrefixC(s []byte, p string) bool {
	if len(s) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if s[i]|0x20 != p[i] {
			return false
		}
	}
	return true
}

// cStrtod emulates glibc's strtod in the C locale: it skips leading white
// space, accepts a sign, "inf"/"infinity", "nan" (with an optional
// "(chars)"), decimal and hexadecimal (0x, optional p exponent) floats, and
// returns the value, the number of bytes consumed (0: no conversion) and
// whether strtod would set ERANGE with a result Redis rejects (overflow to
// ±HUGE_VAL, or underflow to zero). Checked against glibc in
// TestZSetStrtodGolden.
func cStrtod(s []byte) (v float64, n int, erange bool) {
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	sign := func(f float64) float64 {
		if neg {
			return -f
		}
		return f
	}
	rest := s[i:]
	switch {
	case hasFoldPrefixC(rest, "inf"):
		n = i + 3
		if hasFoldPrefixC(rest, "infinity") {
			n = i + 8
		}
		return sign(math.Inf(1)), n, false
	case hasFoldPrefixC(rest, "nan"):
		n = i + 3
		if n < len(s) && s[n] == '(' {
			j := n + 1
			for j < len(s) && (isDigitC(s[j]) || (s[j]|0x20 >= 'a' && s[j]|0x20 <= 'z') || s[j] == '_') {
				j++
			}
			if j < len(s) && s[j] == ')' {
				n = j + 1
			}
		}
		return math.NaN(), n, false
	}
	if len(rest) >= 2 && rest[0] == '0' && rest[1]|0x20 == 'x' {
		if f, m, er, ok := parseHexFloatC(rest[2:]); ok {
			return sign(f), i + 2 + m, er
		}
	}
	j := i
	nonzero, digits := false, 0
	for j < len(s) && isDigitC(s[j]) {
		nonzero = nonzero || s[j] != '0'
		j++
		digits++
	}
	if j < len(s) && s[j] == '.' {
		j++
		for j < len(s) && isDigitC(s[j]) {
			nonzero = nonzero || s[j] != '0'
			j++
			digits++
		}
	}
	if digits == 0 {
		return 0, 0, false
	}
	if j < len(s) && s[j]|0x20 == 'e' {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && isDigitC(s[k]) {
			for k < len(s) && isDigitC(s[k]) {
				k++
			}
			j = k
		}
	}
	// The text is well formed by construction; strconv reports overflow as
	// ErrRange with ±Inf, which is what erange below looks at.
	f, _ := strconv.ParseFloat(string(s[i:j]), 64)
	return sign(f), j, math.IsInf(f, 0) || (f == 0 && nonzero)
}

// parseHexFloatC parses what follows "0x": hex digits [. hex digits]
// [p [sign] digits]. ok is false when no hex digit follows (strtod then
// reads just the "0").
func parseHexFloatC(s []byte) (v float64, n int, erange, ok bool) {
	j := 0
	nonzero, digits := false, 0
	for j < len(s) && isHexDigitC(s[j]) {
		nonzero = nonzero || s[j] != '0'
		j++
		digits++
	}
	intEnd, fracStart := j, j
	if j < len(s) && s[j] == '.' {
		j++
		fracStart = j
		for j < len(s) && isHexDigitC(s[j]) {
			nonzero = nonzero || s[j] != '0'
			j++
			digits++
		}
	}
	if digits == 0 {
		return 0, 0, false, false
	}
	text := make([]byte, 0, j+8)
	text = append(text, "0x0"...)
	text = append(text, s[:intEnd]...)
	if fracStart < j {
		text = append(text, '.')
		text = append(text, s[fracStart:j]...)
	}
	exp := "p0"
	if j < len(s) && s[j]|0x20 == 'p' {
		k := j + 1
		if k < len(s) && (s[k] == '+' || s[k] == '-') {
			k++
		}
		if k < len(s) && isDigitC(s[k]) {
			for k < len(s) && isDigitC(s[k]) {
				k++
			}
			exp = "p" + string(s[j+1:k])
			j = k
		}
	}
	f, _ := strconv.ParseFloat(string(text)+exp, 64)
	return f, j, math.IsInf(f, 0) || (f == 0 && nonzero), true
}

// parseScore parses a score argument as Redis's string2d: the whole
// argument must be a float, no leading space, no NaN, no overflow and no
// underflow to zero ("1e-400").
func parseScore(p []byte) (float64, bool) {
	if len(p) == 0 || isSpace(p[0]) {
		return 0, false
	}
	f, n, erange := cStrtod(p)
	if n != len(p) || erange || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// parseScoreBound parses one end of a score range as Redis's zslParseRange:
// "(" makes it exclusive; then strtod, which must stop at the end (or a NUL
// byte: Redis reads the argument as a C string). Unlike parseScore, leading
// space, "" (zero) and overflow (±inf) are accepted; NaN is not.
func parseScoreBound(p []byte) (f float64, ex bool, ok bool) {
	if len(p) > 0 && p[0] == '(' {
		ex = true
		p = p[1:]
	}
	f, n, _ := cStrtod(p)
	if n < len(p) && p[n] != 0 {
		return 0, false, false
	}
	if math.IsNaN(f) {
		return 0, false, false
	}
	return f, ex, true
}

// appendScore appends a score as Redis's d2string writes it into replies
// that carry it as a string (ZSCAN): inf, -inf or "%.17g".
func appendScore(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	}
	return appendG17(dst, f)
}

// ---- ranges ----

// scoreRange is a parsed score interval (Redis's zrangespec).
type scoreRange struct {
	min, max     float64
	minex, maxex bool
}

func parseScoreRange(lo, hi []byte) (scoreRange, error) {
	var r scoreRange
	var ok1, ok2 bool
	r.min, r.minex, ok1 = parseScoreBound(lo)
	r.max, r.maxex, ok2 = parseScoreBound(hi)
	if !ok1 || !ok2 {
		return r, errMinMaxFloat
	}
	return r, nil
}

func (r *scoreRange) empty() bool {
	return r.min > r.max || (r.min == r.max && (r.minex || r.maxex))
}

// lexKind says whether a lex bound is "-", "+" or a string.
type lexKind uint8

const (
	lexValue lexKind = iota
	lexMin           // "-": below every string
	lexMax           // "+": above every string
)

type lexBound struct {
	kind lexKind
	val  []byte
	ex   bool
}

// lexRange is a parsed lex interval (Redis's zlexrangespec).
type lexRange struct{ min, max lexBound }

func parseLexBound(p []byte) (lexBound, bool) {
	if len(p) == 0 {
		return lexBound{}, false
	}
	switch p[0] {
	case '+', '-':
		// Redis tests c[1] != '\0' on the C string.
		if len(p) > 1 && p[1] != 0 {
			return lexBound{}, false
		}
		if p[0] == '+' {
			return lexBound{kind: lexMax, ex: true}, true
		}
		return lexBound{kind: lexMin, ex: true}, true
	case '(':
		return lexBound{val: p[1:], ex: true}, true
	case '[':
		return lexBound{val: p[1:]}, true
	}
	return lexBound{}, false
}

func parseLexRange(lo, hi []byte) (lexRange, error) {
	a, ok1 := parseLexBound(lo)
	b, ok2 := parseLexBound(hi)
	if !ok1 || !ok2 {
		return lexRange{}, errLexRange
	}
	return lexRange{min: a, max: b}, nil
}

// cmpLexBounds is Redis's sdscmplex for two bounds.
func cmpLexBounds(a, b *lexBound) int {
	if a.kind == b.kind && a.kind != lexValue {
		return 0
	}
	if a.kind == lexMin || b.kind == lexMax {
		return -1
	}
	if a.kind == lexMax || b.kind == lexMin {
		return 1
	}
	return bytes.Compare(a.val, b.val)
}

func (r *lexRange) empty() bool {
	c := cmpLexBounds(&r.min, &r.max)
	return c > 0 || (c == 0 && (r.min.ex || r.max.ex))
}

func (r *lexRange) gteMin(v []byte) bool {
	switch r.min.kind {
	case lexMin:
		return true
	case lexMax:
		return false
	}
	c := bytes.Compare(v, r.min.val)
	if r.min.ex {
		return c > 0
	}
	return c >= 0
}

func (r *lexRange) lteMax(v []byte) bool {
	switch r.max.kind {
	case lexMax:
		return true
	case lexMin:
		return false
	}
	c := bytes.Compare(v, r.max.val)
	if r.max.ex {
		return c < 0
	}
	return c <= 0
}

// ---- records ----

// zmember is a member with its score; member aliases the tx arena.
type zmember struct {
	member []byte
	score  float64
}

func encodeScore(buf *[8]byte, f float64) []byte {
	binary.BigEndian.PutUint64(buf[:], sortableFloat(f))
	return buf[:]
}

func decodeScore(v []byte) (float64, bool) {
	if len(v) != 8 {
		return 0, false
	}
	return unsortableFloat(binary.BigEndian.Uint64(v)), true
}

// zmarks returns the watermarks of m (see the file comment); a payload of
// another length (none) means no bounds.
func zmarks(m *meta) (lo, hi uint64) {
	if len(m.payload) != 16 {
		return 0, math.MaxUint64
	}
	return binary.BigEndian.Uint64(m.payload), binary.BigEndian.Uint64(m.payload[8:])
}

func setZMarks(m *meta, lo, hi uint64) {
	p := make([]byte, 16)
	binary.BigEndian.PutUint64(p, lo)
	binary.BigEndian.PutUint64(p[8:], hi)
	m.payload = p
}

// newZSet returns the meta of a new, empty zset (watermarks empty).
func (t *tx) newZSet() meta {
	m := t.newMeta(typeZSet)
	setZMarks(&m, math.MaxUint64, 0)
	return m
}

// zscore returns the score of member in the zset m.
func (t *tx) zscore(m *meta, member []byte) (float64, bool, error) {
	v, ok, err := t.getElem(m.gen, member)
	if !ok || err != nil {
		return 0, false, err
	}
	f, valid := decodeScore(v)
	if !valid {
		return 0, false, ErrCorrupt
	}
	return f, true, nil
}

// zput sets member's score; old is its current score when exists.
func (t *tx) zput(m *meta, member []byte, score, old float64, exists bool) error {
	if exists {
		if err := t.delRaw(appendScoreKey(nil, m.gen, old, member)); err != nil {
			return err
		}
	}
	var buf [8]byte
	if err := t.setElem(m.gen, member, encodeScore(&buf, score)); err != nil {
		return err
	}
	if lo, hi := zmarks(m); sortableFloat(score) < lo || sortableFloat(score) >= hi {
		u := sortableFloat(score)
		setZMarks(m, min(lo, u), max(hi, u+1))
	}
	return t.setRaw(appendScoreKey(nil, m.gen, score, member), nil)
}

// zcutBottom records that no entry scores below out's last (highest)
// score any more; zcutTop that none scores above the lowest of out.
func zcutBottom(m *meta, top zmember) {
	_, hi := zmarks(m)
	setZMarks(m, sortableFloat(top.score), hi)
}

func zcutTop(m *meta, bottom zmember) {
	lo, _ := zmarks(m)
	setZMarks(m, lo, sortableFloat(bottom.score)+1)
}

// zdel removes member (whose score is score).
func (t *tx) zdel(m *meta, member []byte, score float64) error {
	if err := t.delElem(m.gen, member); err != nil {
		return err
	}
	return t.delRaw(appendScoreKey(nil, m.gen, score, member))
}

// zdelSpan removes out, which is a contiguous run of the score index (in
// either direction), as ZPOPMIN and ZREMRANGEBY* produce: point deletes for
// the elements, and for the index entries too unless the run is long
// enough for one range tombstone to be the cheaper choice (rangeDelMin).
func (t *tx) zdelSpan(m *meta, out []zmember) error {
	if len(out) == 0 {
		return nil
	}
	for _, z := range out {
		if err := t.delElem(m.gen, z.member); err != nil {
			return err
		}
	}
	if len(out) < rangeDelMin {
		for _, z := range out {
			if err := t.delRaw(appendScoreKey(nil, m.gen, z.score, z.member)); err != nil {
				return err
			}
		}
		return nil
	}
	lo := appendScoreKey(nil, m.gen, out[0].score, out[0].member)
	hi := appendScoreKey(nil, m.gen, out[len(out)-1].score, out[len(out)-1].member)
	if bytes.Compare(lo, hi) > 0 {
		lo, hi = hi, lo
	}
	return t.b.DeleteRange(lo, append(hi, 0), nil)
}

// zsave writes m after its members changed, or deletes the key when the
// zset became empty.
func (t *tx) zsave(key []byte, m *meta) error {
	if m.count <= 0 {
		_, err := t.deleteKey(key)
		return err
	}
	return t.putMeta(key, m)
}

// scorePrefix returns the score-index key prefix 'z' gen u, where u is a
// sortableFloat value (or one past it).
func scorePrefix(gen, u uint64) []byte {
	k := make([]byte, 0, 17)
	k = append(k, prefixScore)
	k = binary.BigEndian.AppendUint64(k, gen)
	return binary.BigEndian.AppendUint64(k, u)
}

// zindexIter iterates the score index of m within [lo, hi) (nil: the whole
// index).
func (t *tx) zindexIter(m *meta, lo, hi []byte) (*pebble.Iterator, error) {
	blo, bhi := scoreBounds(m.gen)
	if lo == nil {
		lo = blo
	}
	if hi == nil {
		hi = bhi
	}
	mlo, mhi := zmarks(m)
	if k := scorePrefix(m.gen, mlo); bytes.Compare(k, lo) > 0 {
		lo = k
	}
	if mhi != math.MaxUint64 {
		if k := scorePrefix(m.gen, mhi); bytes.Compare(k, hi) < 0 {
			hi = k
		}
	}
	if bytes.Compare(lo, hi) > 0 {
		hi = lo
	}
	return t.iter(lo, hi)
}

// zcur decodes the index entry under it, copying the member.
func (t *tx) zcur(it *pebble.Iterator) (zmember, error) {
	_, score, member, ok := decodeScoreKey(it.Key())
	if !ok {
		return zmember{}, ErrCorrupt
	}
	return zmember{member: t.copyOut(member), score: score}, nil
}

// scoreRangeBounds returns the index key interval [lo, hi) of r.
func scoreRangeBounds(gen uint64, r *scoreRange) (lo, hi []byte) {
	umin, umax := sortableFloat(r.min), sortableFloat(r.max)
	if r.minex {
		umin++
	}
	if !r.maxex {
		umax++
	}
	return scorePrefix(gen, umin), scorePrefix(gen, umax)
}

// zbyScore returns the members in r, in order (reverse: from the top),
// skipping offset of them and returning at most limit (< 0: all).
func (t *tx) zbyScore(m *meta, r *scoreRange, reverse bool, offset, limit int64) ([]zmember, error) {
	if r.empty() {
		return nil, nil
	}
	lo, hi := scoreRangeBounds(m.gen, r)
	if bytes.Compare(lo, hi) >= 0 {
		return nil, nil
	}
	it, err := t.zindexIter(m, lo, hi)
	if err != nil {
		return nil, err
	}
	return t.zwalk(it, reverse, offset, limit, nil)
}

// zwalk collects entries of it from one end, skipping offset (a negative
// offset skips everything, as Redis's "while (offset--)" does), taking at
// most limit (negative: no limit) while keep (nil: always) holds. It closes
// it.
func (t *tx) zwalk(it *pebble.Iterator, reverse bool, offset, limit int64, keep func(zmember) bool) ([]zmember, error) {
	var out []zmember
	valid := it.First()
	if reverse {
		valid = it.Last()
	}
	step := func() bool {
		if reverse {
			return it.Prev()
		}
		return it.Next()
	}
	for ; valid && offset != 0; valid = step() {
		offset--
	}
	for ; valid && limit != 0; valid = step() {
		zm, err := t.zcur(it)
		if err != nil {
			_ = it.Close()
			return nil, err
		}
		if keep != nil && !keep(zm) {
			break
		}
		out = append(out, zm)
		limit--
	}
	return out, it.Close()
}

// zbyLex returns the members in r, in index order (reverse: from the top),
// with offset and limit as zbyScore. Like Redis's listpack code it starts at
// the first entry (from the chosen end) inside the near bound and stops at
// the first one outside the far bound, which for the intended use (equal
// scores) is the lexicographic range.
func (t *tx) zbyLex(m *meta, r *lexRange, reverse bool, offset, limit int64) ([]zmember, error) {
	if r.empty() {
		return nil, nil
	}
	first, last, err := t.zends(m)
	if err != nil {
		return nil, err
	}
	if !r.gteMin(last.member) || !r.lteMax(first.member) {
		return nil, nil
	}
	var lo, hi []byte
	if first.score == last.score {
		// All scores equal: index order is member order, so seek.
		if !reverse && r.min.kind == lexValue {
			lo = appendScoreKey(nil, m.gen, first.score, r.min.val)
		}
		if reverse && r.max.kind == lexValue {
			hi = appendScoreKey(nil, m.gen, first.score, r.max.val)
			hi = append(hi, 0) // just after the max itself
		}
	}
	it, err := t.zindexIter(m, lo, hi)
	if err != nil {
		return nil, err
	}
	// Skip to the first entry inside the near bound.
	valid := it.First()
	if reverse {
		valid = it.Last()
	}
	for valid {
		_, _, mem, _ := decodeScoreKey(it.Key())
		if (!reverse && r.gteMin(mem)) || (reverse && r.lteMax(mem)) {
			break
		}
		if reverse {
			valid = it.Prev()
		} else {
			valid = it.Next()
		}
	}
	if !valid {
		return nil, it.Close()
	}
	keep := r.lteMax
	if reverse {
		keep = r.gteMin
	}
	// Restart the walk from here: rebuild bounds so zwalk's First/Last
	// lands on the current entry.
	cur := bytes.Clone(it.Key())
	if err := it.Close(); err != nil {
		return nil, err
	}
	if reverse {
		hi = append(cur, 0)
		lo = nil
	} else {
		lo, hi = cur, nil
	}
	it, err = t.zindexIter(m, lo, hi)
	if err != nil {
		return nil, err
	}
	return t.zwalk(it, reverse, offset, limit, func(z zmember) bool { return keep(z.member) })
}

// zends returns the first and last entries of the (non-empty) zset.
func (t *tx) zends(m *meta) (first, last zmember, err error) {
	it, err := t.zindexIter(m, nil, nil)
	if err != nil {
		return first, last, err
	}
	if !it.First() {
		_ = it.Close()
		return first, last, errCountMismatch(nil, m.count, 0)
	}
	if first, err = t.zcur(it); err != nil {
		_ = it.Close()
		return first, last, err
	}
	it.Last()
	if last, err = t.zcur(it); err != nil {
		_ = it.Close()
		return first, last, err
	}
	return first, last, it.Close()
}

// zbyRank returns the members at ranks [start, end] (already normalized,
// 0 <= start <= end < count), in rank order, or from the top when reverse.
// It walks from whichever end of the index is nearer.
func (t *tx) zbyRank(m *meta, start, end int64, reverse bool) ([]zmember, error) {
	n := end - start + 1
	// Ranks in index order (from the bottom).
	lo, hi := start, end
	if reverse {
		lo, hi = m.count-1-end, m.count-1-start
	}
	it, err := t.zindexIter(m, nil, nil)
	if err != nil {
		return nil, err
	}
	var out []zmember
	if lo <= m.count-1-hi {
		out, err = t.zwalk(it, false, lo, n, nil)
	} else {
		out, err = t.zwalk(it, true, m.count-1-hi, n, nil)
		reverseZ(out)
	}
	if err != nil {
		return nil, err
	}
	if int64(len(out)) != n {
		return nil, errCountMismatch(nil, m.count, int64(len(out)))
	}
	if reverse {
		reverseZ(out)
	}
	return out, nil
}

func reverseZ(s []zmember) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

// zrank returns the 0-based rank (from the bottom) of member with score.
// It walks from both ends of the index at once and stops when either side
// reaches the member: O(min(rank, count-rank)).
func (t *tx) zrank(m *meta, member []byte, score float64) (int64, error) {
	key := appendScoreKey(nil, m.gen, score, member)
	fw, err := t.zindexIter(m, nil, key)
	if err != nil {
		return 0, err
	}
	defer fw.Close()
	bw, err := t.zindexIter(m, append(bytes.Clone(key), 0), nil)
	if err != nil {
		return 0, err
	}
	defer bw.Close()
	var below, above int64
	fv, bv := fw.First(), bw.Last()
	for {
		if !fv {
			return below, fw.Error()
		}
		if !bv {
			return m.count - 1 - above, bw.Error()
		}
		below++
		above++
		fv, bv = fw.Next(), bw.Prev()
	}
}

// ---- replies ----

// replyZ writes members, with their scores when withScores: flat in RESP2,
// [member, score] pairs in RESP3.
func replyZ(w *writer, out []zmember, withScores bool) {
	if !withScores {
		w.array(len(out))
		for _, z := range out {
			w.bulk(z.member)
		}
		return
	}
	if w.proto == 3 {
		w.array(len(out))
		for _, z := range out {
			w.array(2)
			w.bulk(z.member)
			w.double(z.score)
		}
		return
	}
	w.array(2 * len(out))
	for _, z := range out {
		w.bulk(z.member)
		w.double(z.score)
	}
}

// ---- commands ----

// zaddCmd is ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [...] and
// ZINCRBY key increment member (ZADD INCR without the flags).
func zaddCmd(t *tx, w *writer, args [][]byte) error {
	var nx, xx, gt, lt, ch, incr bool
	idx := 2
	if eqFold(args[0], "zincrby") {
		incr = true
	} else {
	flags:
		for ; idx < len(args); idx++ {
			switch {
			case eqFold(args[idx], "nx"):
				nx = true
			case eqFold(args[idx], "xx"):
				xx = true
			case eqFold(args[idx], "gt"):
				gt = true
			case eqFold(args[idx], "lt"):
				lt = true
			case eqFold(args[idx], "ch"):
				ch = true
			case eqFold(args[idx], "incr"):
				incr = true
			default:
				break flags
			}
		}
	}
	elems := len(args) - idx
	if elems%2 != 0 || elems == 0 {
		return errSyntax
	}
	elems /= 2
	if nx && xx {
		return errZaddXXNX
	}
	if (gt && nx) || (lt && nx) || (gt && lt) {
		return errZaddGTLTNX
	}
	if incr && elems > 1 {
		return errZaddIncrPair
	}
	scores := make([]float64, elems)
	for i := range scores {
		f, ok := parseScore(args[idx+2*i])
		if !ok {
			return errNotFloat
		}
		scores[i] = f
	}
	key := args[1]
	m, ok, err := t.lookupType(key, typeZSet)
	if err != nil {
		return err
	}
	var added, updated, processed int64
	var score float64
	if ok || !xx {
		if !ok {
			m = t.newZSet()
		}
		for i := 0; i < elems; i++ {
			score = scores[i]
			member := args[idx+2*i+1]
			cur, exists, err := t.zscore(&m, member)
			if err != nil {
				return err
			}
			switch {
			case exists:
				if nx {
					continue
				}
				if incr {
					score += cur
					if math.IsNaN(score) {
						return errScoreNaN
					}
				}
				if (lt && score >= cur) || (gt && score <= cur) {
					continue
				}
				if score != cur {
					if err := t.zput(&m, member, score, cur, true); err != nil {
						return err
					}
					updated++
				}
				processed++
			case !xx:
				if err := t.zput(&m, member, score, 0, false); err != nil {
					return err
				}
				m.count++
				added++
				processed++
			}
		}
		if added > 0 || updated > 0 {
			if err := t.putMeta(key, &m); err != nil {
				return err
			}
		}
	}
	if incr {
		if processed > 0 {
			w.double(score)
		} else {
			w.null()
		}
		return nil
	}
	if ch {
		w.int(added + updated)
	} else {
		w.int(added)
	}
	return nil
}

func zremCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeZSet)
	if err != nil {
		return err
	}
	if !ok {
		w.int(0)
		return nil
	}
	var removed int64
	for _, member := range args[2:] {
		score, exists, err := t.zscore(&m, member)
		if err != nil {
			return err
		}
		if !exists {
			continue
		}
		if err := t.zdel(&m, member, score); err != nil {
			return err
		}
		removed++
	}
	if removed > 0 {
		m.count -= removed
		if err := t.zsave(args[1], &m); err != nil {
			return err
		}
	}
	w.int(removed)
	return nil
}

func zscoreCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeZSet)
	if err != nil {
		return err
	}
	if !ok {
		w.null()
		return nil
	}
	score, exists, err := t.zscore(&m, args[2])
	if err != nil {
		return err
	}
	if !exists {
		w.null()
		return nil
	}
	w.double(score)
	return nil
}

func zmscoreCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeZSet)
	if err != nil {
		return err
	}
	mark := len(w.b)
	w.array(len(args) - 2)
	for _, member := range args[2:] {
		if !ok {
			w.null()
			continue
		}
		score, exists, err := t.zscore(&m, member)
		if err != nil {
			w.b = w.b[:mark]
			return err
		}
		if exists {
			w.double(score)
		} else {
			w.null()
		}
	}
	return nil
}

func zcardCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeZSet)
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

// zcountCmd is ZCOUNT key min max and ZLEXCOUNT key min max.
func zcountCmd(t *tx, w *writer, args [][]byte) error {
	lex := eqFold(args[0], "zlexcount")
	var sr scoreRange
	var lr lexRange
	var err error
	if lex {
		lr, err = parseLexRange(args[2], args[3])
	} else {
		sr, err = parseScoreRange(args[2], args[3])
	}
	if err != nil {
		return err
	}
	m, ok, err := t.lookupType(args[1], typeZSet)
	if err != nil {
		return err
	}
	if !ok {
		w.int(0)
		return nil
	}
	var n int64
	if lex {
		var out []zmember
		out, err = t.zbyLex(&m, &lr, false, 0, -1)
		n = int64(len(out))
	} else {
		n, err = t.zcountScore(&m, &sr)
	}
	if err != nil {
		return err
	}
	w.int(n)
	return nil
}

// zcountScore counts the members in r without copying them.
func (t *tx) zcountScore(m *meta, r *scoreRange) (int64, error) {
	if r.empty() {
		return 0, nil
	}
	lo, hi := scoreRangeBounds(m.gen, r)
	if bytes.Compare(lo, hi) >= 0 {
		return 0, nil
	}
	it, err := t.zindexIter(m, lo, hi)
	if err != nil {
		return 0, err
	}
	var n int64
	for valid := it.First(); valid; valid = it.Next() {
		n++
	}
	return n, it.Close()
}

type zrangeType uint8

const (
	zrangeAuto zrangeType = iota
	zrangeRank
	zrangeScore
	zrangeLex
)

// zrangeCmd serves ZRANGE, ZRANGESTORE, ZRANGEBYSCORE, ZREVRANGEBYSCORE,
// ZRANGEBYLEX, ZREVRANGEBYLEX and ZREVRANGE, following Redis's
// zrangeGenericCommand step by step so that errors come in the same order.
func zrangeCmd(t *tx, w *writer, args [][]byte) error {
	name := string(lower(args[0]))
	argStart := 1
	store := false
	rtype := zrangeAuto
	dirSet, reverse := false, false
	switch name {
	case "zrangestore":
		store, argStart = true, 2
	case "zrangebyscore":
		rtype, dirSet = zrangeScore, true
	case "zrevrangebyscore":
		rtype, dirSet, reverse = zrangeScore, true, true
	case "zrangebylex":
		rtype, dirSet = zrangeLex, true
	case "zrevrangebylex":
		rtype, dirSet, reverse = zrangeLex, true, true
	case "zrevrange":
		rtype, dirSet, reverse = zrangeRank, true, true
	}
	key := args[argStart]
	minIdx, maxIdx := argStart+1, argStart+2
	var withScores bool
	offset, limit := int64(0), int64(-1)
	for j := argStart + 3; j < len(args); j++ {
		left := len(args) - j - 1
		switch {
		case !store && eqFold(args[j], "withscores"):
			withScores = true
		case eqFold(args[j], "limit") && left >= 2:
			var err error
			if offset, err = argInt(args[j+1]); err != nil {
				return err
			}
			if limit, err = argInt(args[j+2]); err != nil {
				return err
			}
			j += 2
		case !dirSet && eqFold(args[j], "rev"):
			reverse, dirSet = true, true
		case rtype == zrangeAuto && eqFold(args[j], "bylex"):
			rtype = zrangeLex
		case rtype == zrangeAuto && eqFold(args[j], "byscore"):
			rtype = zrangeScore
		default:
			return errSyntax
		}
	}
	if rtype == zrangeAuto {
		rtype = zrangeRank
	}
	if limit != -1 && rtype == zrangeRank {
		return errLimitNeedsBy
	}
	if withScores && rtype == zrangeLex {
		return errWithscoresLex
	}
	if reverse && rtype != zrangeRank {
		minIdx, maxIdx = maxIdx, minIdx
	}
	var start, end int64
	var sr scoreRange
	var lr lexRange
	var err error
	switch rtype {
	case zrangeRank:
		if start, err = argInt(args[minIdx]); err != nil {
			return err
		}
		if end, err = argInt(args[maxIdx]); err != nil {
			return err
		}
	case zrangeScore:
		sr, err = parseScoreRange(args[minIdx], args[maxIdx])
	case zrangeLex:
		lr, err = parseLexRange(args[minIdx], args[maxIdx])
	}
	if err != nil {
		return err
	}
	m, ok, err := t.lookupType(key, typeZSet)
	if err != nil {
		return err
	}
	var out []zmember
	if ok {
		switch rtype {
		case zrangeRank:
			if s, e, nonEmpty := listRange(start, end, m.count); nonEmpty {
				out, err = t.zbyRank(&m, s, e, reverse)
			}
		case zrangeScore:
			if offset > 0 && offset >= m.count {
				break
			}
			out, err = t.zbyScore(&m, &sr, reverse, offset, limit)
		case zrangeLex:
			if offset > 0 && offset >= m.count {
				break
			}
			out, err = t.zbyLex(&m, &lr, reverse, offset, limit)
		}
		if err != nil {
			return err
		}
	}
	if store {
		if err := t.zstore(args[1], out); err != nil {
			return err
		}
		w.int(int64(len(out)))
		return nil
	}
	replyZ(w, out, withScores)
	return nil
}

// zstore replaces dst (whatever its type) with a zset of out, or deletes it
// when out is empty. out was copied into the tx arena, so it may come from
// dst itself.
func (t *tx) zstore(dst []byte, out []zmember) error {
	if len(out) == 0 {
		_, err := t.deleteKey(dst)
		return err
	}
	m := t.newZSet()
	for _, z := range out {
		if err := t.zput(&m, z.member, z.score, 0, false); err != nil {
			return err
		}
	}
	m.count = int64(len(out))
	return t.putMeta(dst, &m)
}

func zrankCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeZSet)
	if err != nil {
		return err
	}
	if !ok {
		w.null()
		return nil
	}
	score, exists, err := t.zscore(&m, args[2])
	if err != nil {
		return err
	}
	if !exists {
		w.null()
		return nil
	}
	rank, err := t.zrank(&m, args[2], score)
	if err != nil {
		return err
	}
	if eqFold(args[0], "zrevrank") {
		rank = m.count - 1 - rank
	}
	w.int(rank)
	return nil
}

// zpopCmd is ZPOPMIN and ZPOPMAX key [count].
func zpopCmd(t *tx, w *writer, args [][]byte) error {
	if len(args) > 3 {
		return errSyntax
	}
	fromTop := eqFold(args[0], "zpopmax")
	hasCount := len(args) == 3
	count := int64(1)
	if hasCount {
		var err error
		if count, err = argNonNeg(args[2], errNotNegative); err != nil {
			return err
		}
	}
	m, ok, err := t.lookupType(args[1], typeZSet)
	if err != nil {
		return err
	}
	if !ok || count == 0 {
		w.array(0)
		return nil
	}
	it, err := t.zindexIter(&m, nil, nil)
	if err != nil {
		return err
	}
	out, err := t.zwalk(it, fromTop, 0, count, nil)
	if err != nil {
		return err
	}
	if err := t.zdelSpan(&m, out); err != nil {
		return err
	}
	if len(out) > 0 {
		if fromTop {
			zcutTop(&m, out[len(out)-1])
		} else {
			zcutBottom(&m, out[len(out)-1])
		}
	}
	m.count -= int64(len(out))
	if err := t.zsave(args[1], &m); err != nil {
		return err
	}
	if w.proto == 3 && hasCount {
		replyZ(w, out, true)
		return nil
	}
	w.array(2 * len(out))
	for _, z := range out {
		w.bulk(z.member)
		w.double(z.score)
	}
	return nil
}

// zremrangeCmd is ZREMRANGEBYSCORE, ZREMRANGEBYRANK and ZREMRANGEBYLEX.
func zremrangeCmd(t *tx, w *writer, args [][]byte) error {
	var rtype zrangeType
	switch {
	case eqFold(args[0], "zremrangebyscore"):
		rtype = zrangeScore
	case eqFold(args[0], "zremrangebyrank"):
		rtype = zrangeRank
	default:
		rtype = zrangeLex
	}
	var start, end int64
	var sr scoreRange
	var lr lexRange
	var err error
	switch rtype {
	case zrangeRank:
		if start, err = argInt(args[2]); err == nil {
			end, err = argInt(args[3])
		}
	case zrangeScore:
		sr, err = parseScoreRange(args[2], args[3])
	case zrangeLex:
		lr, err = parseLexRange(args[2], args[3])
	}
	if err != nil {
		return err
	}
	m, ok, err := t.lookupType(args[1], typeZSet)
	if err != nil {
		return err
	}
	if !ok {
		w.int(0)
		return nil
	}
	var out []zmember
	// fromBottom/toTop: the removed run starts at the lowest entry / ends
	// at the highest, so the watermarks can follow (sliding windows trim
	// with ZREMRANGEBYSCORE key -inf cutoff or ZREMRANGEBYRANK key 0 n).
	var fromBottom, toTop bool
	switch rtype {
	case zrangeRank:
		if s, e, nonEmpty := listRange(start, end, m.count); nonEmpty {
			out, err = t.zbyRank(&m, s, e, false)
			fromBottom, toTop = s == 0, e == m.count-1
		}
	case zrangeScore:
		out, err = t.zbyScore(&m, &sr, false, 0, -1)
		fromBottom = math.IsInf(sr.min, -1) && !sr.minex
		toTop = math.IsInf(sr.max, 1) && !sr.maxex
	case zrangeLex:
		out, err = t.zbyLex(&m, &lr, false, 0, -1)
	}
	if err != nil {
		return err
	}
	if err := t.zdelSpan(&m, out); err != nil {
		return err
	}
	if len(out) > 0 {
		if fromBottom {
			zcutBottom(&m, out[len(out)-1])
		}
		if toTop {
			zcutTop(&m, out[0])
		}
	}
	if len(out) > 0 {
		m.count -= int64(len(out))
		if err := t.zsave(args[1], &m); err != nil {
			return err
		}
	}
	w.int(int64(len(out)))
	return nil
}

// zscanCmd is ZSCAN key cursor [MATCH pattern] [COUNT count]. A zset of up
// to scanAllMax members is answered in one reply with cursor 0, in score
// order, as Redis does for a listpack zset; a bigger one in pages in member
// order (scan.go). Scores are strings, in RESP3 too.
func zscanCmd(t *tx, w *writer, args [][]byte) error {
	cursor, ok := parseCursor(args[2])
	if !ok {
		return errInvalidCursor
	}
	m, ok, err := t.lookupType(args[1], typeZSet)
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
		next, err := t.scanElems(&m, cursor, opts, func(member, v []byte) error {
			score, ok := decodeScore(v)
			if !ok {
				return fmt.Errorf("%w: zset member %q", ErrCorrupt, member)
			}
			items = append(items, member, t.copyOut(appendScore(nil, score)))
			return nil
		})
		if err != nil {
			return err
		}
		writeScanPage(w, next, items)
		return nil
	}
	it, err := t.zindexIter(&m, nil, nil)
	if err != nil {
		return err
	}
	all, err := t.zwalk(it, false, 0, -1, nil)
	if err != nil {
		return err
	}
	for _, z := range all {
		if opts.match == nil || globMatch(opts.match, z.member, false) {
			items = append(items, z.member, appendScore(nil, z.score))
		}
	}
	writeScanPage(w, 0, items)
	return nil
}

// zsetopKeys returns the keys of ZUNION/ZINTER/ZDIFF/ZINTERCARD numkeys key
// [key ...] [options] and of the STORE variants (destination first), or
// just the destination when numkeys is invalid (the handler replies with
// the error).
func zsetopKeys(args [][]byte) [][]byte {
	idx := 1
	var keys [][]byte
	if n := len(args[0]); n > 5 && eqFold(args[0][n-5:], "store") {
		idx = 2
		keys = append(keys, args[1])
	}
	n, ok := parseInt(args[idx])
	if !ok || n < 1 || n > int64(len(args)-idx-1) {
		return keys
	}
	return append(keys, args[idx+1:idx+1+int(n)]...)
}

type zaggregate uint8

const (
	zaggrSum zaggregate = iota
	zaggrMin
	zaggrMax
)

// zaggr folds val into *target as Redis's zunionInterAggregate: a SUM of
// +inf and -inf is 0, and a NaN val never wins MIN or MAX.
func zaggr(target *float64, val float64, a zaggregate) {
	switch a {
	case zaggrSum:
		*target += val
		if math.IsNaN(*target) {
			*target = 0
		}
	case zaggrMin:
		if val < *target {
			*target = val
		}
	case zaggrMax:
		if val > *target {
			*target = val
		}
	}
}

// zsetopSource is one input of a zset operation: a zset, or a set whose
// members all score 1; missing keys are empty (ok false).
type zsetopSource struct {
	m      meta
	ok     bool
	weight float64
	scores map[string]float64 // loaded lazily, member -> score
}

// zsetopLoad reads src's members and scores into memory.
func (t *tx) zsetopLoad(src *zsetopSource) error {
	if src.scores != nil || !src.ok {
		return nil
	}
	src.scores = make(map[string]float64, min(src.m.count, 1<<16))
	it, err := t.elemIter(src.m.gen)
	if err != nil {
		return err
	}
	for valid := it.First(); valid; valid = it.Next() {
		_, mem, _ := decodeElemKey(it.Key())
		score := 1.0
		if src.m.typ == typeZSet {
			v, err := it.ValueAndErr()
			if err != nil {
				_ = it.Close()
				return err
			}
			f, ok := decodeScore(v)
			if !ok {
				_ = it.Close()
				return ErrCorrupt
			}
			score = f
		}
		src.scores[string(mem)] = score
	}
	return it.Close()
}

// zsetopCmd serves ZUNION, ZINTER, ZDIFF, ZINTERCARD and ZUNIONSTORE,
// ZINTERSTORE, ZDIFFSTORE, following Redis's zunionInterDiffGenericCommand:
// numkeys, then the key types, then the options.
func zsetopCmd(t *tx, w *writer, args [][]byte) error {
	name := string(lower(args[0]))
	store := strings.HasSuffix(name, "store")
	cardOnly := name == "zintercard"
	var op byte // 'u', 'i' or 'd'
	switch name[1] {
	case 'u':
		op = 'u'
	case 'i':
		op = 'i'
	default:
		op = 'd'
	}
	idx := 1
	if store {
		idx = 2
	}
	setnum, err := argInt(args[idx])
	if err != nil {
		return err
	}
	if setnum < 1 {
		return replyErr("ERR at least 1 input key is needed for '" + name + "' command")
	}
	if setnum > int64(len(args)-idx-1) {
		return errSyntax
	}
	srcs := make([]zsetopSource, setnum)
	j := idx + 1
	for i := range srcs {
		m, ok, err := t.lookup(args[j])
		if err != nil {
			return err
		}
		if ok && m.typ != typeZSet && m.typ != typeSet {
			return errWrongType
		}
		srcs[i] = zsetopSource{m: m, ok: ok, weight: 1}
		j++
	}
	aggr := zaggrSum
	withScores := false
	var limit int64
	for j < len(args) {
		remaining := len(args) - j
		switch {
		case op != 'd' && !cardOnly && remaining >= int(setnum)+1 && eqFold(args[j], "weights"):
			j++
			for i := range srcs {
				f, ok := parseScore(args[j])
				if !ok {
					return errWeightFloat
				}
				srcs[i].weight = f
				j++
			}
		case op != 'd' && !cardOnly && remaining >= 2 && eqFold(args[j], "aggregate"):
			switch {
			case eqFold(args[j+1], "sum"):
				aggr = zaggrSum
			case eqFold(args[j+1], "min"):
				aggr = zaggrMin
			case eqFold(args[j+1], "max"):
				aggr = zaggrMax
			default:
				return errSyntax
			}
			j += 2
		case !store && !cardOnly && eqFold(args[j], "withscores"):
			withScores = true
			j++
		case cardOnly && remaining >= 2 && eqFold(args[j], "limit"):
			if limit, err = argNonNeg(args[j+1], errLimitNeg); err != nil {
				return err
			}
			j += 2
		default:
			return errSyntax
		}
	}
	out, err := t.zsetop(srcs, op, aggr)
	if err != nil {
		return err
	}
	switch {
	case cardOnly:
		n := int64(len(out))
		if limit > 0 && n > limit {
			n = limit
		}
		w.int(n)
	case store:
		if err := t.zstore(args[1], out); err != nil {
			return err
		}
		w.int(int64(len(out)))
	default:
		replyZ(w, out, withScores)
	}
	return nil
}

// zsetop computes a union, intersection or difference of srcs, sorted by
// score then member as a zset is.
func (t *tx) zsetop(srcs []zsetopSource, op byte, aggr zaggregate) ([]zmember, error) {
	for i := range srcs {
		if err := t.zsetopLoad(&srcs[i]); err != nil {
			return nil, err
		}
	}
	weighted := func(src *zsetopSource, score float64) float64 {
		v := src.weight * score
		if math.IsNaN(v) {
			return 0
		}
		return v
	}
	var out []zmember
	switch op {
	case 'd':
		if !srcs[0].ok {
			return nil, nil
		}
	members:
		for mem, score := range srcs[0].scores {
			for k := range srcs[1:] {
				if _, in := srcs[1+k].scores[mem]; in {
					continue members
				}
			}
			out = append(out, zmember{member: []byte(mem), score: weighted(&srcs[0], score)})
		}
	case 'i':
		for _, src := range srcs {
			if !src.ok {
				return nil, nil
			}
		}
		// Smallest first, as Redis sorts its inputs by cardinality: the
		// order of a SUM's additions follows.
		slices.SortStableFunc(srcs, func(a, b zsetopSource) int { return cmpInt64(a.m.count, b.m.count) })
	inter:
		for mem, s0 := range srcs[0].scores {
			score := weighted(&srcs[0], s0)
			for k := 1; k < len(srcs); k++ {
				v, in := srcs[k].scores[mem]
				if !in {
					continue inter
				}
				zaggr(&score, v*srcs[k].weight, aggr)
			}
			out = append(out, zmember{member: []byte(mem), score: score})
		}
	default:
		slices.SortStableFunc(srcs, func(a, b zsetopSource) int { return cmpInt64(a.m.count, b.m.count) })
		acc := map[string]float64{}
		for i := range srcs {
			for mem, s := range srcs[i].scores {
				v := weighted(&srcs[i], s)
				if cur, in := acc[mem]; in {
					zaggr(&cur, v, aggr)
					acc[mem] = cur
				} else {
					acc[mem] = v
				}
			}
		}
		for mem, score := range acc {
			out = append(out, zmember{member: []byte(mem), score: score})
		}
	}
	slices.SortFunc(out, func(a, b zmember) int {
		switch {
		case a.score < b.score:
			return -1
		case a.score > b.score:
			return 1
		}
		return bytes.Compare(a.member, b.member)
	})
	return out, nil
}

// parseMinMax parses ZMPOP's MIN or MAX; min reports MIN.
func parseMinMax(p []byte) (min bool, err error) {
	switch {
	case eqFold(p, "min"):
		return true, nil
	case eqFold(p, "max"):
		return false, nil
	}
	return false, errSyntax
}

// zmpopCmd is ZMPOP numkeys key [key ...] MIN|MAX [COUNT count]: pops from
// the first non-empty zset, replying [key, [[member, score] ...]] (nested
// in RESP2 too).
func zmpopCmd(t *tx, w *writer, args [][]byte) error {
	keys, fromMin, count, err := parseMpop(args, parseMinMax)
	if err != nil {
		return err
	}
	for _, key := range keys {
		m, ok, err := t.lookupType(key, typeZSet)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		it, err := t.zindexIter(&m, nil, nil)
		if err != nil {
			return err
		}
		out, err := t.zwalk(it, !fromMin, 0, count, nil)
		if err != nil {
			return err
		}
		if err := t.zdelSpan(&m, out); err != nil {
			return err
		}
		if len(out) > 0 {
			if fromMin {
				zcutBottom(&m, out[len(out)-1])
			} else {
				zcutTop(&m, out[len(out)-1])
			}
		}
		m.count -= int64(len(out))
		if err := t.zsave(key, &m); err != nil {
			return err
		}
		w.array(2)
		w.bulk(key)
		w.array(len(out))
		for _, z := range out {
			w.array(2)
			w.bulk(z.member)
			w.double(z.score)
		}
		return nil
	}
	w.nullArray()
	return nil
}

// zrandmemberCmd is ZRANDMEMBER key [count [WITHSCORES]]. A count covering
// the whole zset returns it from the highest entry down, as Redis does for a
// zset in listpack encoding.
func zrandmemberCmd(t *tx, w *writer, args [][]byte) error {
	if len(args) == 2 {
		m, ok, err := t.lookupType(args[1], typeZSet)
		if err != nil {
			return err
		}
		if !ok {
			w.null()
			return nil
		}
		ms, err := t.setRandom(&m, 1, true)
		if err != nil {
			return err
		}
		w.bulk(ms[0])
		return nil
	}
	count, err := argInt(args[2])
	if err != nil {
		return err
	}
	if count == minInt64 {
		return errRangeSigned
	}
	withScores := false
	if len(args) > 4 || (len(args) == 4 && !eqFold(args[3], "withscores")) {
		return errSyntax
	}
	if len(args) == 4 {
		withScores = true
		if count < -maxInt64/2 || count > maxInt64/2 {
			return replyErr("ERR value is out of range")
		}
	}
	if count < -srandMaxRepeated {
		return errSrandTooMany
	}
	m, ok, err := t.lookupType(args[1], typeZSet)
	if err != nil {
		return err
	}
	if !ok || count == 0 {
		w.array(0)
		return nil
	}
	var out []zmember
	switch {
	case count >= m.count:
		it, err := t.zindexIter(&m, nil, nil)
		if err != nil {
			return err
		}
		if out, err = t.zwalk(it, true, 0, -1, nil); err != nil {
			return err
		}
	default:
		n, unique := count, true
		if count < 0 {
			n, unique = -count, false
		}
		members, err := t.setRandom(&m, n, unique)
		if err != nil {
			return err
		}
		out = make([]zmember, len(members))
		for i, mem := range members {
			score, ok, err := t.zscore(&m, mem)
			if err != nil {
				return err
			}
			if !ok {
				return errCountMismatch(args[1], m.count, int64(i))
			}
			out[i] = zmember{member: mem, score: score}
		}
	}
	replyZ(w, out, withScores)
	return nil
}
