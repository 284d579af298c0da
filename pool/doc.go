// Package pool is respcache's memory pool: a fixed byte budget taken from
// the OS in large segments, items written into them, and exact accounting.
// It imports only the standard library and knows nothing of caching.
//
// # Design: a log-structured pool with compaction
//
// Memory comes in segments of Config.SegmentSize bytes (default 1 MiB),
// mmap'd outside the Go heap. Items are appended to the active segment
// (a bump pointer); when it is full it is sealed and a free segment becomes
// active. Free marks an item dead and counts its bytes as dead. A sealed
// segment whose items are all dead returns to the free list at once.
// Compact picks the sealed segment with the fewest live bytes, copies its
// live items to the head of the log, tells the owner their new locations
// (relocate callback) and frees the segment.
//
// The alternative was a slab allocator (memcached): size classes, chunk
// rounding, and a page mover to rebalance pages between classes when the
// size mix changes. It was rejected because:
//
//   - Calcification: slabs need a rebalancer that must pick pages to empty
//     and evict their items; a log has no classes, so memory follows the
//     size mix by construction. In the write-storm measurement (BENCHMARKS.md)
//     the mix moves from 16 B–1 KiB values to 4–64 KiB values and the hit
//     ratio on the new mix matches a fresh cache's.
//   - Internal fragmentation: with 1.25x classes chunks waste ~10% on
//     average; a log stores each item at its exact encoded size (a 16-byte
//     key with a 64-byte value takes 84 bytes, 4 bytes of header).
//   - The price of the log is copying: compaction moves live items. The
//     cache keeps ~3 segments + 1/32 of the budget free so that the policy's
//     victims usually empty whole segments first; measured write
//     amplification is in BENCHMARKS.md.
//
// Segments are mmap'd (Config.Heap or non-unix: pointer-free []byte): the
// GC neither scans nor counts them, so millions of items add nothing to GC
// work or to GOGC's heap goal (a heap-allocated pool would let GOGC=100
// grow the heap toward twice the quota in garbage), and munmap gives the
// memory back to the OS at once when the limit shrinks. Under the race
// detector the pool uses the heap so that the detector checks item bytes.
//
// # Item encoding
//
//	flags(1) type(1) [ns(1)] [db uvarint] klen uvarint, vlen uvarint,
//	[expire uvarint] [version uvarint] key value
//
// Optional fields cost nothing when zero. The flag byte carries live and
// dirty bits and which optional fields follow.
//
// # Accounting
//
// Stats reports Mapped = Live + Dead + Free exactly, plus live bytes per
// namespace (NSLive). The limit caps Mapped; SetLimit below Mapped unmaps
// free segments and reports whether that sufficed; otherwise the owner
// compacts or frees and calls Trim. Reserve segments (default 1) are kept
// back from ordinary Puts so that Compact always has room.
//
// # Concurrency
//
// Mutating methods need external serialization (the cache holds its write
// lock). Read may run concurrently with mutations of other items; the
// segment table is published through an atomic pointer so that readers
// never see it torn while it grows.
package pool
