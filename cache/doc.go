// Package cache is respcache's local cache: typed values keyed by
// (db, key) inside a hard byte quota, with TTLs, namespaces, eviction,
// single-flight fills, invalidation and write-back dirty state. It is
// usable as a Go library on its own; the proxy is one client of it.
//
// # Layout
//
// Items live in a pool (package pool): a log of mmap'd segments outside the
// Go heap. Each item is a small header (flags, type, varint lengths, an
// optional varint expiry in milliseconds since the cache's epoch, an
// optional version for dirty items), the key and the value.
//
// The index is split into Config.Shards shards, each with an open
// addressing table over []uint64 (buckets of 8 entries: 32-bit hash tag and
// 32-bit slot number) and a slot table ([]uint64: pool location, namespace,
// dirty bit). An item's policy id is its slot number interleaved with its
// shard number, so ids are dense and reused. Nothing the cache holds per
// item is a pointer, and tables of 64 KiB or more are mmap'd outside the Go
// heap (pool.Words) like the segments: at 10M items the cache adds ~130 KB
// to the GC's scan work and its table growth leaves no garbage behind.
//
// # The quota
//
// MaxMemory covers everything: pool segments (live, dead and free space),
// the index and slot tables, and the policy's metadata (charged as
// PolicyBytesPerEntry per id slot, mirroring the policy's growth, since the
// policy does not report its footprint). Metadata is charged before it is
// allocated: when a table grows the pool's limit is lowered first, evicting
// and compacting until the segments fit, so accounted bytes never exceed
// the quota. The policy's capacity is the pool limit minus a slack of three
// segments and 1/32 of the limit; the slack is where the log keeps free
// segments so that eviction empties whole segments before compaction has to
// copy. When the pool is short of space that the policy's cost accounting
// does not show (dead space scattered in segments), the cache compacts, and
// if that frees too little, asks the policy for victims with EvictOne.
//
// # Reads
//
// GetInto takes the key's shard read lock, copies the value into the
// caller's buffer and releases it: no allocation, and no eviction can change
// what the caller got. The hit is recorded in one of 32 lossy stripes and
// applied to the policy in batches of 64 under the write lock (TryLock; when
// it is busy the next writer applies them). Expired items are never
// returned: an item's stamp is checked against the clock on every read.
//
// # Writes, eviction, expiry
//
// All mutations hold Cache.mu, which serializes them with the policy (the
// policy is single-threaded) and the pool. Eviction: Admit, Resize and
// SetCapacity call back Evict(id) synchronously; Pinned reports dirty
// items, the item being written, and while a namespace cap is enforced,
// every item of other namespaces, so that the policy picks victims inside
// the namespace. Expiry is active: the pool records per segment the
// earliest expiry of its items, and a background pass (ExpireInterval)
// reads only segments whose earliest expiry has passed.
//
// # Namespaces
//
// A namespace is a key prefix (longest match wins) with an optional byte cap
// inside the global quota (caps may add up to more than the quota; they are
// caps, not reservations), a TTL cap, and a mode (cache or bypass). Its id
// is stored in each item, so accounting survives reloads; a prefix added by
// a reload applies to items written after it.
//
// # Fills and invalidation
//
// GetOrLoad coalesces concurrent misses of a key into one Loader call and
// does not store a load that raced a write or an invalidation of the key;
// the race and its handling are explained step by step on GetOrLoad.
// Invalidations never drop dirty items.
//
// # Write-back
//
// SetDirty stores an item as dirty with a version; dirty items count
// against the quota, are pinned against eviction, invalidation and
// background expiry, and become clean through MarkClean(db, key, version)
// by the flusher. Dirty bytes are capped by MaxDirty: SetDirty blocks up to
// BackpressureTimeout, then fails with ErrBackpressure; DirtyStats lets the
// owner watch the level.
//
// # Locks
//
// Lock order: Cache.flightMu, then Cache.mu, then a shard's mu; a stripe's
// mu is only ever TryLocked while holding nothing but may be held while
// TryLocking Cache.mu. Shard locks are taken for writing only by holders of
// Cache.mu, so code under Cache.mu reads shard state without its lock.
package cache
