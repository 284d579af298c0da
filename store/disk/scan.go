package disk

import (
	"bytes"
	"encoding/binary"
)

// Cursored HSCAN, SSCAN and ZSCAN.
//
// Redis answers HSCAN/SSCAN/ZSCAN of a small collection (listpack or intset
// encoding) with every element at once and cursor 0, whatever the cursor
// and COUNT; only a hash table is walked COUNT buckets at a time. The
// engine does the same below the sizes where Redis leaves the compact
// encodings (scanAllMax), so small collections answer byte for byte as
// Redis does, and pages bigger ones:
//
// A page walks the elements ('e' gen member) in member byte order. The
// cursor is the first 8 bytes of the next member, zero-padded, as a
// big-endian integer: a position, like SCAN's hash cursor, so there is no
// server-side state and every element present for the whole iteration is
// returned. A page never ends between two members whose 8-byte prefixes
// are equal (it may run past COUNT to finish such a run), so resuming at
// the prefix never skips an element nor stalls; members sharing longer
// prefixes therefore come in larger pages. A member returned may be
// returned again only if members were added to its run meanwhile. MATCH
// filters after COUNT elements were read, as Redis does, so a page may be
// short or empty with a non-zero cursor. Cursor 0 never resumes: the
// members whose prefix is 0 (the empty member, NUL bytes) sort first and
// the first page always takes their whole run.

// scanAllMax returns how many elements a collection of type typ may have
// for HSCAN/SSCAN/ZSCAN to answer it in one reply: Redis's default
// hash-max-listpack-entries, set-max-intset-entries and
// zset-max-listpack-entries. (Redis also leaves the compact encoding for
// long values and non-integer set members; the engine does not look at
// them, so such collections up to these sizes are answered in one reply,
// which SCAN's contract allows.)
func scanAllMax(typ keyType) int64 {
	if typ == typeSet {
		return 512
	}
	return 128
}

// scanPaged reports whether HSCAN/SSCAN/ZSCAN of m is answered in pages.
func scanPaged(m *meta) bool { return m.count > scanAllMax(m.typ) }

// scanCursorOf returns the cursor that resumes at member: its first 8
// bytes, zero-padded, big-endian.
func scanCursorOf(member []byte) uint64 {
	var b [8]byte
	copy(b[:], member)
	return binary.BigEndian.Uint64(b[:])
}

// scanResume returns the smallest member a cursor resumes at: the cursor's
// bytes without trailing zeros (so that a member shorter than 8 bytes, or
// ending in NUL bytes, is not skipped).
func scanResume(cursor uint64) []byte {
	b := binary.BigEndian.AppendUint64(nil, cursor)
	return bytes.TrimRight(b, "\x00")
}

// scanElems reads one page of the elements of the collection m from cursor:
// at least opts.count elements (unless the collection ends), then the rest
// of the last one's 8-byte-prefix run. It calls emit with each element that
// matches opts.match (member and value are valid until the command
// returns) and returns the cursor of the next page, 0 at the end.
func (t *tx) scanElems(m *meta, cursor uint64, opts scanOpts, emit func(member, value []byte) error) (uint64, error) {
	lo, hi := elemBounds(m.gen)
	if cursor != 0 {
		lo = appendElemKey(nil, m.gen, scanResume(cursor))
	}
	it, err := t.iter(lo, hi)
	if err != nil {
		return 0, err
	}
	var next, last uint64
	var seen int64
	for valid := it.First(); valid; valid = it.Next() {
		_, member, ok := decodeElemKey(it.Key())
		if !ok {
			continue
		}
		p := scanCursorOf(member)
		if seen >= opts.count && p != last {
			next = p
			break
		}
		seen++
		last = p
		if opts.match != nil && !globMatch(opts.match, member, false) {
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return 0, err
		}
		if err := emit(t.copyOut(member), t.copyOut(v)); err != nil {
			_ = it.Close()
			return 0, err
		}
	}
	if err := it.Close(); err != nil {
		return 0, err
	}
	return next, nil
}

// writeScanPage writes a SCAN-family reply: [cursor, [items...]].
func writeScanPage(w *writer, cursor uint64, items [][]byte) {
	w.array(2)
	w.bulkUint(cursor)
	w.array(len(items))
	for _, it := range items {
		w.bulk(it)
	}
}
