package journal

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuffer collects log output so tests can check what recovery reported.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func testOptions(dir, fsync string, segSize int64) (Options, *logBuffer) {
	lb := &logBuffer{}
	return Options{
		Dir:         dir,
		Fsync:       fsync,
		SegmentSize: segSize,
		Logger:      slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, lb
}

func mustOpen(t testing.TB, opts Options) *Journal {
	t.Helper()
	j, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", opts.Dir, err)
	}
	return j
}

func mustClose(t testing.TB, j *Journal) {
	t.Helper()
	if err := j.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// testEntry is the deterministic entry number i: kinds, dbs, types, expiries
// and value sizes vary with i, including empty keys and values.
func testEntry(i int) *Entry {
	e := &Entry{
		DB:   i % 16,
		Key:  fmt.Appendf(nil, "key:%d", i),
		Kind: KindSet,
		Type: byte(i % 5),
	}
	switch {
	case i%7 == 3:
		e.Kind, e.Type = KindDelete, 0
	case i%11 == 5:
		e.Key = []byte{}
		e.Value = []byte{}
	default:
		e.Value = bytes.Repeat([]byte{byte(i)}, 1+(i*37)%200)
		if i%3 == 0 {
			e.ExpireAtMs = 1_700_000_000_000 + int64(i)
		}
	}
	return e
}

// canonical is what replay returns for e appended with seq: deletes carry no
// type, value or expiry, and nil and empty slices compare equal.
func canonical(e *Entry, seq uint64) Entry {
	c := Entry{Seq: seq, DB: e.DB, Key: append([]byte{}, e.Key...), Kind: e.Kind, Type: e.Type, Value: append([]byte{}, e.Value...), ExpireAtMs: e.ExpireAtMs}
	if c.Kind == KindDelete {
		c.Type, c.Value, c.ExpireAtMs = 0, []byte{}, 0
	}
	return c
}

// appendRange appends testEntry(from..from+n-1) one by one and returns what
// replay should give back for them.
func appendRange(t testing.TB, j *Journal, from, n int) []Entry {
	t.Helper()
	var want []Entry
	for i := from; i < from+n; i++ {
		e := testEntry(i)
		seq, err := j.Append(context.Background(), e)
		if err != nil {
			t.Fatalf("Append(%d): %v", i, err)
		}
		want = append(want, canonical(e, seq))
	}
	return want
}

// replayAll replays j and returns deep copies of the entries.
func replayAll(t testing.TB, j *Journal) []Entry {
	t.Helper()
	got, err := tryReplay(j)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	return got
}

func tryReplay(j *Journal) ([]Entry, error) {
	var got []Entry
	err := j.Replay(context.Background(), func(e *Entry) error {
		got = append(got, canonical(e, e.Seq))
		return nil
	})
	return got, err
}

func checkEntries(t testing.TB, got, want []Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("replayed %d entries, want %d (got seqs %s, want %s)", len(got), len(want), seqRange(got), seqRange(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Seq != w.Seq || g.DB != w.DB || g.Kind != w.Kind || g.Type != w.Type || g.ExpireAtMs != w.ExpireAtMs ||
			!bytes.Equal(g.Key, w.Key) || !bytes.Equal(g.Value, w.Value) {
			t.Fatalf("entry %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func seqRange(es []Entry) string {
	if len(es) == 0 {
		return "[]"
	}
	return fmt.Sprintf("[%d..%d]", es[0].Seq, es[len(es)-1].Seq)
}

// segmentFiles lists the segment files in dir, oldest first.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "journal-*.wal"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// copyDir copies the regular files of src into a new temp dir (LOCK
// excluded, so the copy can be opened while src is).
func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	des, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if !de.Type().IsRegular() || de.Name() == "LOCK" {
			continue
		}
		in, err := os.Open(filepath.Join(src, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dst, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func flipBit(t testing.TB, path string, off int64, bit uint) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1 << (bit % 8)
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
