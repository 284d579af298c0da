package pool

import "encoding/binary"

// Item flag bits, the first byte of every encoded item.
const (
	flagLive    = 1 << 0 // cleared by Free; compaction skips dead items
	flagExpire  = 1 << 1 // an expiry varint follows
	flagVersion = 1 << 2 // a version varint follows
	flagDirty   = 1 << 3 // not yet written back (the pool only stores it)
	flagNS      = 1 << 4 // a namespace byte follows
	flagDB      = 1 << 5 // a db varint follows
	flagsKnown  = flagLive | flagExpire | flagVersion | flagDirty | flagNS | flagDB
)

// Item is what the caller stores. Key and Value are copied into the pool by
// Put; the Item itself is not retained.
type Item struct {
	Key   []byte
	Value []byte
	// Type is an opaque tag byte (string, hash, ...), stored as is.
	Type byte
	// NS is the namespace the item is charged to (0 = default); the pool
	// keeps live bytes per namespace.
	NS uint8
	// DB is the logical database number.
	DB uint32
	// Expire is an opaque expiry stamp in the caller's unit; 0 means none.
	// The pool only compares it with the now passed to Expired.
	Expire uint64
	// Version is an opaque version; 0 means none and costs no bytes.
	Version uint64
	// Dirty marks write-back state; the pool stores the bit and reports it.
	Dirty bool
}

// Size is the number of pool bytes the encoded item occupies: a flag byte,
// the type byte, varint lengths and only the optional fields that are set.
// A 16-byte key with a 64-byte value and no expiry takes 84 bytes.
func (it *Item) Size() int {
	n := 2 + uvarintLen(uint64(len(it.Key))) + uvarintLen(uint64(len(it.Value))) + len(it.Key) + len(it.Value)
	if it.NS != 0 {
		n++
	}
	if it.DB != 0 {
		n += uvarintLen(uint64(it.DB))
	}
	if it.Expire != 0 {
		n += uvarintLen(it.Expire)
	}
	if it.Version != 0 {
		n += uvarintLen(it.Version)
	}
	return n
}

// encode writes the item at the start of b, which must hold Size() bytes.
func (it *Item) encode(b []byte) int {
	f := byte(flagLive)
	if it.Expire != 0 {
		f |= flagExpire
	}
	if it.Version != 0 {
		f |= flagVersion
	}
	if it.Dirty {
		f |= flagDirty
	}
	if it.NS != 0 {
		f |= flagNS
	}
	if it.DB != 0 {
		f |= flagDB
	}
	b[0] = f
	b[1] = it.Type
	n := 2
	if it.NS != 0 {
		b[n] = it.NS
		n++
	}
	if it.DB != 0 {
		n += binary.PutUvarint(b[n:], uint64(it.DB))
	}
	n += binary.PutUvarint(b[n:], uint64(len(it.Key)))
	n += binary.PutUvarint(b[n:], uint64(len(it.Value)))
	if it.Expire != 0 {
		n += binary.PutUvarint(b[n:], it.Expire)
	}
	if it.Version != 0 {
		n += binary.PutUvarint(b[n:], it.Version)
	}
	n += copy(b[n:], it.Key)
	n += copy(b[n:], it.Value)
	return n
}

// View is a decoded item. Key and Value alias pool memory: they stay valid
// only while the item is live and the caller keeps it from being freed or
// moved (the cache holds the item's shard lock). Copy them out to keep them.
type View struct {
	Flags   byte
	Type    byte
	NS      uint8
	DB      uint32
	Expire  uint64
	Version uint64
	Key     []byte
	Value   []byte
	// Size is the encoded size in bytes.
	Size int
}

// Live reports whether the item has not been freed.
func (v *View) Live() bool { return v.Flags&flagLive != 0 }

// Dirty reports the dirty bit stored with the item.
func (v *View) Dirty() bool { return v.Flags&flagDirty != 0 }

// decode parses the item at the start of b. It returns false when b does not
// hold a well-formed item (only possible for corrupt input: the fuzz target
// feeds it arbitrary bytes).
func decode(b []byte, v *View) bool {
	if len(b) < 4 {
		return false
	}
	f := b[0]
	// Fast path: no optional fields and one-byte lengths (small items).
	if f&^(flagLive|flagDirty) == 0 && b[2] < 0x80 && b[3] < 0x80 {
		kl, vl := int(b[2]), int(b[3])
		if 4+kl+vl > len(b) {
			return false
		}
		v.Flags, v.Type, v.NS, v.DB, v.Expire, v.Version = f, b[1], 0, 0, 0, 0
		v.Key = b[4 : 4+kl : 4+kl]
		v.Value = b[4+kl : 4+kl+vl : 4+kl+vl]
		v.Size = 4 + kl + vl
		return true
	}
	if f&^flagsKnown != 0 {
		return false
	}
	v.Flags = f
	v.Type = b[1]
	n := 2
	v.NS, v.DB, v.Expire, v.Version = 0, 0, 0, 0
	if f&flagNS != 0 {
		if n >= len(b) {
			return false
		}
		v.NS = b[n]
		n++
	}
	var x uint64
	var k int
	if f&flagDB != 0 {
		if x, k = binary.Uvarint(b[n:]); k <= 0 || x > 1<<32-1 {
			return false
		}
		v.DB = uint32(x)
		n += k
	}
	kl, k := binary.Uvarint(b[n:])
	if k <= 0 {
		return false
	}
	n += k
	vl, k := binary.Uvarint(b[n:])
	if k <= 0 {
		return false
	}
	n += k
	if f&flagExpire != 0 {
		if x, k = binary.Uvarint(b[n:]); k <= 0 {
			return false
		}
		v.Expire = x
		n += k
	}
	if f&flagVersion != 0 {
		if x, k = binary.Uvarint(b[n:]); k <= 0 {
			return false
		}
		v.Version = x
		n += k
	}
	if kl > uint64(len(b)-n) || vl > uint64(len(b)-n)-kl {
		return false
	}
	v.Key = b[n : n+int(kl) : n+int(kl)]
	n += int(kl)
	v.Value = b[n : n+int(vl) : n+int(vl)]
	n += int(vl)
	v.Size = n
	return true
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}
