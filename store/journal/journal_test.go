package journal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want []string // substrings of the error; none = valid
	}{
		{name: "defaults", opts: Options{Dir: "x"}},
		{name: "always", opts: Options{Dir: "x", Fsync: "always"}},
		{name: "no", opts: Options{Dir: "x", Fsync: "no", SegmentSize: MinSegmentSize}},
		{name: "no dir", opts: Options{}, want: []string{"Dir is required"}},
		{name: "bad fsync", opts: Options{Dir: "x", Fsync: "sometimes"}, want: []string{`Fsync must be always, everysec or no, got "sometimes"`}},
		{name: "small segment", opts: Options{Dir: "x", SegmentSize: 100}, want: []string{"SegmentSize must be at least 1024"}},
		{name: "all wrong", opts: Options{Fsync: "x", SegmentSize: -1}, want: []string{"Dir", "Fsync", "SegmentSize"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			o.EnsureDefaults()
			err := o.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if o.Fsync == "" || o.SegmentSize == 0 || o.Logger == nil {
					t.Fatalf("EnsureDefaults left zero fields: %+v", o)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted invalid options")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := Open(context.Background(), Options{}); err == nil {
		t.Fatal("Open accepted options without Dir")
	}
}

func TestRoundTrip(t *testing.T) {
	for _, mode := range []string{FsyncAlways, FsyncEverySec, FsyncNo} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			opts, _ := testOptions(dir, mode, 0)
			j := mustOpen(t, opts)
			if got := replayAll(t, j); len(got) != 0 {
				t.Fatalf("fresh journal replayed %d entries", len(got))
			}
			want := appendRange(t, j, 0, 60)
			batch := []*Entry{testEntry(100), testEntry(101), testEntry(102)}
			last, err := j.AppendBatch(context.Background(), batch)
			if err != nil {
				t.Fatalf("AppendBatch: %v", err)
			}
			if last != 63 {
				t.Fatalf("AppendBatch lastSeq = %d, want 63", last)
			}
			for i, e := range batch {
				want = append(want, canonical(e, last-2+uint64(i)))
			}
			st := j.Stats()
			if st.LastSeq != 63 || st.Appends != 63 || st.Segments != 1 || st.Bytes <= segHeaderSize {
				t.Fatalf("Stats = %+v", st)
			}
			if mode == FsyncAlways && st.Syncs == 0 {
				t.Fatalf("always mode did no fsync: %+v", st)
			}
			mustClose(t, j)

			j = mustOpen(t, opts)
			defer mustClose(t, j)
			checkEntries(t, replayAll(t, j), want)
			if st := j.Stats(); st.LastSeq != 63 || st.Appends != 0 {
				t.Fatalf("Stats after reopen = %+v", st)
			}
			seq, err := j.Append(context.Background(), testEntry(200))
			if err != nil || seq != 64 {
				t.Fatalf("Append after reopen = %d, %v; want 64", seq, err)
			}
		})
	}
}

func TestAppendDoesNotKeepSlices(t *testing.T) {
	dir := t.TempDir()
	opts, _ := testOptions(dir, FsyncNo, 0)
	j := mustOpen(t, opts)
	e := &Entry{Key: []byte("k"), Kind: KindSet, Value: []byte("original")}
	if _, err := j.Append(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	copy(e.Key, "X")
	copy(e.Value, "CHANGED!")
	if e.Seq != 0 {
		t.Fatalf("Append modified e.Seq to %d", e.Seq)
	}
	mustClose(t, j)
	j = mustOpen(t, opts)
	defer mustClose(t, j)
	checkEntries(t, replayAll(t, j), []Entry{{Seq: 1, Key: []byte("k"), Kind: KindSet, Value: []byte("original")}})
}

func TestReplayOrder(t *testing.T) {
	dir := t.TempDir()
	opts, _ := testOptions(dir, FsyncNo, 0)
	j := mustOpen(t, opts)
	appendRange(t, j, 0, 3)
	if err := j.Replay(context.Background(), func(*Entry) error { return nil }); !errors.Is(err, ErrReplayOrder) {
		t.Fatalf("Replay after Append = %v, want ErrReplayOrder", err)
	}
	mustClose(t, j)

	j = mustOpen(t, opts)
	defer mustClose(t, j)
	stop := errors.New("stop")
	var during error
	err := j.Replay(context.Background(), func(e *Entry) error {
		_, during = j.Append(context.Background(), testEntry(9))
		return stop
	})
	if !errors.Is(err, stop) {
		t.Fatalf("Replay = %v, want the callback's error", err)
	}
	if !errors.Is(during, ErrReplayOrder) {
		t.Fatalf("Append during Replay = %v, want ErrReplayOrder", during)
	}
	if err := j.Replay(context.Background(), func(*Entry) error { return nil }); !errors.Is(err, ErrReplayOrder) {
		t.Fatalf("second Replay = %v, want ErrReplayOrder", err)
	}
	if seq, err := j.Append(context.Background(), testEntry(3)); err != nil || seq != 4 {
		t.Fatalf("Append after Replay = %d, %v; want 4", seq, err)
	}
}

func TestInvalidEntries(t *testing.T) {
	dir := t.TempDir()
	opts, _ := testOptions(dir, FsyncNo, 0)
	j := mustOpen(t, opts)
	defer mustClose(t, j)
	// 1 GiB of address space; the pages are never touched because the entry
	// is refused before it is encoded.
	huge := make([]byte, MaxRecordSize-payloadFixedSize)
	tests := []struct {
		name string
		e    Entry
		want error
	}{
		{"kind 0", Entry{Key: []byte("k")}, ErrInvalidEntry},
		{"kind 9", Entry{Key: []byte("k"), Kind: 9}, ErrInvalidEntry},
		{"negative db", Entry{Key: []byte("k"), Kind: KindSet, DB: -1}, ErrInvalidEntry},
		{"negative expiry", Entry{Key: []byte("k"), Kind: KindSet, ExpireAtMs: -5}, ErrInvalidEntry},
		{"too large", Entry{Key: []byte("k"), Kind: KindSet, Value: huge}, ErrTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := j.Append(context.Background(), &tc.e); !errors.Is(err, tc.want) {
				t.Fatalf("Append = %v, want %v", err, tc.want)
			}
		})
	}
	// The limit is inclusive, and a delete's value does not count (it is
	// not stored). checkEntry is what Append runs first; calling it directly
	// avoids writing a gigabyte.
	if err := checkEntry(&Entry{Key: []byte("k"), Kind: KindSet, Value: huge[:len(huge)-1]}); err != nil {
		t.Fatalf("entry of exactly MaxRecordSize refused: %v", err)
	}
	if err := checkEntry(&Entry{Key: []byte("k"), Kind: KindDelete, Value: huge}); err != nil {
		t.Fatalf("delete refused for its (ignored) value: %v", err)
	}
	// A bad entry in a batch rejects the whole batch before anything is written.
	if _, err := j.AppendBatch(context.Background(), []*Entry{testEntry(1), {Kind: 7}}); !errors.Is(err, ErrInvalidEntry) {
		t.Fatalf("AppendBatch = %v, want ErrInvalidEntry", err)
	}
	if st := j.Stats(); st.LastSeq != 0 {
		t.Fatalf("rejected entries were written: %+v", st)
	}
}

func TestClosedAndLocked(t *testing.T) {
	dir := t.TempDir()
	opts, _ := testOptions(dir, FsyncEverySec, 0)
	j := mustOpen(t, opts)
	if _, err := Open(context.Background(), opts); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	appendRange(t, j, 0, 2)
	mustClose(t, j)
	if err := j.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
	if _, err := j.Append(context.Background(), testEntry(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	if err := j.Confirm(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Confirm after Close = %v, want ErrClosed", err)
	}
	if err := j.Replay(context.Background(), func(*Entry) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Replay after Close = %v, want ErrClosed", err)
	}
	if st := j.Stats(); st.LastSeq != 2 {
		t.Fatalf("Stats after Close = %+v", st)
	}
	j = mustOpen(t, opts) // the lock was released
	mustClose(t, j)
}

func TestCanceledContext(t *testing.T) {
	dir := t.TempDir()
	opts, _ := testOptions(dir, FsyncAlways, 0)
	j := mustOpen(t, opts)
	defer mustClose(t, j)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := j.Append(ctx, testEntry(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with canceled ctx = %v", err)
	}
	if st := j.Stats(); st.LastSeq != 0 {
		t.Fatalf("canceled Append was written: %+v", st)
	}
}

func TestRollingSegments(t *testing.T) {
	dir := t.TempDir()
	const segSize = 4096
	opts, _ := testOptions(dir, FsyncNo, segSize)
	j := mustOpen(t, opts)
	want := appendRange(t, j, 0, 300)
	st := j.Stats()
	files := segmentFiles(t, dir)
	if st.Segments < 5 || st.Segments != len(files) {
		t.Fatalf("Stats.Segments = %d, files = %d; want >= 5 and equal", st.Segments, len(files))
	}
	var total int64
	for i, f := range files {
		size := fileSize(t, f)
		total += size
		// A segment is over the limit by at most its last record.
		if size > segSize+int64(recordSize(&Entry{Key: make([]byte, 16), Value: make([]byte, 200)})) {
			t.Errorf("%s is %d bytes", f, size)
		}
		first, _ := parseSegmentName(filepath.Base(f))
		if i == 0 && first != 1 {
			t.Errorf("first segment %s does not start at seq 1", f)
		}
	}
	if st.Bytes != total {
		t.Fatalf("Stats.Bytes = %d, files hold %d", st.Bytes, total)
	}
	mustClose(t, j)
	j = mustOpen(t, opts)
	defer mustClose(t, j)
	checkEntries(t, replayAll(t, j), want)
	more := appendRange(t, j, 300, 1)
	if more[0].Seq != 301 {
		t.Fatalf("seq after reopen = %d, want 301", more[0].Seq)
	}
}

func TestConfirm(t *testing.T) {
	dir := t.TempDir()
	const segSize = 4096
	opts, _ := testOptions(dir, FsyncAlways, segSize)
	j := mustOpen(t, opts)
	want := appendRange(t, j, 0, 300)
	before := segmentFiles(t, dir)

	if err := j.Confirm(400); !errors.Is(err, ErrConfirmAhead) {
		t.Fatalf("Confirm(400) = %v, want ErrConfirmAhead", err)
	}
	const mid = 150
	if err := j.Confirm(mid); err != nil {
		t.Fatal(err)
	}
	if err := j.Confirm(mid - 10); err != nil { // going back is a no-op
		t.Fatal(err)
	}
	after := segmentFiles(t, dir)
	if len(after) >= len(before) {
		t.Fatalf("Confirm(%d) deleted nothing: %d files before, %d after", mid, len(before), len(after))
	}
	// Exactly the segments whose records are all <= mid are gone.
	for i, f := range before {
		first, _ := parseSegmentName(filepath.Base(f))
		next := uint64(301)
		if i+1 < len(before) {
			next, _ = parseSegmentName(filepath.Base(before[i+1]))
		}
		_, err := os.Stat(f)
		if gone := os.IsNotExist(err); gone != (next-1 <= mid) {
			t.Errorf("segment %s (seqs %d..%d): deleted=%v after Confirm(%d)", f, first, next-1, gone, mid)
		}
	}
	if st := j.Stats(); st.ConfirmedSeq != mid || st.Segments != len(after) {
		t.Fatalf("Stats = %+v", st)
	}
	mustClose(t, j)

	j = mustOpen(t, opts)
	checkEntries(t, replayAll(t, j), want[mid:])
	if st := j.Stats(); st.ConfirmedSeq != mid {
		t.Fatalf("ConfirmedSeq after reopen = %d", st.ConfirmedSeq)
	}
	// Confirming everything leaves one segment, empty: the active one was
	// rolled because it was entirely confirmed and large enough.
	if err := j.Confirm(300); err != nil {
		t.Fatal(err)
	}
	files := segmentFiles(t, dir)
	if len(files) != 1 || fileSize(t, files[0]) != segHeaderSize || filepath.Base(files[0]) != segmentName(301) {
		t.Fatalf("after Confirm(300): files %v", files)
	}
	mustClose(t, j)

	j = mustOpen(t, opts)
	defer mustClose(t, j)
	if got := replayAll(t, j); len(got) != 0 {
		t.Fatalf("replayed %d confirmed entries", len(got))
	}
	if seq := appendRange(t, j, 300, 1)[0].Seq; seq != 301 {
		t.Fatalf("seq after confirming everything = %d, want 301", seq)
	}
}

func TestConfirmDuringReplay(t *testing.T) {
	dir := t.TempDir()
	opts, _ := testOptions(dir, FsyncNo, 4096)
	j := mustOpen(t, opts)
	want := appendRange(t, j, 0, 200)
	mustClose(t, j)
	n := len(segmentFiles(t, dir))

	j = mustOpen(t, opts)
	defer mustClose(t, j)
	var got []Entry
	err := j.Replay(context.Background(), func(e *Entry) error {
		got = append(got, canonical(e, e.Seq))
		return j.Confirm(e.Seq) // a flusher confirming as it goes
	})
	if err != nil {
		t.Fatal(err)
	}
	checkEntries(t, got, want)
	if m := len(segmentFiles(t, dir)); m >= n {
		t.Fatalf("segments not deleted after Replay: %d before, %d after", n, m)
	}
}

func TestCheckpoint(t *testing.T) {
	dir := t.TempDir()
	opts, lb := testOptions(dir, FsyncAlways, 0)
	j := mustOpen(t, opts)
	want := appendRange(t, j, 0, 20)
	for _, s := range []uint64{5, 8, 12} {
		if err := j.Confirm(s); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, j)
	// Slots alternate: 5 -> slot 0, 8 -> slot 1, 12 -> slot 0.
	ckpt := filepath.Join(dir, checkpointName)

	tests := []struct {
		name    string
		damage  []int64 // offsets whose first bit is flipped
		replays uint64  // first seq replayed
		warn    bool
	}{
		{"intact", nil, 13, false},
		{"newest slot torn", []int64{14}, 9, false},
		{"older slot torn", []int64{ckptSlotStride + 14}, 13, false},
		{"both torn", []int64{14, ckptSlotStride + 14}, 1, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := copyDir(t, dir)
			for _, off := range tc.damage {
				flipBit(t, filepath.Join(d, filepath.Base(ckpt)), off, 0)
			}
			o := opts
			o.Dir = d
			lb.buf.Reset()
			j := mustOpen(t, o)
			defer mustClose(t, j)
			checkEntries(t, replayAll(t, j), want[tc.replays-1:])
			if got := contains(lb.String(), "checkpoint damaged"); got != tc.warn {
				t.Fatalf("warning logged = %v, want %v; log:\n%s", got, tc.warn, lb.String())
			}
		})
	}
}

func TestCheckpointAheadOfRecords(t *testing.T) {
	dir := t.TempDir()
	opts, lb := testOptions(dir, FsyncNo, 0)
	j := mustOpen(t, opts)
	appendRange(t, j, 0, 10)
	mustClose(t, j)
	// As if the tail up to seq 40 was written, flushed and confirmed, then
	// lost in a power failure while the checkpoint survived.
	c, _, err := openCheckpoint(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.write(40); err != nil {
		t.Fatal(err)
	}
	c.f.Close()

	j = mustOpen(t, opts)
	defer mustClose(t, j)
	if got := replayAll(t, j); len(got) != 0 {
		t.Fatalf("replayed %d confirmed entries", len(got))
	}
	if seq := appendRange(t, j, 10, 1)[0].Seq; seq != 41 {
		t.Fatalf("seq = %d, want 41 (never reuse a confirmed seq)", seq)
	}
	if !contains(lb.String(), "checkpoint ahead") {
		t.Fatalf("no warning logged:\n%s", lb.String())
	}
	if files := segmentFiles(t, dir); len(files) != 1 {
		t.Fatalf("old segments kept: %v", files)
	}
}

// buildJournal writes n test entries with one segment and returns the
// entries, the segment's path and the offset where the last record starts.
func buildJournal(t *testing.T, n int) (dir string, want []Entry, seg string, lastStart int64) {
	t.Helper()
	dir = t.TempDir()
	opts, _ := testOptions(dir, FsyncAlways, 0)
	j := mustOpen(t, opts)
	want = appendRange(t, j, 0, n-1)
	lastStart = j.Stats().Bytes
	want = append(want, appendRange(t, j, n-1, 1)...)
	mustClose(t, j)
	files := segmentFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("expected one segment, got %v", files)
	}
	return dir, want, files[0], lastStart
}

// TestTornTail cuts the file at every byte offset of the last record: the
// earlier records replay, the tail is cut and logged with its offset, and
// the journal takes and replays new appends.
func TestTornTail(t *testing.T) {
	dir, want, seg, lastStart := buildJournal(t, 8)
	end := fileSize(t, seg)
	for cut := lastStart; cut < end; cut++ {
		d := copyDir(t, dir)
		path := filepath.Join(d, filepath.Base(seg))
		if err := os.Truncate(path, cut); err != nil {
			t.Fatal(err)
		}
		opts, lb := testOptions(d, FsyncAlways, 0)
		j := mustOpen(t, opts)
		checkEntries(t, replayAll(t, j), want[:len(want)-1])
		if got := fileSize(t, path); got != lastStart {
			t.Fatalf("cut at %d: file is %d bytes after recovery, want %d", cut, got, lastStart)
		}
		if cut > lastStart && !contains(lb.String(), "offset="+strconv.FormatInt(lastStart, 10)) {
			t.Fatalf("cut at %d: tail cut not logged with its offset:\n%s", cut, lb.String())
		}
		more := appendRange(t, j, 100, 1)
		if more[0].Seq != uint64(len(want)) {
			t.Fatalf("cut at %d: new seq %d, want %d", cut, more[0].Seq, len(want))
		}
		mustClose(t, j)
		j = mustOpen(t, opts)
		checkEntries(t, replayAll(t, j), append(want[:len(want)-1:len(want)-1], more...))
		mustClose(t, j)
	}
}

// TestBitFlipLastRecord: damage anywhere in the last record is a torn tail.
func TestBitFlipLastRecord(t *testing.T) {
	dir, want, seg, lastStart := buildJournal(t, 6)
	end := fileSize(t, seg)
	for off := lastStart; off < end; off++ {
		d := copyDir(t, dir)
		path := filepath.Join(d, filepath.Base(seg))
		flipBit(t, path, off, uint(off))
		opts, lb := testOptions(d, FsyncNo, 0)
		j := mustOpen(t, opts)
		checkEntries(t, replayAll(t, j), want[:len(want)-1])
		if got := fileSize(t, path); got != lastStart {
			t.Fatalf("flip at %d: file is %d bytes, want %d", off, got, lastStart)
		}
		if !contains(lb.String(), "cutting torn tail") {
			t.Fatalf("flip at %d: not logged:\n%s", off, lb.String())
		}
		mustClose(t, j)
	}
}

// TestBitFlipEarlierRecord: damage followed by valid records is not a torn
// tail; Open refuses to drop the acknowledged records behind it.
func TestBitFlipEarlierRecord(t *testing.T) {
	dir, _, seg, _ := buildJournal(t, 6)
	// Record 2 starts after the header and record 1.
	rec2 := int64(segHeaderSize + recordSize(testEntry(0)))
	for _, delta := range []int64{0, 3, 5, 9, 20} { // length, crc, payload header, key
		d := copyDir(t, dir)
		path := filepath.Join(d, filepath.Base(seg))
		flipBit(t, path, rec2+delta, 1)
		opts, _ := testOptions(d, FsyncNo, 0)
		_, err := Open(context.Background(), opts)
		var ce *CorruptError
		if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flip at %d: Open = %v, want a *CorruptError", rec2+delta, err)
		}
		if ce.File != path || ce.Offset != rec2 || !contains(err.Error(), filepath.Base(path)) {
			t.Fatalf("flip at %d: error %q (file %s, offset %d), want file %s offset %d", rec2+delta, err, ce.File, ce.Offset, path, rec2)
		}
		if got := fileSize(t, path); got != fileSize(t, seg) {
			t.Fatalf("flip at %d: file truncated to %d despite the error", rec2+delta, got)
		}
	}
}

// TestSealedSegmentDamage: damage in a sealed segment is an error naming
// the file, never cut.
func TestSealedSegmentDamage(t *testing.T) {
	dir := t.TempDir()
	opts, _ := testOptions(dir, FsyncNo, 2048)
	j := mustOpen(t, opts)
	appendRange(t, j, 0, 100)
	mustClose(t, j)
	files := segmentFiles(t, dir)
	if len(files) < 3 {
		t.Fatalf("want >= 3 segments, got %d", len(files))
	}
	sealed := files[1]
	size := fileSize(t, sealed)

	tests := []struct {
		name    string
		damage  func(path string)
		atOpen  bool // detected by Open (header) rather than Replay
		message string
	}{
		{"flip in the middle", func(p string) { flipBit(t, p, size/2, 3) }, false, ""},
		{"flip in the last record", func(p string) { flipBit(t, p, size-3, 0) }, false, "checksum mismatch"},
		{"last record missing", func(p string) {
			// Cut the whole last record: every remaining frame is valid, but
			// seqs are missing before the next segment.
			rs := lastRecordStart(t, p)
			if err := os.Truncate(p, rs); err != nil {
				t.Fatal(err)
			}
		}, false, "records are missing"},
		{"torn tail", func(p string) {
			if err := os.Truncate(p, size-1); err != nil {
				t.Fatal(err)
			}
		}, false, "truncated record"},
		{"header", func(p string) { flipBit(t, p, 2, 0) }, true, "bad segment magic"},
		{"header seq", func(p string) { flipBit(t, p, 13, 0) }, true, "checksum"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := copyDir(t, dir)
			path := filepath.Join(d, filepath.Base(sealed))
			tc.damage(path)
			o := opts
			o.Dir = d
			j, err := Open(context.Background(), o)
			if !tc.atOpen {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				defer mustClose(t, j)
				_, err = tryReplay(j)
			}
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.File != path || !contains(err.Error(), filepath.Base(path)) {
				t.Fatalf("got %v, want a *CorruptError naming %s", err, path)
			}
			if !contains(err.Error(), tc.message) {
				t.Fatalf("error %q does not say %q", err, tc.message)
			}
		})
	}
}

// lastRecordStart walks the frames of a segment file.
func lastRecordStart(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off, last := segHeaderSize, -1
	var e Entry
	for off < len(b) {
		n, st := decodeRecord(b[off:], &e)
		if st != decodeOK {
			t.Fatalf("%s at %d: %v", path, off, st)
		}
		last, off = off, off+n
	}
	return int64(last)
}

// TestTornSegmentHeader: a crash while a new segment was being created
// leaves a torn header; recovery rewrites it and keeps the seq it names.
func TestTornSegmentHeader(t *testing.T) {
	for _, size := range []int64{0, 10, segHeaderSize} {
		t.Run(strconv.FormatInt(size, 10), func(t *testing.T) {
			dir := t.TempDir()
			opts, lb := testOptions(dir, FsyncAlways, 2048)
			j := mustOpen(t, opts)
			want := appendRange(t, j, 0, 40)
			mustClose(t, j)
			next := filepath.Join(dir, segmentName(41))
			if err := os.WriteFile(next, make([]byte, size), 0o644); err != nil {
				t.Fatal(err)
			}
			j = mustOpen(t, opts)
			defer mustClose(t, j)
			checkEntries(t, replayAll(t, j), want)
			if !contains(lb.String(), "rewriting torn segment header") {
				t.Fatalf("not logged:\n%s", lb.String())
			}
			if seq := appendRange(t, j, 40, 1)[0].Seq; seq != 41 {
				t.Fatalf("seq = %d, want 41", seq)
			}
		})
	}
}

// TestEverySecBackgroundSync: under everysec, Append does not fsync, and the
// background goroutine makes the record durable within about a second.
func TestEverySecBackgroundSync(t *testing.T) {
	dir := t.TempDir()
	opts, _ := testOptions(dir, FsyncEverySec, 0)
	opened := time.Now()
	j := mustOpen(t, opts)
	defer mustClose(t, j)
	seq, err := j.Append(context.Background(), testEntry(1))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Confirm(seq); err != nil {
		t.Fatal(err)
	}
	durable := func() bool {
		j.syncMu.Lock()
		defer j.syncMu.Unlock()
		return j.synced >= seq
	}
	// Unless the machine stalled for most of the first tick, nothing has
	// been fsynced yet.
	if (durable() || j.Stats().Syncs != 0) && time.Since(opened) < 500*time.Millisecond {
		t.Fatal("everysec Append waited for an fsync")
	}
	waitFor(t, 3*time.Second, "the background fsync", func() bool { return durable() && j.Stats().Syncs >= 1 })
	waitFor(t, 3*time.Second, "the checkpoint sync", func() bool {
		j.ckptMu.Lock()
		defer j.ckptMu.Unlock()
		return !j.ckpt.dirty
	})
}

// TestFailedIsSticky: when a failed write cannot even be cut off again, the
// journal refuses further writes (ErrFailed) rather than guessing what is on
// disk, and a reopen recovers every acknowledged record. The fault is real:
// the segment's descriptor is closed underneath the journal, so both the
// write and the truncate fail.
func TestFailedIsSticky(t *testing.T) {
	dir := t.TempDir()
	opts, _ := testOptions(dir, FsyncAlways, 0)
	j := mustOpen(t, opts)
	want := appendRange(t, j, 0, 5)
	j.mu.Lock()
	j.active.f.Close()
	j.mu.Unlock()
	if _, err := j.Append(context.Background(), testEntry(5)); err == nil || errors.Is(err, ErrFailed) {
		t.Fatalf("Append on a dead file = %v, want the I/O error", err)
	}
	if _, err := j.Append(context.Background(), testEntry(6)); !errors.Is(err, ErrFailed) {
		t.Fatalf("Append after a failed cleanup = %v, want ErrFailed", err)
	}
	if st := j.Stats(); st.LastSeq != 5 {
		t.Fatalf("LastSeq = %d, want 5", st.LastSeq)
	}
	if err := j.Close(); err == nil {
		t.Fatal("Close of a failed journal reported no error")
	}
	j = mustOpen(t, opts) // the lock was released despite the failure
	defer mustClose(t, j)
	checkEntries(t, replayAll(t, j), want)
}

// TestEmbeddedFrameInTornValue: a torn last record whose value happens to
// contain a complete journal frame. Its seq is outside what the torn bytes
// could hold, so it does not count as a later record: the tail is cut.
func TestEmbeddedFrameInTornValue(t *testing.T) {
	dir := t.TempDir()
	opts, lb := testOptions(dir, FsyncAlways, 0)
	j := mustOpen(t, opts)
	want := appendRange(t, j, 0, 4)
	lastStart := j.Stats().Bytes
	inner := appendRecord(nil, &Entry{Key: []byte("inner"), Kind: KindSet, Value: []byte("v")}, 1_000_000)
	value := append(append([]byte("prefix"), inner...), make([]byte, 64)...)
	if _, err := j.Append(context.Background(), &Entry{Key: []byte("outer"), Kind: KindSet, Value: value}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, j)
	seg := segmentFiles(t, dir)[0]
	// Cut inside the trailing padding: the inner frame is complete.
	if err := os.Truncate(seg, fileSize(t, seg)-10); err != nil {
		t.Fatal(err)
	}
	j = mustOpen(t, opts)
	defer mustClose(t, j)
	checkEntries(t, replayAll(t, j), want)
	if got := fileSize(t, seg); got != lastStart {
		t.Fatalf("file is %d bytes, want the tail cut at %d; log:\n%s", got, lastStart, lb.String())
	}
}
