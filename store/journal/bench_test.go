package journal

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkAppend answers "how many write-back writes per second can the
// journal acknowledge, and at what bandwidth?" for 100-byte values under
// each fsync policy and, for fsync always, with 1, 16 and 64 concurrent
// appenders (group commit). Run:
//
//	go test -run '^$' -bench BenchmarkAppend -benchtime 2s ./store/journal/
//
// Reported: ns/op and MB/s per appended record, appends/fsync (the average
// group-commit size) and the fsync p99 in µs.
func BenchmarkAppend(b *testing.B) {
	cases := []struct {
		fsync   string
		writers int
	}{
		{FsyncAlways, 1},
		{FsyncAlways, 16},
		{FsyncAlways, 64},
		{FsyncEverySec, 1},
		{FsyncEverySec, 16},
		{FsyncNo, 1},
		{FsyncNo, 16},
	}
	for _, c := range cases {
		b.Run(c.fsync+"/writers="+strconv.Itoa(c.writers), func(b *testing.B) {
			opts, _ := testOptions(b.TempDir(), c.fsync, 0)
			j := mustOpen(b, opts)
			value := make([]byte, 100)
			for i := range value {
				value[i] = byte(i)
			}
			b.SetBytes(int64(recordSize(&Entry{Key: make([]byte, 16), Value: value})))
			b.ReportAllocs()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := range c.writers {
				wg.Go(func() {
					e := &Entry{DB: w, Key: []byte("bench:key:000000"), Kind: KindSet, Value: value}
					for next.Add(1) <= int64(b.N) {
						if _, err := j.Append(context.Background(), e); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			st := j.Stats()
			if c.fsync == FsyncAlways && st.Syncs > 0 {
				b.ReportMetric(float64(st.Appends)/float64(st.Syncs), "appends/fsync")
				b.ReportMetric(float64(st.SyncMicrosP99), "fsync-p99-µs")
			}
			mustClose(b, j)
		})
	}
}

// BenchmarkAppendBatch: a flusher-sized batch (64 records) per call.
func BenchmarkAppendBatch(b *testing.B) {
	for _, fsync := range []string{FsyncAlways, FsyncNo} {
		b.Run(fsync, func(b *testing.B) {
			opts, _ := testOptions(b.TempDir(), fsync, 0)
			j := mustOpen(b, opts)
			defer mustClose(b, j)
			es := make([]*Entry, 64)
			for i := range es {
				es[i] = &Entry{Key: []byte("bench:key:000000"), Kind: KindSet, Value: make([]byte, 100)}
			}
			b.SetBytes(int64(len(es) * recordSize(es[0])))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := j.AppendBatch(context.Background(), es); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReplay: records replayed per second at Open-after-crash time.
func BenchmarkReplay(b *testing.B) {
	dir := b.TempDir()
	opts, _ := testOptions(dir, FsyncNo, 0)
	j := mustOpen(b, opts)
	e := &Entry{Key: []byte("bench:key:000000"), Kind: KindSet, Value: make([]byte, 100)}
	const n = 100_000
	for range n {
		if _, err := j.Append(context.Background(), e); err != nil {
			b.Fatal(err)
		}
	}
	mustClose(b, j)
	b.SetBytes(int64(n * recordSize(e)))
	for b.Loop() {
		j := mustOpen(b, opts)
		count := 0
		if err := j.Replay(context.Background(), func(*Entry) error { count++; return nil }); err != nil || count != n {
			b.Fatalf("replayed %d, %v", count, err)
		}
		mustClose(b, j)
	}
}
