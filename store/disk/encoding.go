package disk

import (
	"encoding/binary"
	"math"
)

// Key prefixes of the on-disk layout (see doc.go). One byte each, so that a
// whole key space is one contiguous pebble range.
const (
	prefixMeta   = 'm' // 'm' db hash64(key) key            -> meta record
	prefixExpire = 'x' // 'x' at(8) db key                   -> empty (TTL index)
	prefixElem   = 'e' // 'e' gen(8) member                  -> element value
	prefixScore  = 'z' // 'z' gen(8) sortableFloat(8) member -> empty (zset score index)
	prefixSys    = 's' // 's' name                           -> store-wide records
)

// metaVersion is the encoding version written in byte 0 of every meta
// record. A reader that meets another version refuses it (errCorrupt) rather
// than guessing.
const metaVersion = 1

// metaHeaderLen is the fixed part of a meta record:
// version(1) type(1) expire(8) gen(8) count(8), followed by the payload.
const metaHeaderLen = 26

// keyType is the Redis type of a key as stored in its meta record.
type keyType uint8

const (
	typeNone keyType = iota
	typeString
	typeHash
	typeList
	typeSet
	typeZSet
	typeMax // first invalid value
)

// String returns the name TYPE replies with.
func (t keyType) String() string {
	switch t {
	case typeString:
		return "string"
	case typeHash:
		return "hash"
	case typeList:
		return "list"
	case typeSet:
		return "set"
	case typeZSet:
		return "zset"
	}
	return "none"
}

// parseType maps a TYPE name (SCAN ... TYPE t) to a keyType; unknown names
// give typeNone, which matches no key, as in Redis.
func parseType(name []byte) keyType {
	switch string(lower(name)) {
	case "string":
		return typeString
	case "hash":
		return typeHash
	case "list":
		return typeList
	case "set":
		return typeSet
	case "zset":
		return typeZSet
	}
	return typeNone
}

// meta is the decoded per-key metadata record.
type meta struct {
	typ    keyType
	expire int64  // unix milliseconds; 0 = no expiry
	gen    uint64 // element namespace; unique for the store's lifetime, 0 for strings
	count  int64  // number of elements (hash fields, list items, members); 0 for strings
	// payload is the type-specific tail (layout in doc.go): a string's
	// value; a hash's next insertion number (8 bytes, or empty for 0); a
	// list's head and tail indexes (16 bytes, appendListPayload); nothing
	// for a set; a zset's lo and hi score watermarks (16 bytes, zmarks).
	// It aliases the buffer it was decoded from unless the accessor copied
	// it.
	payload []byte
}

// appendMeta appends the encoding of m to dst.
func appendMeta(dst []byte, m *meta) []byte {
	dst = append(dst, metaVersion, byte(m.typ))
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.expire))
	dst = binary.BigEndian.AppendUint64(dst, m.gen)
	dst = binary.BigEndian.AppendUint64(dst, uint64(m.count))
	return append(dst, m.payload...)
}

// decodeMeta decodes a meta record; the payload aliases b.
func decodeMeta(b []byte) (meta, error) {
	if len(b) < metaHeaderLen || b[0] != metaVersion {
		return meta{}, errCorrupt
	}
	m := meta{
		typ:     keyType(b[1]),
		expire:  int64(binary.BigEndian.Uint64(b[2:])),
		gen:     binary.BigEndian.Uint64(b[10:]),
		count:   int64(binary.BigEndian.Uint64(b[18:])),
		payload: b[metaHeaderLen:],
	}
	if m.typ == typeNone || m.typ >= typeMax || m.expire < 0 || m.count < 0 {
		return meta{}, errCorrupt
	}
	return m, nil
}

// deadMeta is the value of a meta record whose key was deleted: a dead
// marker, version byte plus type 0 (typeNone, which no live record has).
// Deletes write it instead of a pebble tombstone so that looking the key up
// again stays one seek (see tx.killMeta); the collector replaces it with a
// real delete later. Every reader of meta records treats it as absent.
var deadMeta = []byte{metaVersion, byte(typeNone)}

// isDeadMeta reports whether the meta record value v is a dead marker.
func isDeadMeta(v []byte) bool {
	return len(v) == 2 && v[0] == metaVersion && v[1] == byte(typeNone)
}

// keyHash is the 64-bit FNV-1a hash of a user key. It orders the meta key
// space (so that SCAN's cursor is a position in hash order and RANDOMKEY can
// seek to a random point) and picks a key's lock stripe. It must never change:
// it is part of the on-disk layout.
func keyHash(key []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range key {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// appendMetaKey appends the meta key of (db, key): 'm' db hash64 key.
func appendMetaKey(dst []byte, db uint8, key []byte) []byte {
	dst = append(dst, prefixMeta, db)
	dst = binary.BigEndian.AppendUint64(dst, keyHash(key))
	return append(dst, key...)
}

// metaDBPrefix returns the bounds [lo, hi) of db's meta records.
func metaDBBounds(db uint8) (lo, hi []byte) {
	return []byte{prefixMeta, db}, []byte{prefixMeta, db + 1}
}

// decodeMetaKey splits a meta key into its parts; ok is false when b is not
// a well-formed meta key. key aliases b.
func decodeMetaKey(b []byte) (db uint8, hash uint64, key []byte, ok bool) {
	if len(b) < 10 || b[0] != prefixMeta {
		return 0, 0, nil, false
	}
	hash = binary.BigEndian.Uint64(b[2:])
	key = b[10:]
	if keyHash(key) != hash {
		return 0, 0, nil, false
	}
	return b[1], hash, key, true
}

// appendExpireKey appends the TTL-index key of (db, key) expiring at ms.
func appendExpireKey(dst []byte, at int64, db uint8, key []byte) []byte {
	dst = append(dst, prefixExpire)
	dst = binary.BigEndian.AppendUint64(dst, uint64(at))
	dst = append(dst, db)
	return append(dst, key...)
}

// decodeExpireKey splits a TTL-index key; key aliases b.
func decodeExpireKey(b []byte) (at int64, db uint8, key []byte, ok bool) {
	if len(b) < 10 || b[0] != prefixExpire {
		return 0, 0, nil, false
	}
	at = int64(binary.BigEndian.Uint64(b[1:]))
	if at < 0 {
		return 0, 0, nil, false
	}
	return at, b[9], b[10:], true
}

// appendElemKey appends the element key 'e' gen member. Hash fields, set
// members, zset members (value = score) and list items (member =
// appendListIndex) all live here; gen keeps collections apart.
func appendElemKey(dst []byte, gen uint64, member []byte) []byte {
	dst = append(dst, prefixElem)
	dst = binary.BigEndian.AppendUint64(dst, gen)
	return append(dst, member...)
}

// elemBounds returns [lo, hi) covering every element of gen.
func elemBounds(gen uint64) (lo, hi []byte) {
	return appendElemKey(nil, gen, nil), appendElemKey(nil, gen+1, nil)
}

// decodeElemKey returns the member part of an element key; it aliases b.
func decodeElemKey(b []byte) (gen uint64, member []byte, ok bool) {
	if len(b) < 9 || b[0] != prefixElem {
		return 0, nil, false
	}
	return binary.BigEndian.Uint64(b[1:]), b[9:], true
}

// appendScoreKey appends the zset score-index key 'z' gen score member,
// ordered by score then member, as ZRANGE needs.
func appendScoreKey(dst []byte, gen uint64, score float64, member []byte) []byte {
	dst = append(dst, prefixScore)
	dst = binary.BigEndian.AppendUint64(dst, gen)
	dst = binary.BigEndian.AppendUint64(dst, sortableFloat(score))
	return append(dst, member...)
}

// scoreBounds returns [lo, hi) covering the score index of gen.
func scoreBounds(gen uint64) (lo, hi []byte) {
	lo = binary.BigEndian.AppendUint64([]byte{prefixScore}, gen)
	hi = binary.BigEndian.AppendUint64([]byte{prefixScore}, gen+1)
	return lo, hi
}

// decodeScoreKey splits a score-index key; member aliases b.
func decodeScoreKey(b []byte) (gen uint64, score float64, member []byte, ok bool) {
	if len(b) < 17 || b[0] != prefixScore {
		return 0, 0, nil, false
	}
	return binary.BigEndian.Uint64(b[1:]), unsortableFloat(binary.BigEndian.Uint64(b[9:])), b[17:], true
}

// sortableFloat maps a float64 to a uint64 whose big-endian bytes sort in the
// float's numeric order (-inf < ... < -0 = +0 < ... < +inf). -0 is stored
// as +0, as Redis treats them alike.
func sortableFloat(f float64) uint64 {
	if f == 0 {
		f = 0
	}
	u := math.Float64bits(f)
	if u&(1<<63) != 0 {
		return ^u
	}
	return u | 1<<63
}

// unsortableFloat inverts sortableFloat.
func unsortableFloat(u uint64) float64 {
	if u&(1<<63) != 0 {
		return math.Float64frombits(u &^ (1 << 63))
	}
	return math.Float64frombits(^u)
}

// appendListIndex appends the member bytes of a list item at index i: the
// index with its sign bit flipped, big-endian, so items sort by index and
// LPUSH can grow the list downwards past 0.
func appendListIndex(dst []byte, i int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(i)^1<<63)
}

// decodeListIndex inverts appendListIndex.
func decodeListIndex(b []byte) (int64, bool) {
	if len(b) != 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(b) ^ 1<<63), true
}

// listPayload is the meta payload of a list: the index of its first item and
// one past its last (head <= tail; count = tail - head).
func appendListPayload(dst []byte, head, tail int64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(head))
	return binary.BigEndian.AppendUint64(dst, uint64(tail))
}

// decodeListPayload inverts appendListPayload.
func decodeListPayload(b []byte) (head, tail int64, ok bool) {
	if len(b) != 16 {
		return 0, 0, false
	}
	head, tail = int64(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint64(b[8:]))
	return head, tail, head <= tail
}

// sysKey names a store-wide record: 's' name.
func sysKey(name string) []byte { return append([]byte{prefixSys}, name...) }

// System record names.
const (
	sysDBMap  = "dbmap"  // logical -> physical db map, one byte per logical db
	sysLayout = "layout" // layout version of the store, one byte (metaVersion)
)
