package journal

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of the journal's state and counters.
type Stats struct {
	// Bytes is the size of all segment files, headers included.
	Bytes int64
	// Segments is the number of segment files, the active one included.
	Segments int
	// LastSeq is the highest seq used so far, also before this Open (or the
	// confirmed seq, if that is higher); the next Append gets LastSeq+1.
	LastSeq uint64
	// ConfirmedSeq is the highest seq passed to Confirm (or read from the
	// checkpoint at Open).
	ConfirmedSeq uint64
	// Appends counts entries appended since Open.
	Appends uint64
	// Syncs counts fsyncs of segment files since Open: group commits,
	// background syncs and segment seals. Appends/Syncs under FsyncAlways
	// is the average group-commit size.
	Syncs uint64
	// SyncMicrosTotal is the time spent in those fsyncs, in microseconds.
	SyncMicrosTotal uint64
	// SyncMicrosP99 is the 99th percentile fsync duration in microseconds,
	// from a log-linear histogram: an upper bound within 12.5%.
	SyncMicrosP99 uint64
	// SyncMicrosMax is the slowest fsync in microseconds.
	SyncMicrosMax uint64
}

// syncStats records fsync durations without locks.
type syncStats struct {
	count   atomic.Uint64
	totalUs atomic.Uint64
	maxUs   atomic.Uint64
	hist    [histBuckets]atomic.Uint64
}

// The histogram has 8 linear sub-buckets per power of two (values below 8
// have a bucket each), which bounds the p99's error to 1/8.
const histBuckets = 8 + 61*8

func histIndex(v uint64) int {
	if v < 8 {
		return int(v)
	}
	e := bits.Len64(v) - 1 // >= 3
	sub := (v >> uint(e-3)) & 7
	return 8 + (e-3)*8 + int(sub)
}

// histUpper is the largest value that falls into bucket i.
func histUpper(i int) uint64 {
	if i < 8 {
		return uint64(i)
	}
	e := (i-8)/8 + 3
	sub := uint64((i - 8) % 8)
	lower := (8 + sub) << uint(e-3)
	return lower + 1<<uint(e-3) - 1
}

func (s *syncStats) record(d time.Duration) {
	us := uint64(d.Microseconds())
	s.count.Add(1)
	s.totalUs.Add(us)
	s.hist[histIndex(us)].Add(1)
	for {
		m := s.maxUs.Load()
		if us <= m || s.maxUs.CompareAndSwap(m, us) {
			break
		}
	}
}

func (s *syncStats) p99() uint64 {
	var counts [histBuckets]uint64
	var total uint64
	for i := range s.hist {
		counts[i] = s.hist[i].Load()
		total += counts[i]
	}
	if total == 0 {
		return 0
	}
	// The smallest bucket at which at least 99% of the samples are counted.
	want := total - total/100
	var cum uint64
	for i, c := range counts {
		cum += c
		if cum >= want {
			return histUpper(i)
		}
	}
	return s.maxUs.Load()
}
