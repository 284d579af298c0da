package journal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

const (
	segPrefix = "journal-"
	segSuffix = ".wal"
	// segHeaderSize is magic (8), format version (2), reserved (2), first
	// seq (8), CRC32C of the preceding 20 bytes (4).
	segHeaderSize    = 24
	segFormatVersion = 1
	// readBufferSize is the replay read-ahead; large enough that replay is
	// bound by checksumming, not by syscalls.
	readBufferSize = 256 << 10
)

var segMagic = [8]byte{'R', 'C', 'J', 'O', 'U', 'R', 'N', 'L'}

// segment is one journal file. Sealed segments are immutable and closed;
// the active one is open for writing.
type segment struct {
	first uint64 // seq of its first record (and the number in its name)
	last  uint64 // seq of its last record; first-1 while it has none
	size  int64  // bytes in the file that belong to the journal
	path  string

	// The fields below are guarded by Journal.mu.
	f      *os.File // open while active or while a sync still uses it; nil once closed
	refs   int      // syncs in progress on f (they run without Journal.mu)
	sealed bool     // no longer active: close f when refs drops to zero
}

func (s *segment) empty() bool { return s.last < s.first }

// release closes f once it is sealed and no sync uses it. Journal.mu held.
func (s *segment) releaseLocked() error {
	if s.sealed && s.refs == 0 && s.f != nil {
		err := s.f.Close()
		s.f = nil
		return err
	}
	return nil
}

func segmentName(first uint64) string {
	s := strconv.FormatUint(first, 10)
	return segPrefix + strings.Repeat("0", 20-len(s)) + s + segSuffix
}

// parseSegmentName returns the first seq encoded in a segment file name.
func parseSegmentName(name string) (uint64, bool) {
	if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
		return 0, false
	}
	digits := name[len(segPrefix) : len(name)-len(segSuffix)]
	if len(digits) != 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || v == 0 {
		return 0, false
	}
	return v, true
}

func encodeSegHeader(first uint64) []byte {
	b := make([]byte, segHeaderSize)
	copy(b[0:8], segMagic[:])
	binary.LittleEndian.PutUint16(b[8:10], segFormatVersion)
	binary.LittleEndian.PutUint64(b[12:20], first)
	binary.LittleEndian.PutUint32(b[20:24], crc32c(b[0:20]))
	return b
}

// checkSegHeader returns "" when b is a valid header for a segment whose
// name says first, else what is wrong.
func checkSegHeader(b []byte, first uint64) string {
	switch {
	case len(b) < segHeaderSize:
		return "segment header truncated"
	case [8]byte(b[0:8]) != segMagic:
		return "bad segment magic"
	case binary.LittleEndian.Uint32(b[20:24]) != crc32c(b[0:20]):
		return "segment header checksum mismatch"
	case binary.LittleEndian.Uint16(b[8:10]) != segFormatVersion:
		return "unsupported segment format version " + itoa(uint64(binary.LittleEndian.Uint16(b[8:10])))
	case binary.LittleEndian.Uint16(b[10:12]) != 0:
		return "nonzero reserved header bytes"
	case binary.LittleEndian.Uint64(b[12:20]) != first:
		return "header first seq " + itoa(binary.LittleEndian.Uint64(b[12:20])) + " does not match the file name"
	}
	return ""
}

// createSegment creates the segment file for first, writes and syncs its
// header and syncs dir so the new name survives a crash. A leftover file of
// that name can only come from an earlier failed creation (a live segment
// with that first seq would have no records, and empty segments are never
// rolled), so it is truncated. On error the file is removed.
func createSegment(dir string, first uint64) (s *segment, err error) {
	path := filepath.Join(dir, segmentName(first))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	if _, err := f.WriteAt(encodeSegHeader(first), 0); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	return &segment{first: first, last: first - 1, size: segHeaderSize, path: path, f: f}, nil
}

// syncDir makes creations, renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// listSegments returns dir's segments sorted by first seq, with their sizes.
func listSegments(dir string) ([]*segment, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var segs []*segment
	for _, de := range des {
		first, ok := parseSegmentName(de.Name())
		if !ok || !de.Type().IsRegular() {
			continue
		}
		info, err := de.Info()
		if err != nil {
			return nil, err
		}
		segs = append(segs, &segment{first: first, last: first - 1, size: info.Size(), path: filepath.Join(dir, de.Name())})
	}
	// os.ReadDir sorts by name and names are zero-padded, so this is seq order.
	return segs, nil
}

// scanner reads the records of one segment in order, from the end of the
// header up to end. It reuses one buffer: the Entry it fills aliases it
// until the next call.
type scanner struct {
	r   *bufio.Reader
	off int64 // offset of the next frame
	end int64
	hdr [frameHeaderSize]byte
	buf []byte
}

func newScanner(f *os.File, end int64) *scanner {
	return &scanner{
		r:   bufio.NewReaderSize(io.NewSectionReader(f, segHeaderSize, end-segHeaderSize), readBufferSize),
		off: segHeaderSize,
		end: end,
	}
}

// next decodes the record at s.off into e. It returns io.EOF at a clean end
// (s.off == end), a non-OK status (with s.off left at the bad frame) when
// the bytes there are not a valid record, or an I/O error.
func (s *scanner) next(e *Entry) (decodeStatus, error) {
	rest := s.end - s.off
	if rest == 0 {
		return decodeOK, io.EOF
	}
	if rest < frameHeaderSize {
		return decodeShort, nil
	}
	if _, err := io.ReadFull(s.r, s.hdr[:]); err != nil {
		return decodeOK, unexpectedEOF(err)
	}
	n, st := frameLen(s.hdr[:])
	if st != decodeOK {
		return st, nil
	}
	if rest-frameHeaderSize < int64(n) {
		return decodeShort, nil
	}
	total := frameHeaderSize + n
	if cap(s.buf) < total {
		s.buf = make([]byte, total)
	}
	b := s.buf[:total]
	copy(b, s.hdr[:])
	if _, err := io.ReadFull(s.r, b[frameHeaderSize:]); err != nil {
		return decodeOK, unexpectedEOF(err)
	}
	if _, st := decodeRecord(b, e); st != decodeOK {
		return st, nil
	}
	s.off += int64(total)
	return decodeOK, nil
}

// unexpectedEOF turns an EOF inside the range the file's size promised into
// an error: the file shrank under us.
func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// findValidRecord looks in b for a frame that decodes and carries a seq in
// [minSeq, minSeq+len(b)/minFrame], the seqs that records stored in b could
// have, and returns its offset in b. It is how recovery tells a torn tail
// (nothing valid after the damage) from damage in the middle of acknowledged
// data (valid records follow). The seq window keeps frames that merely sit
// inside a value (a stored copy of journal bytes) from counting unless their
// seq is also plausible. Candidates are filtered on the payload's structure
// before the checksum is computed, so random garbage costs a few
// comparisons per byte.
func findValidRecord(b []byte, minSeq uint64) (off int, seq uint64, found bool) {
	var e Entry
	maxSeq := minSeq + uint64(len(b)/(frameHeaderSize+payloadFixedSize))
	for i := 0; i+frameHeaderSize+payloadFixedSize <= len(b); i++ {
		f := b[i:]
		n, st := frameLen(f)
		if st != decodeOK || n > len(f)-frameHeaderSize {
			continue
		}
		p := f[frameHeaderSize : frameHeaderSize+n]
		if seq := binary.LittleEndian.Uint64(p[4:12]); p[0] != payloadVersion1 || p[3] != 0 || seq < minSeq || seq > maxSeq {
			continue
		}
		klen := uint64(binary.LittleEndian.Uint32(p[24:28]))
		if klen > uint64(n-payloadFixedSize) || uint64(binary.LittleEndian.Uint32(p[28+klen:])) != uint64(n)-payloadFixedSize-klen {
			continue
		}
		if _, st := decodeRecord(f, &e); st == decodeOK {
			return i, e.Seq, true
		}
	}
	return 0, 0, false
}
