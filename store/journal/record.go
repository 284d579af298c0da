package journal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
)

// Kind says what a record states about its key.
type Kind uint8

const (
	// KindSet: after this record the key holds Value, of Type, expiring at
	// ExpireAtMs (never when 0).
	KindSet Kind = 1
	// KindDelete: after this record the key does not exist. Type, Value and
	// ExpireAtMs are not stored (they read back as zero).
	KindDelete Kind = 2
)

// String returns "set", "delete" or "kind(N)".
func (k Kind) String() string {
	switch k {
	case KindSet:
		return "set"
	case KindDelete:
		return "delete"
	}
	return "kind(" + itoa(uint64(k)) + ")"
}

// Entry is the state of one key after a write. Records hold states, not
// operations, so applying the same record twice gives the same result and
// replay is idempotent.
type Entry struct {
	// Seq is the record's sequence number, set by Replay. Append assigns it
	// and returns it without writing it into the caller's Entry (a value
	// set there is ignored). Seqs start at 1 and are strictly increasing
	// across restarts, without gaps inside the journal.
	Seq uint64
	// DB is the logical database number, 0 <= DB <= math.MaxUint32.
	DB int
	// Key is the key; it may be empty.
	Key []byte
	// Kind is KindSet or KindDelete.
	Kind Kind
	// Type is the caller's type tag (string, hash, ...); the journal stores it
	// without interpreting it.
	Type byte
	// Value is the caller's encoding of the value; opaque to the journal.
	Value []byte
	// ExpireAtMs is the absolute expiry in unix milliseconds; 0 = no expiry.
	ExpireAtMs int64
}

const (
	// frameHeaderSize is the length (4) and the checksum (4) before each payload.
	frameHeaderSize = 8
	// payloadFixedSize is the payload without key and value bytes.
	payloadFixedSize = 32
	// payloadVersion1 is the only payload layout so far (see doc.go).
	payloadVersion1 = 1

	// MaxRecordSize is the largest payload (32 bytes plus key and value) a
	// record may have, in bytes. Larger entries are refused by Append with
	// ErrTooLarge. It bounds what a corrupt length field can make replay
	// allocate, together with the file size.
	MaxRecordSize = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// recordSize is the number of bytes e takes on disk, frame included.
func recordSize(e *Entry) int {
	if e.Kind == KindDelete {
		return frameHeaderSize + payloadFixedSize + len(e.Key)
	}
	return frameHeaderSize + payloadFixedSize + len(e.Key) + len(e.Value)
}

// checkEntry returns ErrTooLarge or a wrapped ErrInvalidEntry when e cannot
// be journaled.
func checkEntry(e *Entry) error {
	var r string
	switch {
	case e.Kind != KindSet && e.Kind != KindDelete:
		r = "invalid kind " + e.Kind.String()
	case e.DB < 0 || uint64(e.DB) > 1<<32-1:
		r = "db " + strconv.Itoa(e.DB) + " out of range"
	case e.ExpireAtMs < 0:
		r = "negative ExpireAtMs"
	case recordSize(e)-frameHeaderSize > MaxRecordSize:
		return ErrTooLarge
	default:
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidEntry, r)
}

// appendRecord appends the framed encoding of e, with sequence number seq,
// to dst. e must have passed validEntry. Written for the hot path: no
// allocation beyond growing dst, one pass of CRC32C over the bytes.
func appendRecord(dst []byte, e *Entry, seq uint64) []byte {
	value, typ, exp := e.Value, e.Type, e.ExpireAtMs
	if e.Kind == KindDelete {
		value, typ, exp = nil, 0, 0
	}
	n := payloadFixedSize + len(e.Key) + len(value)
	start := len(dst)
	dst = grow(dst, frameHeaderSize+n)
	b := dst[start:]
	binary.LittleEndian.PutUint32(b[0:4], uint32(n))
	p := b[frameHeaderSize:]
	p[0] = payloadVersion1
	p[1] = byte(e.Kind)
	p[2] = typ
	p[3] = 0
	binary.LittleEndian.PutUint64(p[4:12], seq)
	binary.LittleEndian.PutUint64(p[12:20], uint64(exp))
	binary.LittleEndian.PutUint32(p[20:24], uint32(e.DB))
	binary.LittleEndian.PutUint32(p[24:28], uint32(len(e.Key)))
	copy(p[28:], e.Key)
	v := p[28+len(e.Key):]
	binary.LittleEndian.PutUint32(v[0:4], uint32(len(value)))
	copy(v[4:], value)
	binary.LittleEndian.PutUint32(b[4:8], frameCRC(b[0:4], p))
	return dst
}

// frameCRC covers the length field too, so that a flipped length is caught
// even when it happens to land on another plausible frame boundary.
func frameCRC(length, payload []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, length), castagnoli, payload)
}

func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

// decodeStatus classifies why a frame did not decode.
type decodeStatus int

const (
	decodeOK decodeStatus = iota
	// decodeShort: the bytes end before the frame does (a torn write, or a
	// corrupt length pointing past the end).
	decodeShort
	// decodeBadLength: the length field is outside [32, MaxRecordSize].
	decodeBadLength
	// decodeBadCRC: the checksum does not match.
	decodeBadCRC
	// decodeMalformed: the checksum matches but the payload is not a valid
	// version-1 payload.
	decodeMalformed
)

func (s decodeStatus) String() string {
	switch s {
	case decodeOK:
		return "ok"
	case decodeShort:
		return "truncated record"
	case decodeBadLength:
		return "invalid record length"
	case decodeBadCRC:
		return "checksum mismatch"
	case decodeMalformed:
		return "malformed record payload"
	}
	return "unknown"
}

// frameLen reads the payload length from a frame header (b has at least 4 bytes).
func frameLen(b []byte) (int, decodeStatus) {
	n := binary.LittleEndian.Uint32(b[0:4])
	if n < payloadFixedSize || n > MaxRecordSize {
		return 0, decodeBadLength
	}
	return int(n), decodeOK
}

// decodeRecord decodes the frame at the start of b into e. Key and Value of
// e alias b. It returns the frame's total size. Only the canonical encoding
// is accepted: appendRecord(nil, e, e.Seq) reproduces b[:size] exactly.
func decodeRecord(b []byte, e *Entry) (size int, st decodeStatus) {
	if len(b) < frameHeaderSize {
		return 0, decodeShort
	}
	n, st := frameLen(b)
	if st != decodeOK {
		return 0, st
	}
	if len(b)-frameHeaderSize < n {
		return 0, decodeShort
	}
	p := b[frameHeaderSize : frameHeaderSize+n]
	if binary.LittleEndian.Uint32(b[4:8]) != frameCRC(b[0:4], p) {
		return 0, decodeBadCRC
	}
	if !decodePayload(p, e) {
		return 0, decodeMalformed
	}
	return frameHeaderSize + n, decodeOK
}

// decodePayload decodes a checksummed payload; false when malformed.
func decodePayload(p []byte, e *Entry) bool {
	if len(p) < payloadFixedSize || p[0] != payloadVersion1 || p[3] != 0 {
		return false
	}
	kind := Kind(p[1])
	seq := binary.LittleEndian.Uint64(p[4:12])
	exp := int64(binary.LittleEndian.Uint64(p[12:20]))
	db := binary.LittleEndian.Uint32(p[20:24])
	klen := uint64(binary.LittleEndian.Uint32(p[24:28]))
	if seq == 0 || exp < 0 || klen > uint64(len(p)-payloadFixedSize) {
		return false
	}
	key := p[28 : 28+klen]
	v := p[28+klen:]
	vlen := uint64(binary.LittleEndian.Uint32(v[0:4]))
	if vlen != uint64(len(v)-4) {
		return false
	}
	value := v[4:]
	switch kind {
	case KindSet:
	case KindDelete:
		if p[2] != 0 || exp != 0 || vlen != 0 {
			return false
		}
		value = nil
	default:
		return false
	}
	*e = Entry{Seq: seq, DB: int(db), Key: key, Kind: kind, Type: p[2], Value: value, ExpireAtMs: exp}
	return true
}

// itoa formats v without fmt (used in error paths that must not allocate
// much and in String methods).
func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return string(b[i:])
}
