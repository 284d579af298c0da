// Package journal is respcache's write-back journal: an append-only,
// checksummed log on local disk in which every acknowledged write-back
// write is recorded before the client sees OK, so that a crash loses no
// acknowledged write. A flusher (outside this package) later sends dirty
// keys to the backend and calls Confirm; confirmed records are skipped by
// replay and their segment files deleted.
//
// # Use
//
//	j, err := journal.Open(ctx, journal.Options{Dir: dir, Fsync: "everysec", Logger: log})
//	// Once, before serving writes: rebuild the dirty set from what was not
//	// confirmed (copy Key and Value, they are reused after fn returns).
//	err = j.Replay(ctx, func(e *journal.Entry) error { ...; return nil })
//	// Per write-back write, before the client sees OK:
//	seq, err := j.Append(ctx, &journal.Entry{DB: db, Key: k, Kind: journal.KindSet, Type: t, Value: v})
//	// Flusher, after a batch reached the backend:
//	err = j.Confirm(watermark)
//	// Shutdown, after the drain:
//	err = j.Close()
//
// Confirm takes a watermark, not a set: every record with a seq at or below
// it must be on the backend. A flusher that coalesces writes per key
// confirms up to just below the oldest seq it still holds unflushed (a
// record superseded by a later, flushed record of the same key counts as
// flushed).
//
// # Records are states
//
// A record holds the resulting state of one key after a write (KindSet with
// value, type tag and absolute expiry, or KindDelete), never the command
// that produced it. Replaying a record twice therefore gives the same result
// as once, which is what makes replay after a crash safe even when some
// replayed records had already reached the backend. A stale checkpoint thus
// costs a re-flush of states the backend already has; its one visible
// effect is when another writer changed the same upstream key in between:
// the re-flush overwrites that newer value (last flush wins, as for
// write-back in general).
//
// # Writing and durability
//
// Append encodes the entry into the pending group under Journal.mu, where
// its seq is assigned, so file order is seq order and seqs have no gaps.
// Group write: the first appender that finds no write running becomes the
// writer; it yields the processor a few times (without mu) so that other
// appenders, typically other clients' sessions, add their records, then
// writes the whole group with one pwrite at the end of the active segment,
// under mu; the others wait for that write and share its result. With 16
// concurrent writers this made an everysec Append cost about 1µs instead of
// about 4µs (BenchmarkAppend on this machine). What happens next depends on
// Options.Fsync:
//
//   - always: Append waits until an fsync covers its record. This is a
//     group commit: the first waiter that finds no fsync running fsyncs
//     everything written so far (without holding mu, so other appenders keep
//     writing); the waiters that arrive meanwhile share the next fsync.
//     Before fixing what its fsync covers, a new leader yields the processor
//     (a few times, while appends keep arriving) so that the appenders the
//     previous round just released can write their next records into this
//     round; without that, N concurrent appenders settle into two
//     alternating cohorts of N/2, each waiting two fsyncs. Measured on this
//     machine: 15 of 16 and about 50 of 64 concurrent appenders per fsync
//     (8.4 and 32 before). Stats.Appends/Stats.Syncs is the average group
//     size.
//   - everysec (default): Append returns after the pwrite; a background
//     goroutine fsyncs once a second. A killed process loses nothing (the
//     data is in the page cache); a power loss may lose about a second.
//   - no: Append returns after the pwrite; the OS flushes when it likes.
//
// In every mode a segment is fsynced when it is sealed (rolled), and on
// Close. A failed write is truncated away before Append returns the error
// (for example one wrapping syscall.ENOSPC) to every appender of its group,
// so no half record is ever left in front of a later one; seqs of a failed
// write are reused. A failed fsync
// (or a failed truncate) makes the journal refuse further writes with
// ErrFailed: after an fsync error Linux may already have dropped the dirty
// pages, so retrying could report durability that does not exist. Reopening
// recovers whatever is on disk.
//
// # Files
//
// Options.Dir holds segment files named journal-<seq of their first record,
// 20 decimal digits>.wal, the checkpoint journal.ckpt and the lock file LOCK
// (an exclusive flock held while open). All integers are little-endian;
// CRC32C is CRC-32 with the Castagnoli polynomial (hash/crc32.Castagnoli,
// hardware-accelerated on amd64 and arm64).
//
// Segment header, 24 bytes at offset 0:
//
//	offset size field
//	0      8    magic "RCJOURNL"
//	8      2    format version, 1
//	10     2    reserved, 0
//	12     8    seq of the first record; equals the number in the file name
//	20     4    CRC32C of bytes 0..19
//
// Then records back to back until the end of the file. A record is a frame:
//
//	offset size field
//	0      4    n: payload length in bytes, 32 <= n <= MaxRecordSize
//	4      4    CRC32C of the 4 length bytes followed by the n payload bytes
//	8      n    payload
//
// Payload, version 1 (K = key length, V = value length, n = 32+K+V):
//
//	offset size field
//	0      1    payload version, 1
//	1      1    kind: 1 set, 2 delete
//	2      1    type tag (the caller's; 0 for delete)
//	3      1    reserved, 0
//	4      8    seq (>= 1)
//	12     8    expire at, unix milliseconds, int64 >= 0 (0 = never; 0 for delete)
//	20     4    db
//	24     4    K
//	28     K    key
//	28+K   4    V (0 for delete)
//	32+K   V    value
//
// The decoder accepts only this canonical form (for instance a delete with a
// value is malformed), so any frame that decodes re-encodes to the same
// bytes. Within a segment the seqs are consecutive, starting at the one in
// the name, and the last record of a sealed segment is the one before the
// next segment's first seq; replay checks both.
//
// Checkpoint journal.ckpt: two 24-byte slots, at offsets 0 and 512 (separate
// sectors), each:
//
//	offset size field
//	0      8    magic "RCJCKPT1"
//	8      2    version, 1
//	10     2    reserved, 0
//	12     8    confirmed seq
//	20     4    CRC32C of bytes 0..19
//
// Confirm overwrites the older slot in place and the larger valid value
// wins, so a torn checkpoint write falls back to the previous value without
// the rename and the two fsyncs an atomic replace would cost. The file is
// written out to its full size when created, so Confirm, which is what frees
// space on a full disk, never needs new disk space itself. A checkpoint
// with no valid slot is logged and treated as 0 (replay then re-applies
// confirmed records, which is harmless).
//
// # Recovery
//
// Open validates the headers and scans the newest segment, the only one that
// can have been written when the process died (sealed segments were fsynced
// before the next one was created). At the first frame that does not decode
// (too short, bad length, bad CRC, malformed payload) it searches the rest
// of the file for any valid record with a later seq. If there is none, the
// damage is a torn tail: the file is truncated to the last good record and
// the offset and the number of bytes cut are logged. If there is one,
// acknowledged records are damaged in the middle of the file, and Open
// returns a *CorruptError (file and offset) instead of dropping them. Replay
// treats any bad record in a sealed segment, or a range of missing seqs
// between segments, as corruption too. A segment whose header is torn and
// that holds nothing else (a crash while it was being created) has its
// header rewritten, because its name still carries the next seq.
//
// Only a later record whose seq fits the damaged range counts (between the
// expected seq and as many records as the remaining bytes could hold), so a
// journal frame that merely sits inside a stored value does not turn a torn
// tail into an error. Known limit: a value embedding a frame with a seq in
// exactly that window, written by a process that dies while writing that
// very record, still makes recovery report corruption instead of cutting the
// tail; the file then has to be truncated at the reported offset by hand.
//
// # Confirm and space
//
// Confirm(seq) stores seq in the checkpoint and deletes the sealed segments
// whose records are all confirmed. After a write failed with ENOSPC, an
// entirely confirmed active segment is rolled at once whatever its size, and
// if even the new segment's header does not fit, the old file is deleted
// first and its successor created after (TestDiskFullOneSegment). The active segment is rolled first when
// it is entirely confirmed and at least SegmentSize/4 bytes long, so an idle
// journal does not keep a large confirmed file, yet a flusher confirming
// every few milliseconds does not create a file per batch.
//
// # Concurrency
//
// Every method is safe for concurrent use. Three mutexes, never held
// together: mu (segments, seqs, the active file's writes), ckptMu (the
// checkpoint file) and syncMu (group-commit state). fsync runs under none of
// them; a segment being fsynced while it is sealed is closed by whichever of
// the sync and the roll finishes last (segment.refs). The only goroutine is
// the everysec syncer, stopped and waited for by Close.
package journal
