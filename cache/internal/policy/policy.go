package policy

// Policy decides which entries of a cache stay resident under a cost budget.
//
// Entries are named by a dense id chosen by the owner (the cache) and by the
// 64-bit hash of their key (for frequency estimates of keys that are not
// resident). A Policy is not safe for concurrent use: the owner serializes
// every call. All per-entry state is kept in pointer-free slices indexed by
// id, so millions of entries add nothing to the garbage collector's scan work.
type Policy interface {
	// Admit is called when the owner wants to insert entry id with the given
	// cost. To make room the policy calls Config.Evict synchronously for
	// victims until the entry fits. It returns false when the policy rejects
	// the newcomer; the owner then does not store it (and Evict was not called
	// for it).
	Admit(id uint32, hash uint64, cost uint32) bool
	// Access records a hit on resident entry id.
	Access(id uint32, hash uint64)
	// Miss records a lookup of a key that is not resident.
	Miss(hash uint64)
	// Remove forgets resident entry id, removed by the owner (delete, expiry,
	// invalidation). Evict is not called for it.
	Remove(id uint32)
	// Resize changes the cost of resident entry id; it may evict others.
	Resize(id uint32, cost uint32)
	// SetCapacity changes the total cost budget; it may evict.
	SetCapacity(capacity int64)
	// EvictOne evicts one victim now (through Config.Evict) and reports
	// whether there was one. The owner uses it when its storage needs space
	// that the cost accounting alone does not show (fragmentation).
	EvictOne() bool
	// Used is the total cost of resident entries; Len their number.
	Used() int64
	Len() int
}

// Config configures a Policy.
type Config struct {
	// Capacity is the total cost budget (bytes in the cache, entries in the
	// simulator's count mode).
	Capacity int64
	// Evict is called by the policy, synchronously, for each victim; the owner
	// removes the entry. The policy has already forgotten id when it calls.
	Evict func(id uint32)
	// Pinned reports entries that must not be evicted (dirty write-back
	// state). Nil means none are.
	Pinned func(id uint32) bool
	// Hash, when set, returns the hash the owner passed to Admit for resident
	// entry id. Policies that compare frequencies of resident entries then
	// ask the owner instead of keeping a 4-byte fingerprint per entry. Nil
	// means the policy keeps the fingerprints itself.
	Hash func(id uint32) uint64
}

// Sizer is implemented by every Policy New returns: MemoryBytes is the heap
// memory the policy holds (per-entry state and shared structures such as the
// frequency sketch), for owners that charge it to a memory quota. It grows
// with the largest id admitted and with the capacity, and never shrinks.
type Sizer interface {
	MemoryBytes() int64
}
