package journal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// maxKeptBuffer caps the encoding buffer kept between Appends, so one huge
// value does not pin its size in memory for the life of the journal.
const maxKeptBuffer = 1 << 20

// Journal is an append-only, checksummed log of key states. All methods are
// safe for concurrent use, with one ordering rule: Replay, if called, runs
// once, before the first Append.
type Journal struct {
	opts Options
	log  *slog.Logger
	lock *os.File // holds the flock on Dir/LOCK

	// Lock order: mu, ckptMu and syncMu are never held together.

	mu        sync.Mutex // guards the fields below and every write to the active segment
	segs      []*segment // oldest first; the last one is active
	active    *segment
	nextSeq   uint64
	confirmed uint64
	closed    bool
	failed    error // sticky; see ErrFailed
	appended  bool  // an Append has run (Replay is then refused)
	replayed  bool  // Replay has been called
	replaying bool  // Replay is running: Appends are refused, segment deletion is deferred

	// The pending group (appendGroup), under mu.
	grp      []byte // encoded records not written yet; the first has seq nextSeq
	grpN     int    // records in grp
	grpGen   uint64 // generation of the pending group
	doneGen  uint64 // every group generation below this one is written (or failed)
	writing  bool   // a writer is gathering or writing the pending group
	noSpace  bool   // the last failed write hit ENOSPC
	grpErrs  [groupErrs]groupErr
	cond     *sync.Cond   // on mu: a group write ended
	grpBytes atomic.Int64 // len(grp), read while gathering without mu

	lastWritten atomic.Uint64 // nextSeq-1, readable without mu (group-commit gathering)

	ckptMu sync.Mutex // guards ckpt
	ckpt   *checkpoint

	syncMu   sync.Mutex    // guards the group-commit state below
	syncing  bool          // a goroutine is fsyncing the active segment
	synced   uint64        // every seq <= synced is durable
	syncErr  error         // a failed fsync; returned to every later waiter
	syncDone chan struct{} // closed when the running fsync ends

	appends atomic.Uint64
	syncs   syncStats

	cancel context.CancelFunc // stops syncLoop
	wg     sync.WaitGroup     // syncLoop
}

// Open opens (or creates) the journal in opts.Dir and recovers it: the tail
// of the newest segment is checked record by record, and a torn or corrupt
// tail (a partial record, a bad checksum, garbage) is cut off, truncating
// the file to the last good record and logging the offset. Damage that is
// followed by valid records is not a torn write but lost acknowledged data,
// and Open then fails with a *CorruptError instead of dropping them.
// Segments entirely at or below the confirmed seq are deleted. ctx bounds
// recovery.
func Open(ctx context.Context, opts Options) (*Journal, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("journal: open: %w", err)
	}
	lock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	j := &Journal{opts: opts, log: opts.Logger, lock: lock}
	j.cond = sync.NewCond(&j.mu)
	if err := j.recover(ctx); err != nil {
		j.closeFiles()
		return nil, err
	}
	if opts.Fsync == FsyncEverySec {
		ctx, cancel := context.WithCancel(context.Background())
		j.cancel = cancel
		j.wg.Add(1)
		go j.syncLoop(ctx)
	}
	return j, nil
}

func (j *Journal) recover(ctx context.Context) error {
	dir := j.opts.Dir
	ckpt, damaged, err := openCheckpoint(dir)
	if err != nil {
		return fmt.Errorf("journal: open checkpoint: %w", err)
	}
	j.ckpt = ckpt
	j.confirmed = ckpt.seq
	if damaged {
		// Replaying confirmed records again is harmless (they are states);
		// refusing to start would not be.
		j.log.Warn("journal: checkpoint damaged, replaying from the oldest segment", "file", ckpt.f.Name())
	}
	segs, err := listSegments(dir)
	if err != nil {
		return fmt.Errorf("journal: open: %w", err)
	}
	if len(segs) == 0 {
		s, err := createSegment(dir, j.confirmed+1)
		if err != nil {
			return fmt.Errorf("journal: create segment: %w", err)
		}
		segs = append(segs, s)
	}
	hdr := make([]byte, segHeaderSize)
	for i, s := range segs[:len(segs)-1] {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := readHeader(s, hdr); err != nil {
			return err
		}
		s.last = segs[i+1].first - 1
		s.sealed = true
	}
	active := segs[len(segs)-1]
	if err := j.recoverActive(ctx, active); err != nil {
		return err
	}
	j.segs, j.active = segs, active
	j.nextSeq = active.last + 1
	if j.confirmed >= j.nextSeq {
		// The checkpoint is ahead of the records: the tail that was
		// confirmed got lost (possible with fsync no/everysec after a power
		// loss). Everything on disk is confirmed; continue after the
		// checkpoint so no seq is ever reused.
		j.log.Warn("journal: checkpoint ahead of the last record, starting a new segment",
			"confirmed", j.confirmed, "last_seq", active.last)
		j.nextSeq = j.confirmed + 1
		if err := j.rollLocked(); err != nil {
			return fmt.Errorf("journal: create segment: %w", err)
		}
	}
	// Records left by a previous run may still be only in the page cache
	// (fsync no, or a killed process); make "synced" true before relying on it.
	if err := j.active.f.Sync(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	j.synced = j.nextSeq - 1
	j.lastWritten.Store(j.nextSeq - 1)
	j.removeSegments(j.takeConfirmedLocked())
	return nil
}

func readHeader(s *segment, hdr []byte) error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("journal: open: %w", err)
	}
	defer f.Close()
	if _, err := f.ReadAt(hdr, 0); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("journal: %w", err)
	}
	if s.size < segHeaderSize {
		return &CorruptError{File: s.path, Offset: s.size, Reason: "sealed segment shorter than its header"}
	}
	if r := checkSegHeader(hdr, s.first); r != "" {
		return &CorruptError{File: s.path, Offset: 0, Reason: r}
	}
	return nil
}

// recoverActive opens the newest segment, finds its last good record, and
// cuts off a torn tail.
func (j *Journal) recoverActive(ctx context.Context, s *segment) (err error) {
	if s.f != nil { // just created
		return nil
	}
	f, err := os.OpenFile(s.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("journal: open: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	hdr := make([]byte, segHeaderSize)
	n, _ := f.ReadAt(hdr, 0)
	if r := checkSegHeader(hdr[:n], s.first); r != "" {
		if s.size > segHeaderSize {
			return &CorruptError{File: s.path, Offset: 0, Reason: r}
		}
		// A crash while the segment was being created: it holds no record,
		// but its name still carries the next seq, so rewrite it rather than
		// delete it.
		j.log.Warn("journal: rewriting torn segment header", "file", s.path, "reason", r)
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("journal: recover: %w", err)
		}
		if _, err := f.WriteAt(encodeSegHeader(s.first), 0); err != nil {
			return fmt.Errorf("journal: recover: %w", err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("journal: recover: %w", err)
		}
		s.size, s.f = segHeaderSize, f
		return nil
	}

	sc := newScanner(f, s.size)
	expect := s.first
	var e Entry
	for {
		if expect&1023 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		st, err := sc.next(&e)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("journal: read %s: %w", s.path, err)
		}
		if st != decodeOK {
			if err := j.cutTail(f, s, sc.off, expect, st); err != nil {
				return err
			}
			break
		}
		if e.Seq != expect {
			return &CorruptError{File: s.path, Offset: sc.off, Reason: "record seq " + itoa(e.Seq) + ", want " + itoa(expect)}
		}
		expect++
	}
	s.last = expect - 1
	s.size = sc.off
	s.f = f
	return nil
}

// cutTail truncates the active segment at off, where a record failed to
// decode, unless a valid later record shows the damage is not at the tail.
func (j *Journal) cutTail(f *os.File, s *segment, off int64, expect uint64, st decodeStatus) error {
	rest := make([]byte, s.size-off-1)
	if _, err := f.ReadAt(rest, off+1); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("journal: %w", err)
	}
	if at, seq, ok := findValidRecord(rest, expect); ok {
		return &CorruptError{File: s.path, Offset: off, Reason: fmt.Sprintf(
			"%s, followed by a valid record (seq %d) at offset %d: acknowledged records are damaged, not a torn tail",
			st, seq, off+1+int64(at))}
	}
	j.log.Warn("journal: cutting torn tail", "file", s.path, "offset", off, "bytes", s.size-off, "reason", st.String())
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("journal: cut tail: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return nil
}

// Replay calls fn, in seq order, for every record with a seq above the
// confirmed one. Call it at most once, after Open and before the first
// Append (ErrReplayOrder otherwise); Appends made while it runs fail with
// ErrReplayOrder, and Confirm may be called from fn (segment deletion waits
// until Replay returns).
//
// The *Entry and its Key and Value slices are only valid during the call:
// fn must copy what it keeps. An error from fn stops the replay and is
// returned wrapped. Damage anywhere Open did not already cut (a bad record
// in a sealed segment, a missing range of seqs between segments) is a
// *CorruptError naming the file and offset; nothing is skipped silently.
func (j *Journal) Replay(ctx context.Context, fn func(e *Entry) error) error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return ErrClosed
	}
	if j.replayed || j.appended {
		j.mu.Unlock()
		return ErrReplayOrder
	}
	j.replayed, j.replaying = true, true
	segs := make([]segment, len(j.segs))
	for i, s := range j.segs {
		segs[i] = segment{first: s.first, last: s.last, size: s.size, path: s.path}
	}
	confirmed := j.confirmed
	j.mu.Unlock()

	err := replaySegments(ctx, segs, confirmed, fn)

	j.mu.Lock()
	j.replaying = false
	drop := j.takeConfirmedLocked()
	j.mu.Unlock()
	j.removeSegments(drop)
	return err
}

func replaySegments(ctx context.Context, segs []segment, confirmed uint64, fn func(e *Entry) error) error {
	var e Entry
	var n uint64
	for i := range segs {
		s := &segs[i]
		if s.last <= confirmed {
			continue
		}
		f, err := os.Open(s.path)
		if err != nil {
			return fmt.Errorf("journal: replay: %w", err)
		}
		sc := newScanner(f, s.size)
		expect := s.first
		for {
			st, err := sc.next(&e)
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return fmt.Errorf("journal: replay %s: %w", s.path, err)
			}
			if st != decodeOK {
				f.Close()
				return &CorruptError{File: s.path, Offset: sc.off, Reason: st.String()}
			}
			if e.Seq != expect {
				f.Close()
				return &CorruptError{File: s.path, Offset: sc.off, Reason: "record seq " + itoa(e.Seq) + ", want " + itoa(expect)}
			}
			expect++
			if e.Seq <= confirmed {
				continue
			}
			if n++; n&1023 == 0 {
				if err := ctx.Err(); err != nil {
					f.Close()
					return err
				}
			}
			if err := fn(&e); err != nil {
				f.Close()
				return fmt.Errorf("journal: replay seq %d: %w", e.Seq, err)
			}
		}
		f.Close()
		if expect != s.last+1 {
			// Only sealed segments can get here: the active one was scanned
			// by Open. Their last seq comes from the next segment's name.
			return &CorruptError{File: s.path, Offset: sc.off, Reason: fmt.Sprintf(
				"segment ends at seq %d but the next segment starts at seq %d: records are missing", expect-1, s.last+1)}
		}
	}
	return nil
}

// Append writes e and returns its seq once it is durable under the fsync
// policy (see FsyncAlways, FsyncEverySec, FsyncNo). e is not retained: its
// slices may be reused as soon as Append returns; e.Seq is not modified.
//
// On error the entry is not acknowledged: a failed write (ENOSPC, EIO) is
// cut off the file before Append returns, so the journal stays replayable,
// and the error wraps the OS error (errors.Is(err, syscall.ENOSPC)). When
// ctx ends while Append waits for an fsync, Append returns ctx.Err(); the
// record may still become durable and be replayed, which is safe because
// records are states.
func (j *Journal) Append(ctx context.Context, e *Entry) (seq uint64, err error) {
	es := [1]*Entry{e}
	return j.AppendBatch(ctx, es[:])
}

// AppendBatch appends es in order, with one write and one durability wait,
// and returns the seq of the last one (the others precede it without gaps).
// The batch goes into a single segment and is all-or-nothing on write
// errors. Otherwise as Append; es must not hold nil. An empty batch returns
// the current last seq.
func (j *Journal) AppendBatch(ctx context.Context, es []*Entry) (lastSeq uint64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	size := 0
	for _, e := range es {
		if err := checkEntry(e); err != nil {
			return 0, err
		}
		size += recordSize(e)
	}
	lastSeq, err = j.appendGroup(es)
	if err != nil {
		return 0, err
	}
	j.appends.Add(uint64(len(es)))
	if j.opts.Fsync == FsyncAlways && len(es) > 0 {
		if err := j.waitSynced(ctx, lastSeq); err != nil {
			return 0, err
		}
	}
	return lastSeq, nil
}

// groupErrs is how many recent failed group generations are remembered for
// their waiters (who wake within a scheduling delay of the failure).
const groupErrs = 256

// appendGroup is the group write: es is encoded into the pending group
// under mu; the first appender that finds no group write running becomes
// the writer, yields the processor a few times so that other appenders
// (other clients' sessions) can add their records, then writes the whole
// group with one pwrite; the others wait for that write and share its
// result. With many concurrent writers this turns one write syscall per
// Append into one per group (measured in BenchmarkAppendParallel). Seqs are
// assigned in encoding order, so file order is still seq order.
func (j *Journal) appendGroup(es []*Entry) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.writableLocked(); err != nil {
		return 0, err
	}
	j.appended = true
	if len(es) == 0 {
		return j.nextSeq - 1, nil
	}
	seq := j.nextSeq + uint64(j.grpN)
	for _, e := range es {
		j.grp = appendRecord(j.grp, e, seq)
		seq++
	}
	j.grpN += len(es)
	j.grpBytes.Store(int64(len(j.grp)))
	last, gen := seq-1, j.grpGen
	for j.doneGen <= gen {
		if j.writing {
			j.cond.Wait()
			continue
		}
		j.writing = true
		j.mu.Unlock()
		for range 4 {
			before := j.grpBytes.Load()
			runtime.Gosched()
			if j.grpBytes.Load() == before {
				break
			}
		}
		j.mu.Lock()
		err := j.writeGroupLocked()
		if err != nil {
			j.grpErrs[j.grpGen%groupErrs] = groupErr{gen: j.grpGen, err: err}
		}
		j.doneGen = j.grpGen + 1
		j.grpGen++
		j.writing = false
		j.cond.Broadcast()
	}
	if ge := j.grpErrs[gen%groupErrs]; ge.err != nil && ge.gen == gen {
		return 0, ge.err
	}
	return last, nil
}

// writableLocked reports why nothing may be appended now.
func (j *Journal) writableLocked() error {
	switch {
	case j.closed:
		return ErrClosed
	case j.failed != nil:
		return fmt.Errorf("%w: %w", ErrFailed, j.failed)
	case j.replaying:
		return ErrReplayOrder
	}
	return nil
}

// writeGroupLocked writes the pending group at the end of the active
// segment (rolling first if it would not fit) and empties it. On failure
// nothing of the group stays in the file and its seqs are reused.
func (j *Journal) writeGroupLocked() error {
	buf, n := j.grp, j.grpN
	defer func() {
		j.grpN = 0
		j.grpBytes.Store(0)
		if cap(buf) <= maxKeptBuffer {
			j.grp = buf[:0]
		} else {
			j.grp = nil
		}
	}()
	if err := j.writableLocked(); err != nil {
		return err
	}
	if !j.active.empty() && j.active.size+int64(len(buf)) > j.opts.SegmentSize {
		if err := j.rollLocked(); err != nil {
			return fmt.Errorf("journal: roll segment: %w", err)
		}
	}
	s := j.active
	if _, err := s.f.WriteAt(buf, s.size); err != nil {
		// The write may have landed partly. Cut it so no half record stays
		// in front of the next one; if even that fails, stop writing.
		if terr := s.f.Truncate(s.size); terr != nil {
			j.failed = fmt.Errorf("cut failed write: %w", terr)
		}
		if errors.Is(err, syscall.ENOSPC) {
			j.noSpace = true // Confirm frees the active segment as soon as it can
		}
		return fmt.Errorf("journal: append: %w", err)
	}
	s.size += int64(len(buf))
	j.nextSeq += uint64(n)
	s.last = j.nextSeq - 1
	j.lastWritten.Store(j.nextSeq - 1)
	return nil
}

// recycleActiveLocked replaces an active segment whose records are all
// confirmed by a new, empty one at nextSeq, deleting the old file first: on
// a full disk that is the only order that can work. A crash in between
// leaves no segment, which Open handles like a fresh journal after the
// checkpoint. If the new segment cannot be created the journal fails
// (ErrFailed) until it is reopened.
func (j *Journal) recycleActiveLocked() error {
	old := j.active
	if err := os.Remove(old.path); err != nil {
		return fmt.Errorf("journal: remove confirmed segment: %w", err)
	}
	// Unlinked; closing it frees the space (now, or when a running fsync
	// lets go of it).
	old.sealed = true
	if err := old.releaseLocked(); err != nil {
		j.log.Warn("journal: close confirmed segment", "file", old.path, "err", err)
	}
	j.segs = j.segs[:len(j.segs)-1]
	s, err := createSegment(j.opts.Dir, j.nextSeq)
	if err != nil {
		j.failed = fmt.Errorf("recreate the active segment: %w", err)
		return j.failed
	}
	j.segs = append(j.segs, s)
	j.active = s
	j.log.Info("journal: disk full; replaced the confirmed active segment to free space", "removed", old.path)
	return nil
}

// groupErr is the failure of one group generation.
type groupErr struct {
	gen uint64
	err error
}

// rollLocked seals the active segment and starts a new one at nextSeq. The
// sealed segment is fsynced first, whatever the policy: a sealed segment
// must never have a torn tail, because recovery only cuts the newest one.
func (j *Journal) rollLocked() error {
	old := j.active
	start := time.Now()
	if err := old.f.Sync(); err != nil {
		j.failed = err
		return err
	}
	j.syncs.record(time.Since(start))
	s, err := createSegment(j.opts.Dir, j.nextSeq)
	if err != nil {
		return err
	}
	old.sealed = true
	if err := old.releaseLocked(); err != nil {
		j.log.Warn("journal: close sealed segment", "file", old.path, "err", err)
	}
	j.segs = append(j.segs, s)
	j.active = s
	return nil
}

// waitSynced returns once every seq <= seq is durable. It is the group
// commit: the first waiter to find no fsync running becomes the leader and
// fsyncs everything written so far, and whoever arrives meanwhile waits for
// the next round, which then covers all of them with one fsync.
func (j *Journal) waitSynced(ctx context.Context, seq uint64) error {
	for {
		j.syncMu.Lock()
		if j.synced >= seq {
			j.syncMu.Unlock()
			return nil
		}
		if j.syncErr != nil {
			err := j.syncErr
			j.syncMu.Unlock()
			return err
		}
		if j.syncing {
			done := j.syncDone
			j.syncMu.Unlock()
			select {
			case <-done:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		j.syncing = true
		j.syncDone = make(chan struct{})
		j.syncMu.Unlock()

		// The appenders the previous round released were woken together
		// with this leader; let them write their next records before the
		// fsync's coverage is fixed, or they miss this round and the
		// writers settle into two cohorts, each waiting two fsyncs.
		for range 4 {
			before := j.lastWritten.Load()
			runtime.Gosched()
			if j.lastWritten.Load() == before {
				break
			}
		}
		target, err := j.syncActive()

		j.syncMu.Lock()
		j.syncing = false
		if err != nil {
			j.syncErr = err
		} else if target > j.synced {
			j.synced = target
		}
		close(j.syncDone)
		j.syncMu.Unlock()
	}
}

// syncActive fsyncs the active segment without holding mu, so appends
// continue meanwhile, and returns the last seq the fsync covers. Earlier
// segments were fsynced when sealed. An fsync error is sticky: after a
// failed fsync the kernel may have dropped the dirty pages, and a retry
// could report success for data that is gone.
func (j *Journal) syncActive() (uint64, error) {
	j.mu.Lock()
	if j.failed != nil {
		err := j.failed
		j.mu.Unlock()
		return 0, fmt.Errorf("%w: %w", ErrFailed, err)
	}
	s, target := j.active, j.nextSeq-1
	if s.f == nil {
		// Closed: Close synced everything before releasing the file.
		j.mu.Unlock()
		return target, nil
	}
	s.refs++
	j.mu.Unlock()

	start := time.Now()
	err := s.f.Sync()
	j.syncs.record(time.Since(start))

	j.mu.Lock()
	s.refs--
	if cerr := s.releaseLocked(); cerr != nil {
		j.log.Warn("journal: close sealed segment", "file", s.path, "err", cerr)
	}
	if err != nil {
		err = fmt.Errorf("journal: %w", err)
		if j.failed == nil {
			j.failed = err
		}
	}
	j.mu.Unlock()
	return target, err
}

// syncLoop is the FsyncEverySec background goroutine.
func (j *Journal) syncLoop(ctx context.Context) {
	defer j.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	logged := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		j.mu.Lock()
		w := j.nextSeq - 1
		j.mu.Unlock()
		err := j.waitSynced(ctx, w)
		if err == nil {
			err = j.syncCheckpoint()
		}
		if err != nil && ctx.Err() == nil && !logged {
			j.log.Error("journal: background sync failed; appends now fail", "err", err)
			logged = true
		}
	}
}

// rollConfirmedDivisor: Confirm rolls the active segment once it is fully
// confirmed and at least SegmentSize/rollConfirmedDivisor bytes, so its
// space is freed without creating a file per flush batch.
const rollConfirmedDivisor = 4

// Confirm records that every record with seq <= seq has reached the backend.
// Sealed segments whose records are all confirmed are deleted, the active
// one is rolled first when it is entirely confirmed and at least a quarter
// of SegmentSize, and the confirmed seq is written to the checkpoint (synced
// at once under FsyncAlways, within a second under FsyncEverySec, at Close
// under FsyncNo) so that replay skips confirmed records. A seq at or below
// the current confirmed seq is a no-op; one above LastSeq is ErrConfirmAhead.
func (j *Journal) Confirm(seq uint64) error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return ErrClosed
	}
	if seq <= j.confirmed {
		j.mu.Unlock()
		return nil
	}
	if seq >= j.nextSeq {
		last := j.nextSeq - 1
		j.mu.Unlock()
		return fmt.Errorf("%w: %d > %d", ErrConfirmAhead, seq, last)
	}
	j.confirmed = seq
	var drop []*segment
	if !j.replaying {
		a := j.active
		if j.failed == nil && !a.empty() && a.last <= seq && (a.size >= j.opts.SegmentSize/rollConfirmedDivisor || j.noSpace) {
			err := j.rollLocked()
			if err != nil && j.noSpace && j.failed == nil {
				// The disk is full: even the next segment's header does
				// not fit. Every record of the active segment is confirmed,
				// so it goes first and its successor is created after.
				err = j.recycleActiveLocked()
			}
			if err != nil {
				// The confirmation itself holds; the space is freed at the
				// next roll.
				j.log.Warn("journal: roll confirmed segment", "err", err)
			} else {
				j.noSpace = false
			}
		}
		drop = j.takeConfirmedLocked()
	}
	j.mu.Unlock()

	j.ckptMu.Lock()
	err := j.persistConfirmedLocked(seq)
	j.ckptMu.Unlock()
	j.removeSegments(drop)
	return err
}

// persistConfirmedLocked writes seq to the checkpoint. ckptMu held.
func (j *Journal) persistConfirmedLocked(seq uint64) error {
	if seq <= j.ckpt.seq {
		return nil // a concurrent Confirm already stored a newer value
	}
	if err := j.ckpt.write(seq); err != nil {
		return fmt.Errorf("journal: write checkpoint: %w", err)
	}
	if j.opts.Fsync == FsyncAlways {
		if err := j.ckpt.sync(); err != nil {
			return fmt.Errorf("journal: sync checkpoint: %w", err)
		}
	}
	return nil
}

func (j *Journal) syncCheckpoint() error {
	j.ckptMu.Lock()
	defer j.ckptMu.Unlock()
	if err := j.ckpt.sync(); err != nil {
		return fmt.Errorf("journal: sync checkpoint: %w", err)
	}
	return nil
}

// takeConfirmedLocked removes the sealed segments whose records are all
// confirmed from the list and returns them for deletion. mu held.
func (j *Journal) takeConfirmedLocked() []*segment {
	n := 0
	for n < len(j.segs)-1 && j.segs[n].last <= j.confirmed {
		n++
	}
	if n == 0 {
		return nil
	}
	drop := make([]*segment, n)
	copy(drop, j.segs[:n])
	j.segs = append(j.segs[:0], j.segs[n:]...)
	return drop
}

// removeSegments deletes confirmed segment files. A file that survives (an
// error, or a crash before the unlink reaches the disk) holds only
// confirmed records and is deleted by the next Open.
func (j *Journal) removeSegments(drop []*segment) {
	for _, s := range drop {
		if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
			j.log.Warn("journal: remove confirmed segment", "file", s.path, "err", err)
		}
	}
}

// Stats returns a snapshot of the journal's counters. Safe to call at any
// time, also after Close.
func (j *Journal) Stats() Stats {
	j.mu.Lock()
	st := Stats{
		Segments:     len(j.segs),
		LastSeq:      j.nextSeq - 1,
		ConfirmedSeq: j.confirmed,
	}
	for _, s := range j.segs {
		st.Bytes += s.size
	}
	j.mu.Unlock()
	st.Appends = j.appends.Load()
	st.Syncs = j.syncs.count.Load()
	st.SyncMicrosTotal = j.syncs.totalUs.Load()
	st.SyncMicrosMax = j.syncs.maxUs.Load()
	st.SyncMicrosP99 = j.syncs.p99()
	return st
}

// Close syncs what was written (under every policy), stores the confirmed
// seq durably, stops the background goroutine and releases the directory.
// Appends that are still waiting for an fsync get the final sync's result;
// later calls fail with ErrClosed. Closing twice returns ErrClosed.
func (j *Journal) Close() error {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return ErrClosed
	}
	j.closed = true
	w := j.nextSeq - 1
	j.mu.Unlock()

	if j.cancel != nil {
		j.cancel()
		j.wg.Wait()
	}
	var errs []error
	if err := j.waitSynced(context.Background(), w); err != nil {
		errs = append(errs, err)
	}
	if err := j.syncCheckpoint(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, j.closeFiles())
	return errors.Join(errs...)
}

// closeFiles releases the active segment, the checkpoint and the lock.
func (j *Journal) closeFiles() error {
	var errs []error
	j.mu.Lock()
	for _, s := range j.segs {
		s.sealed = true
		if err := s.releaseLocked(); err != nil {
			errs = append(errs, err)
		}
	}
	j.mu.Unlock()
	j.ckptMu.Lock()
	if j.ckpt != nil {
		errs = append(errs, j.ckpt.f.Close())
	}
	j.ckptMu.Unlock()
	errs = append(errs, j.lock.Close())
	return errors.Join(errs...)
}
