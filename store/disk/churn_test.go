package disk

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/respcache/respcache/internal/redistest"
)

// churnWorkloads delete and re-create one key per cycle; every command of
// a cycle must succeed (replies are checked by the callers).
var churnWorkloads = []struct {
	name  string
	cycle [][]string
}{
	// A queue that empties on every pop: LPOP deletes the key, RPUSH
	// creates it again.
	{"queue", [][]string{{"RPUSH", "q", "job"}, {"LPOP", "q"}}},
	// A lock: SET NX looks the deleted key up before creating it.
	{"lock", [][]string{{"SET", "lock", "x", "NX"}, {"DEL", "lock"}}},
	// A hash that goes away with its last field.
	{"hash", [][]string{{"HSET", "h", "f", "v"}, {"HDEL", "h", "f"}}},
}

func churnArgs(cmd []string) [][]byte {
	a := make([][]byte, len(cmd))
	for i, s := range cmd {
		a[i] = []byte(s)
	}
	return a
}

// runChurn runs n cycles of cycle on c and fails on any error reply.
func runChurn(tb testing.TB, c *Conn, cycle [][][]byte, n int) {
	tb.Helper()
	var out []byte
	for i := 0; i < n; i++ {
		for _, a := range cycle {
			out = c.Do(context.Background(), a, out[:0])
			if len(out) > 0 && out[0] == '-' {
				tb.Fatalf("%q: %q", a, out)
			}
		}
	}
}

// metaLookupSteps returns how many internal iterator steps pebble takes to
// find the newest version of key's meta record: what every lookup of the
// key (a point Get included) pays.
func metaLookupSteps(t testing.TB, s *Store, key string) int {
	t.Helper()
	k := appendMetaKey(nil, s.dbmap[0], []byte(key))
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: k, UpperBound: append(append([]byte(nil), k...), 0)})
	if err != nil {
		t.Fatal(err)
	}
	it.First()
	st := it.Stats()
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	return st.ForwardStepCount[pebble.InternalIterCall]
}

// TestChurnLookupCost: after thousands of delete/re-create cycles of one
// key, looking the (deleted) key up must not step over its history. With
// pebble tombstones as deletes this took two steps per cycle.
func TestChurnLookupCost(t *testing.T) {
	const cycles = 3000
	for _, w := range churnWorkloads {
		t.Run(w.name, func(t *testing.T) {
			s, err := Open(Options{Dir: t.TempDir(), Fsync: FsyncNo, Memtable: 64 << 20})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			var cycle [][][]byte
			for _, c := range w.cycle {
				cycle = append(cycle, churnArgs(c))
			}
			runChurn(t, s.NewConn(), cycle, cycles)
			key := w.cycle[0][1]
			if got := metaLookupSteps(t, s, key); got > 4 {
				t.Errorf("lookup of %q after %d cycles: %d internal steps, want <= 4", key, cycles, got)
			}
		})
	}
}

// rawMeta returns the stored meta record value of key in logical db 0.
func rawMeta(t *testing.T, s *Store, key string) ([]byte, bool) {
	t.Helper()
	v, closer, err := s.db.Get(appendMetaKey(nil, s.dbmap[0], []byte(key)))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	return append([]byte(nil), v...), true
}

func deadQueued(s *Store) int {
	s.deadMu.Lock()
	defer s.deadMu.Unlock()
	return len(s.dead)
}

// TestDeadMarkers: a deleted key leaves a dead marker that no command sees,
// and the collector turns it into a real delete once due.
func TestDeadMarkers(t *testing.T) {
	s := newTestStore(t)
	c := s.NewConn()
	expect(t, c, [][2]string{
		{"SET a 1", "+OK\r\n"},
		{"RPUSH l x", ":1\r\n"},
		{"SET b 1", "+OK\r\n"},
		{"DEL a", ":1\r\n"},
		{"LPOP l", "$1\r\nx\r\n"},
		{"RENAME b c", "+OK\r\n"},
	})
	for _, k := range []string{"a", "l", "b"} {
		if v, ok := rawMeta(t, s, k); !ok || !isDeadMeta(v) {
			t.Fatalf("meta of %q after delete: %q, %v; want a dead marker", k, v, ok)
		}
	}
	// Markers are not keys for any command.
	expect(t, c, [][2]string{
		{"EXISTS a l b", ":0\r\n"},
		{"TYPE a", "+none\r\n"},
		{"DBSIZE", ":1\r\n"},
		{"KEYS *", "*1\r\n$1\r\nc\r\n"},
		{"SCAN 0 COUNT 1", "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nc\r\n"},
		{"GET a", "$-1\r\n"},
		{"DEL c", ":1\r\n"},
		{"RANDOMKEY", "$-1\r\n"},
		{"SCAN 0", "*2\r\n$1\r\n0\r\n*0\r\n"},
		{"DBSIZE", ":0\r\n"},
	})
	// A marker is overwritten by the next write of the key.
	expect(t, c, [][2]string{
		{"SET a 2", "+OK\r\n"},
		{"GET a", "$1\r\n2\r\n"},
		{"DBSIZE", ":1\r\n"},
	})
	if n := deadQueued(s); n != 4 {
		t.Fatalf("queued markers: %d, want 4 (a, l, b, c)", n)
	}
	// Fresh marks are not due yet: a hot key must stay a marker.
	if n, err := s.collectDead(time.Now().UnixMilli()); err != nil || n != 0 {
		t.Fatalf("collectDead now: %d, %v; want 0 due", n, err)
	}
	// Due by age: markers become deletes; the re-created a is kept.
	if _, err := s.collectDead(time.Now().Add(deadMaxAge + time.Second).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"l", "b", "c"} {
		if v, ok := rawMeta(t, s, k); ok {
			t.Errorf("meta of %q after collection: %q, want none", k, v)
		}
	}
	if v, ok := rawMeta(t, s, "a"); !ok || isDeadMeta(v) {
		t.Errorf("meta of live a after collection: %q, %v", v, ok)
	}
	if n := deadQueued(s); n != 0 {
		t.Errorf("queued markers after collection: %d, want 0", n)
	}
	expect(t, c, [][2]string{{"GET a", "$1\r\n2\r\n"}, {"DBSIZE", ":1\r\n"}})
}

// TestDeadMarkersDueByFlush: deadFlushLag flushes make a marker due.
func TestDeadMarkersDueByFlush(t *testing.T) {
	s := newTestStore(t)
	c := s.NewConn()
	expect(t, c, [][2]string{{"SET a 1", "+OK\r\n"}, {"DEL a", ":1\r\n"}})
	s.deadMu.Lock()
	m := s.dead[string(append([]byte{s.dbmap[0]}, 'a'))]
	s.deadMu.Unlock()
	now := time.Now().UnixMilli()
	if s.deadDue(m, m.flushed+deadFlushLag-1, now) {
		t.Fatal("marker due before deadFlushLag flushes")
	}
	if !s.deadDue(m, m.flushed+deadFlushLag, now) {
		t.Fatal("marker not due after deadFlushLag flushes")
	}
	// Real flushes advance the counter and wake the collector.
	before := s.flushed.Load()
	for i := 0; i < deadFlushLag; i++ {
		expect(t, c, [][2]string{{"SET k" + strconv.Itoa(i) + " v", "+OK\r\n"}})
		if err := s.db.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.flushed.Load(); got < before+deadFlushLag {
		t.Fatalf("flushed %d -> %d after %d flushes", before, got, deadFlushLag)
	}
	redistest.Eventually(t, 10*time.Second, func() bool {
		_, ok := rawMeta(t, s, "a")
		return !ok && deadQueued(s) == 0
	}, "collector to delete the marker of a after %d flushes", deadFlushLag)
}

// TestDeadMarkersReopen: markers left by a previous run are not counted as
// keys and are collected after Open.
func TestDeadMarkersReopen(t *testing.T) {
	dir := t.TempDir()
	open := func() *Store {
		s, err := Open(Options{Dir: dir, Fsync: FsyncNo, Memtable: 4 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	c := s.NewConn()
	expect(t, c, [][2]string{
		{"SET a 1", "+OK\r\n"}, {"SET b 1", "+OK\r\n"}, {"DEL a", ":1\r\n"},
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open()
	t.Cleanup(func() { _ = s.Close() })
	if n := s.DBSize(0); n != 1 {
		t.Fatalf("DBSIZE after reopen: %d, want 1", n)
	}
	if n := deadQueued(s); n != 1 {
		t.Fatalf("queued markers after reopen: %d, want 1", n)
	}
	if _, err := s.collectDead(time.Now().Add(deadMaxAge + time.Second).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if v, ok := rawMeta(t, s, "a"); ok {
		t.Fatalf("marker of a after collection: %q", v)
	}
	expect(t, s.NewConn(), [][2]string{{"KEYS *", "*1\r\n$1\r\nb\r\n"}, {"EXISTS a", ":0\r\n"}})
}

// BenchmarkChurn answers "does deleting and re-creating the same key get
// slower as it is repeated?": each sub-benchmark first runs history cycles
// (untimed, default 64 MiB memtable, so the key's whole history is in the
// memtable), then measures b.N more. ops/s counts cycles (two commands)
// and should not depend on history; lookup-steps is the number of internal
// iterator steps a lookup of the key takes at the end (2 per cycle with
// pebble tombstones as deletes), which does not depend on machine load:
//
//	go test -run '^$' -bench Churn -benchtime 5000x ./store/disk/
func BenchmarkChurn(b *testing.B) {
	for _, w := range churnWorkloads {
		var cycle [][][]byte
		for _, c := range w.cycle {
			cycle = append(cycle, churnArgs(c))
		}
		for _, history := range []int{1000, 10000, 50000} {
			b.Run(w.name+"/history="+strconv.Itoa(history), func(b *testing.B) {
				s := benchStore(b, FsyncNo)
				c := s.NewConn()
				runChurn(b, c, cycle, history)
				b.ReportAllocs()
				b.ResetTimer()
				runChurn(b, c, cycle, b.N)
				reportOps(b)
				// Load-independent: what a lookup of the key costs now.
				b.ReportMetric(float64(metaLookupSteps(b, s, w.cycle[0][1])), "lookup-steps")
			})
		}
	}
}
