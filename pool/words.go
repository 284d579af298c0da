package pool

import "unsafe"

// wordsMmapMin is the smallest table Words maps outside the heap; smaller
// ones come from the heap (a mapping costs at least a 4 KiB page).
const wordsMmapMin = 64 << 10

// WordsPage is the granularity of off-heap tables in words: callers that
// charge Words' memory exactly round large sizes up to a multiple of it.
const WordsPage = 4096 / 8

// Words returns n zeroed uint64s. Tables of at least 64 KiB are mmap'd
// outside the Go heap (unless the race detector is on or mmap is
// unavailable), so growing and dropping them leaves no garbage for GOGC to
// let pile up and adds nothing to the GC's heap; release them with
// FreeWords once no reader can touch them. Smaller tables are ordinary
// pointer-free heap slices.
func Words(n int) []uint64 {
	if n*8 < wordsMmapMin || raceEnabled || !haveMmap {
		return make([]uint64, n)
	}
	b := (&Pool{}).acquire(n * 8)
	return unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), n)
}

// FreeWords releases a table from Words. The caller guarantees nothing
// reads w afterwards.
func FreeWords(w []uint64) {
	if len(w)*8 < wordsMmapMin || raceEnabled || !haveMmap {
		return
	}
	(&Pool{}).release(unsafe.Slice((*byte)(unsafe.Pointer(&w[0])), len(w)*8))
}
