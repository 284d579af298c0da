package journal

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentAppendConfirm runs many appenders (single and batch), a
// confirmer that chases them (rolling and deleting segments underneath
// them) and a Stats reader at once, then checks that every acknowledged,
// unconfirmed entry replays with its content and that seqs have no gaps.
func TestConcurrentAppendConfirm(t *testing.T) {
	for _, mode := range []string{FsyncAlways, FsyncEverySec, FsyncNo} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			opts, _ := testOptions(dir, mode, 8192)
			j := mustOpen(t, opts)
			const workers, perWorker = 16, 150
			var (
				mu     sync.Mutex // guards acked
				acked  = map[uint64]Entry{}
				maxAck atomic.Uint64
				wg     sync.WaitGroup
			)
			ack := func(e *Entry, seq uint64) {
				mu.Lock()
				acked[seq] = canonical(e, seq)
				mu.Unlock()
				for {
					m := maxAck.Load()
					if seq <= m || maxAck.CompareAndSwap(m, seq) {
						return
					}
				}
			}
			for w := range workers {
				wg.Go(func() {
					for n := 0; n < perWorker; n++ {
						if n%10 == 9 {
							es := []*Entry{testEntry(w*1000 + n), testEntry(w*1000 + n + 500)}
							last, err := j.AppendBatch(context.Background(), es)
							if err != nil {
								t.Errorf("AppendBatch: %v", err)
								return
							}
							ack(es[0], last-1)
							ack(es[1], last)
							continue
						}
						e := testEntry(w*1000 + n)
						seq, err := j.Append(context.Background(), e)
						if err != nil {
							t.Errorf("Append: %v", err)
							return
						}
						ack(e, seq)
					}
				})
			}
			stop := make(chan struct{})
			var side sync.WaitGroup
			var confirms atomic.Int64
			side.Go(func() { // the flusher: confirms up to what it has seen acknowledged, lagging a bit
				tick := time.NewTicker(100 * time.Microsecond) // its flush interval
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					if m := maxAck.Load(); m > 40 {
						if err := j.Confirm(m - 40); err != nil {
							t.Errorf("Confirm: %v", err)
							return
						}
						confirms.Add(1)
					}
				}
			})
			side.Go(func() { // a metrics scraper
				tick := time.NewTicker(50 * time.Microsecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					st := j.Stats()
					if st.ConfirmedSeq > st.LastSeq {
						t.Errorf("Stats: confirmed %d > last %d", st.ConfirmedSeq, st.LastSeq)
						return
					}
				}
			})
			wg.Wait()
			close(stop)
			side.Wait()
			st := j.Stats()
			total := uint64(workers * (perWorker + perWorker/10))
			if st.LastSeq != total || uint64(len(acked)) != total || st.Appends != total {
				t.Fatalf("LastSeq %d, acked %d, Appends %d; want %d", st.LastSeq, len(acked), st.Appends, total)
			}
			if confirms.Load() == 0 {
				t.Fatal("the confirmer never ran")
			}
			mustClose(t, j)

			j = mustOpen(t, opts)
			defer mustClose(t, j)
			confirmed := j.Stats().ConfirmedSeq
			var want []Entry
			for seq := confirmed + 1; seq <= total; seq++ {
				want = append(want, acked[seq])
			}
			checkEntries(t, replayAll(t, j), want)
			t.Logf("confirmed %d of %d over %d Confirm calls; %d segments left; %d syncs", confirmed, total, confirms.Load(), j.Stats().Segments, st.Syncs)
		})
	}
}

// TestGroupCommit: with fsync always, concurrent Appends share fsyncs.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	opts, _ := testOptions(dir, FsyncAlways, 0)
	j := mustOpen(t, opts)
	defer mustClose(t, j)
	const workers, perWorker = 32, 100
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for n := range perWorker {
				if _, err := j.Append(context.Background(), testEntry(w*perWorker+n)); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	st := j.Stats()
	ratio := float64(st.Appends) / float64(st.Syncs)
	t.Logf("%d appends, %d fsyncs (%.1f appends per fsync), fsync p99 %dµs, max %dµs, total %dµs",
		st.Appends, st.Syncs, ratio, st.SyncMicrosP99, st.SyncMicrosMax, st.SyncMicrosTotal)
	// One fsync per Append would be ratio 1; 32 writers queue behind each
	// fsync, so anything close to 1 means the group commit is broken.
	if ratio < 2 {
		t.Fatalf("%s: appends do not share fsyncs", fmt.Sprintf("%.2f appends per fsync", ratio))
	}
}
