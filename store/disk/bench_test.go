package disk

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
)

// Benchmarks answer "how many GET/SET per second does the disk engine do,
// per fsync policy, and what does a 100-command transaction cost?".
//
//	go test -run '^$' -bench . -benchtime 2s ./store/disk/

func benchStore(b *testing.B, fsync string) *Store {
	b.Helper()
	s, err := Open(Options{Dir: b.TempDir(), Fsync: fsync, BlockCache: 64 << 20, Memtable: 64 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func reportOps(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}

func BenchmarkGet(b *testing.B) {
	s := benchStore(b, FsyncNo)
	c := s.NewConn()
	const keys = 10000
	val := make([]byte, 100)
	for i := 0; i < keys; i++ {
		c.Do(context.Background(), [][]byte{[]byte("SET"), []byte("key:" + strconv.Itoa(i)), val}, nil)
	}
	b.SetBytes(int64(len(val)))
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		c := s.NewConn()
		args := [][]byte{[]byte("GET"), nil}
		var out []byte
		kb := make([]byte, 0, 16)
		for pb.Next() {
			i := next.Add(1) % keys
			kb = strconv.AppendInt(append(kb[:0], "key:"...), i, 10)
			args[1] = kb
			out = c.Do(context.Background(), args, out[:0])
		}
	})
	reportOps(b)
}

func benchSet(b *testing.B, fsync string) {
	s := benchStore(b, fsync)
	val := make([]byte, 100)
	b.SetBytes(int64(len(val)))
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		c := s.NewConn()
		args := [][]byte{[]byte("SET"), nil, val}
		var out []byte
		kb := make([]byte, 0, 16)
		for pb.Next() {
			i := next.Add(1) % 100000
			kb = strconv.AppendInt(append(kb[:0], "key:"...), i, 10)
			args[1] = kb
			out = c.Do(context.Background(), args, out[:0])
		}
	})
	reportOps(b)
}

func BenchmarkSetFsyncNo(b *testing.B)       { benchSet(b, FsyncNo) }
func BenchmarkSetFsyncEverysec(b *testing.B) { benchSet(b, FsyncEverysec) }

// BenchmarkSetFsyncAlways runs 32 writers per CPU so that group commit has
// concurrent commits to share a WAL sync.
func BenchmarkSetFsyncAlways(b *testing.B) {
	b.SetParallelism(32)
	benchSet(b, FsyncAlways)
}

// BenchmarkMulti100 measures MULTI + 100 SETs + EXEC (one batch); ops/s
// counts transactions.
func BenchmarkMulti100(b *testing.B) {
	s := benchStore(b, FsyncEverysec)
	c := s.NewConn()
	ctx := context.Background()
	keys := make([][]byte, 100)
	for i := range keys {
		keys[i] = []byte("k" + strconv.Itoa(i))
	}
	multi, exec := [][]byte{[]byte("MULTI")}, [][]byte{[]byte("EXEC")}
	val := []byte("value")
	b.ReportAllocs()
	b.ResetTimer()
	var out []byte
	for i := 0; i < b.N; i++ {
		out = c.Do(ctx, multi, out[:0])
		for _, k := range keys {
			out = c.Do(ctx, [][]byte{[]byte("SET"), k, val}, out[:0])
		}
		out = c.Do(ctx, exec, out[:0])
		if len(out) < 4 || out[0] != '*' {
			b.Fatalf("EXEC: %q", out)
		}
	}
	reportOps(b)
}
