package cache

import (
	"sort"
	"sync/atomic"
)

type counters struct {
	evictions, expirations, invalidations    atomic.Uint64
	rejected, loads, coalesced, fillsDropped atomic.Uint64
}

// Stats is a snapshot of the cache's counters and accounting. Counters
// count since New; byte figures are exact at the moment of the snapshot.
type Stats struct {
	Hits, Misses  uint64 // lookups answered / not answered (incl. GetOrLoad)
	Evictions     uint64 // items removed for space (policy victims)
	Expirations   uint64 // items removed because their TTL passed
	Invalidations uint64 // items removed by Invalidate*
	Rejected      uint64 // Sets the policy declined to admit
	Loads         uint64 // loader calls made by GetOrLoad
	Coalesced     uint64 // GetOrLoad misses that shared another's load
	FillsDropped  uint64 // loads not stored because they raced a write or invalidation

	Items     int64 // live items
	MaxMemory int64 // the quota
	// Used is everything charged to the quota: Segments + Index + Slots +
	// Policy. It never exceeds MaxMemory.
	Used int64
	// Segments is the memory held in pool segments; it splits into
	// Payload (key and value bytes of live items), Headers (their item
	// headers), Dead (space of removed items not yet compacted) and Free
	// (never written).
	Segments, Payload, Headers, Dead, Free int64
	// SegmentsFree, SegmentsActive and SegmentsSealed count the pool's
	// segments by state (empty; receiving writes; full).
	SegmentsFree, SegmentsActive, SegmentsSealed int
	Index                                        int64 // hash index bytes
	Slots                                        int64 // slot table bytes (item id -> location)
	Policy                                       int64 // eviction metadata bytes charged for the policy

	DirtyKeys, DirtyBytes int64
	MaxDirty              int64

	// Compactions counts segments reclaimed by compaction; Moved the bytes
	// copied doing it.
	Compactions, Moved int64

	Namespaces []NamespaceStats
}

// NamespaceStats is one namespace's usage. Used counts its items' pool
// bytes (keys, values, headers); metadata is charged only globally.
type NamespaceStats struct {
	Prefix    string
	Mode      Mode
	Used      int64
	MaxMemory int64 // 0 = only the global quota
}

// Stats returns a snapshot. It takes the write lock briefly.
func (c *Cache) Stats() Stats {
	var st Stats
	for i := range c.stripes {
		st.Hits += c.stripes[i].hits.Load()
		st.Misses += c.stripes[i].misses.Load()
	}
	st.Evictions = c.st.evictions.Load()
	st.Expirations = c.st.expirations.Load()
	st.Invalidations = c.st.invalidations.Load()
	st.Rejected = c.st.rejected.Load()
	st.Loads = c.st.loads.Load()
	st.Coalesced = c.st.coalesced.Load()
	st.FillsDropped = c.st.fillsDropped.Load()

	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.pool.Stats()
	st.Items = ps.Items
	st.MaxMemory = c.quota
	st.Segments = ps.Mapped
	st.SegmentsFree, st.SegmentsActive = ps.FreeSegments, ps.ActiveSegments
	st.SegmentsSealed = ps.Segments - ps.FreeSegments - ps.ActiveSegments
	st.Payload = c.payload
	st.Headers = ps.Live - c.payload
	st.Dead = ps.Dead
	st.Free = ps.Free
	for i := range c.shards {
		st.Index += int64(len(c.shards[i].idx)) * 8
		st.Slots += int64(len(c.shards[i].slots)) * 8
	}
	st.Policy = c.policyMetaBytes()
	st.Used = st.Segments + c.metaBytes
	st.DirtyKeys, st.DirtyBytes, st.MaxDirty = c.dirtyKeys, c.dirtyBytes, c.maxDirty
	st.Compactions, st.Moved = ps.Compactions, ps.Moved
	tab := c.ns.Load()
	for _, e := range tab.list {
		st.Namespaces = append(st.Namespaces, NamespaceStats{Prefix: e.Prefix, Mode: e.Mode, Used: c.pool.NSLive(e.id), MaxMemory: e.MaxMemory})
	}
	sort.Slice(st.Namespaces, func(i, j int) bool { return st.Namespaces[i].Prefix < st.Namespaces[j].Prefix })
	return st
}

// Len is the number of live items.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.pool.Stats().Items)
}
