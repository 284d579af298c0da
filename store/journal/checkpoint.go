package journal

import (
	"encoding/binary"
	"os"
	"path/filepath"
)

const (
	checkpointName = "journal.ckpt"
	// ckptSlotSize is magic (8), version (2), reserved (2), confirmed seq
	// (8), CRC32C of the preceding 20 bytes (4).
	ckptSlotSize = 24
	// ckptSlotStride puts the two slots in different 512-byte sectors, so a
	// torn write can damage at most the slot being written.
	ckptSlotStride = 512
	ckptVersion    = 1
	ckptFileSize   = ckptSlotStride + ckptSlotSize
)

var ckptMagic = [8]byte{'R', 'C', 'J', 'C', 'K', 'P', 'T', '1'}

// checkpoint persists the confirmed seq. It has two slots and overwrites
// the older one in place, so it never needs a rename (and the two fsyncs a
// rename costs): after a crash at least one slot holds a valid value, and
// the larger valid value wins. A stale value only makes replay re-apply
// records that already reached the backend, which is idempotent.
type checkpoint struct {
	f     *os.File
	next  int    // slot to overwrite next (the one not holding seq)
	seq   uint64 // newest value written
	dirty bool   // written but not yet synced
}

// openCheckpoint opens or creates dir's checkpoint. It returns the newest
// valid confirmed seq; damaged says the file had content but no valid slot.
// A new (or short) file is written out to its full size at once, so that
// later updates overwrite bytes that already have disk space: Confirm is what
// frees space on a full disk, so it must not need any.
func openCheckpoint(dir string) (c *checkpoint, damaged bool, err error) {
	path := filepath.Join(dir, checkpointName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, err
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	buf := make([]byte, ckptFileSize)
	n, _ := f.ReadAt(buf, 0) // a short file simply has fewer valid slots
	c = &checkpoint{f: f}
	valid := false
	for slot := range 2 {
		off := slot * ckptSlotStride
		if off+ckptSlotSize > n {
			continue
		}
		seq, ok := decodeCkptSlot(buf[off : off+ckptSlotSize])
		if ok && (!valid || seq > c.seq) {
			c.seq, c.next, valid = seq, 1-slot, true
		}
	}
	if n < ckptFileSize {
		for range 2 {
			if err := c.write(c.seq); err != nil {
				return nil, false, err
			}
		}
		if err := c.sync(); err != nil {
			return nil, false, err
		}
		if err := syncDir(dir); err != nil {
			return nil, false, err
		}
	}
	return c, !valid && n > 0, nil
}

func decodeCkptSlot(b []byte) (uint64, bool) {
	if [8]byte(b[0:8]) != ckptMagic ||
		binary.LittleEndian.Uint16(b[8:10]) != ckptVersion ||
		binary.LittleEndian.Uint16(b[10:12]) != 0 ||
		binary.LittleEndian.Uint32(b[20:24]) != crc32c(b[0:20]) {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b[12:20]), true
}

// write stores seq in the older slot. It does not sync.
func (c *checkpoint) write(seq uint64) error {
	var b [ckptSlotSize]byte
	copy(b[0:8], ckptMagic[:])
	binary.LittleEndian.PutUint16(b[8:10], ckptVersion)
	binary.LittleEndian.PutUint64(b[12:20], seq)
	binary.LittleEndian.PutUint32(b[20:24], crc32c(b[0:20]))
	if _, err := c.f.WriteAt(b[:], int64(c.next*ckptSlotStride)); err != nil {
		return err
	}
	c.seq, c.next, c.dirty = seq, 1-c.next, true
	return nil
}

func (c *checkpoint) sync() error {
	if !c.dirty {
		return nil
	}
	if err := c.f.Sync(); err != nil {
		return err
	}
	c.dirty = false
	return nil
}
