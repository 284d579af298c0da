package journal

import (
	"errors"
	"strconv"
)

// Sentinel errors, checked with errors.Is. Errors returned by the journal
// wrap one of these or the underlying OS error (for example syscall.ENOSPC
// when the disk is full).
var (
	// ErrClosed: the journal was closed.
	ErrClosed = errors.New("journal: closed")
	// ErrCorrupt: a segment or the record stream is damaged in a way that
	// cannot be explained by a torn write at the tail. The error is a
	// *CorruptError naming the file and offset.
	ErrCorrupt = errors.New("journal: corrupt")
	// ErrFailed: an earlier fsync or cleanup after a failed write failed, so
	// the journal no longer knows what is on disk and refuses further
	// writes. Reopen it (recovery cuts whatever tail is left).
	ErrFailed = errors.New("journal: failed after an I/O error")
	// ErrTooLarge: the entry's payload exceeds MaxRecordSize.
	ErrTooLarge = errors.New("journal: entry too large")
	// ErrInvalidEntry: the entry has an unknown Kind, a DB out of range or a
	// negative ExpireAtMs.
	ErrInvalidEntry = errors.New("journal: invalid entry")
	// ErrReplayOrder: Replay was called twice or after the first Append.
	ErrReplayOrder = errors.New("journal: Replay must be called once, before the first Append")
	// ErrConfirmAhead: Confirm was given a seq that was never appended.
	ErrConfirmAhead = errors.New("journal: confirm beyond the last appended seq")
	// ErrLocked: another Journal (in this or another process) holds Dir.
	ErrLocked = errors.New("journal: directory locked by another journal")
)

// CorruptError locates damage found while opening or replaying the journal.
// errors.Is(err, ErrCorrupt) is true for it.
type CorruptError struct {
	File   string // path of the damaged file
	Offset int64  // byte offset in File where the damage starts
	Reason string // what is wrong there
}

// Error returns "journal: corrupt: FILE at offset N: REASON".
func (e *CorruptError) Error() string {
	return "journal: corrupt: " + e.File + " at offset " + strconv.FormatInt(e.Offset, 10) + ": " + e.Reason
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }
