package proxy

import (
	"encoding/binary"
	"strconv"
	"time"
)

// Cached values. The cache stores bytes with a type tag; the proxy's
// layout of those bytes is:
//
//	flags (1 byte) | expire-at (8 bytes, unix ms, little endian; only when
//	flagExpiry) | payload
//
// The upstream's own expiry is kept (not only the local TTL, which
// cache.ttl and namespace caps may shorten) so that TTL and PTTL can be
// answered locally. Payloads by tag:
//
//	tagString  the string's bytes
//	tagHash    uvarint n, then n times: uvarint len, field, uvarint len,
//	           value; in the order HGETALL returned them
//	tagAbsent  empty: the key does not exist (negative caching)
//	tagTooBig  empty: a hash too large to cache; its reads pass through
const (
	tagString byte = 1 + iota
	tagHash
	tagAbsent
	tagTooBig
)

const (
	flagExpiry   = 1 << iota
	flagListpack // a hash Redis keeps in insertion order
)

// cval is a decoded cached value; its slices alias the encoded bytes.
type cval struct {
	tag      byte
	flags    byte  // flagExpiry, flagListpack
	expireAt int64 // unix ms; 0 = no expiry
	payload  []byte
}

func decodeCval(tag byte, b []byte) (cval, bool) {
	if len(b) < 1 {
		return cval{}, false
	}
	v := cval{tag: tag, flags: b[0]}
	if b[0]&flagExpiry != 0 {
		if len(b) < 9 {
			return cval{}, false
		}
		v.expireAt = int64(binary.LittleEndian.Uint64(b[1:9]))
		v.payload = b[9:]
	} else {
		v.payload = b[1:]
	}
	return v, true
}

// appendCvalHeader starts an encoded value expiring at expireAt (0: never).
func appendCvalHeader(b []byte, expireAt int64) []byte {
	if expireAt == 0 {
		return append(b, 0)
	}
	b = append(b, flagExpiry)
	return binary.LittleEndian.AppendUint64(b, uint64(expireAt))
}

// localTTL is the cache TTL for an upstream expiry (0 = none). The cache
// rounds expiries up to the next millisecond, so a millisecond is taken off:
// the local copy expires no later than expireAt, while Redis still has the
// key through expireAt. An item that is already due gets a negative TTL,
// which the cache treats as a delete.
func localTTL(expireAt int64, now time.Time) time.Duration {
	if expireAt == 0 {
		return 0
	}
	d := time.UnixMilli(expireAt).Sub(now) - time.Millisecond
	if d <= 0 {
		return -1
	}
	return d
}

// hashFields iterates the fields of a tagHash payload.
type hashFields struct {
	b    []byte
	left uint64
}

func newHashFields(payload []byte) (hashFields, bool) {
	n, k := binary.Uvarint(payload)
	if k <= 0 {
		return hashFields{}, false
	}
	return hashFields{b: payload[k:], left: n}, true
}

func (h *hashFields) len() int { return int(h.left) }

func (h *hashFields) next() (field, value []byte, ok bool) {
	if h.left == 0 {
		return nil, nil, false
	}
	field, ok = h.chunk()
	if !ok {
		return nil, nil, false
	}
	value, ok = h.chunk()
	if !ok {
		return nil, nil, false
	}
	h.left--
	return field, value, true
}

func (h *hashFields) chunk() ([]byte, bool) {
	n, k := binary.Uvarint(h.b)
	if k <= 0 || uint64(len(h.b)-k) < n {
		return nil, false
	}
	c := h.b[k : k+int(n)]
	h.b = h.b[k+int(n):]
	return c, true
}

// appendHashPayload encodes HGETALL's field/value frames (already reduced
// to their payloads, alternating).
func appendHashPayload(b []byte, fv [][]byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(fv)/2))
	for _, x := range fv {
		b = binary.AppendUvarint(b, uint64(len(x)))
		b = append(b, x...)
	}
	return b
}

// pttlOf is PTTL's answer for an item: -1 without expiry.
func pttlOf(v cval, now time.Time) int64 {
	if v.expireAt == 0 {
		return -1
	}
	return max(v.expireAt-now.UnixMilli(), 0)
}

func appendIntReply(b []byte, v int64) []byte {
	b = append(b, ':')
	b = strconv.AppendInt(b, v, 10)
	return append(b, "\r\n"...)
}
