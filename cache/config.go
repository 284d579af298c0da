package cache

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/respcache/respcache/cache/internal/policy"
	"github.com/respcache/respcache/pool"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrTooLarge: the encoded item is larger than Config.MaxItemSize. An
	// existing copy of the key is dropped, so a stale value is never served.
	ErrTooLarge = errors.New("cache: item too large")
	// ErrNoSpace: room could not be made because everything evictable is
	// gone (the rest is dirty) or the namespace cap is full of dirty items.
	ErrNoSpace = errors.New("cache: no space")
	// ErrBackpressure: a dirty write waited Config.BackpressureTimeout for
	// dirty bytes to fall below Config.MaxDirty and they did not.
	ErrBackpressure = errors.New("cache: too much dirty data (backpressure)")
	// ErrBypass: a dirty write to a namespace in bypass mode; the caller must
	// write through.
	ErrBypass = errors.New("cache: namespace bypasses the cache")
	// ErrClosed: the cache was closed.
	ErrClosed = errors.New("cache: closed")
	// ErrFillRaced: a load that a Fill waiter shared raced a write or an
	// invalidation of its key; the waiter must read the backend itself.
	ErrFillRaced = errors.New("cache: fill raced a change of its key")
	// ErrConfig wraps every Validate error.
	ErrConfig = errors.New("cache: invalid config")
)

// Mode is what a namespace does with its keys.
type Mode uint8

const (
	// ModeCache stores the namespace's keys (the default).
	ModeCache Mode = iota
	// ModeBypass never stores them: Set drops any copy, fills are not kept.
	ModeBypass
)

// MaxNamespaces is how many distinct prefixes a cache can know over its
// life (reloads included): a namespace is one byte in each item.
const MaxNamespaces = 255

// Namespace is a key prefix with its own limits. The longest matching
// prefix wins.
type Namespace struct {
	// Prefix selects keys; it must be non-empty and unique.
	Prefix string
	// MaxMemory caps the bytes of this namespace's items (keys, values and
	// item headers) inside the global quota. It is a cap, not a reservation:
	// caps may add up to more than Config.MaxMemory, and then namespaces
	// compete for the global quota. 0 means only the global quota applies.
	MaxMemory int64
	// TTL caps the lifetime of clean items of the namespace; 0 = no cap.
	TTL time.Duration
	// Mode is ModeCache or ModeBypass.
	Mode Mode
}

// Config configures a Cache. Zero fields mean the documented defaults.
type Config struct {
	// MaxMemory is the hard quota in bytes for everything the cache holds:
	// segments (keys, values, item headers, dirty items, free and dead
	// space inside them), the index, the slot table and the eviction
	// policy's metadata. Default 256 MiB; at least 1 MiB.
	MaxMemory int64
	// MaxItemSize is the largest encoded item (key + value + a few header
	// bytes) that is stored; default 1 MiB, capped to the segment size.
	MaxItemSize int
	// SegmentSize is the pool's segment size (power of two, 64 KiB..16 MiB).
	// Default: MaxMemory/32 rounded down to a power of two, clamped to
	// [64 KiB, 1 MiB], and raised to hold MaxItemSize when the quota allows
	// 16 segments.
	SegmentSize int
	// TTL caps the lifetime of clean items (a staleness backstop); 0 = none.
	TTL time.Duration
	// Namespaces are the prefixes with their own quota, TTL cap and mode.
	Namespaces []Namespace
	// MaxDirty caps dirty (write-back) bytes; writers beyond it wait
	// BackpressureTimeout and then fail with ErrBackpressure. 0 means
	// MaxMemory/2. Must not exceed MaxMemory.
	MaxDirty int64
	// BackpressureTimeout is how long a dirty write waits; default 1s;
	// negative means fail at once.
	BackpressureTimeout time.Duration
	// Policy names the eviction policy: "" or "adaptive" (the product
	// policy) or "lru".
	Policy string
	// Shards is the number of index shards (power of two, 1..256); default
	// 64. More shards mean less lock contention on reads.
	Shards int
	// ExpireInterval is the period of the background expiry pass; default
	// 100ms; negative turns it off (ExpireNow still works). Expired items
	// are never returned regardless.
	ExpireInterval time.Duration
	// PolicyBytesPerEntry is charged to the quota per policy id slot when
	// the policy does not report its own footprint (policy.Sizer); default
	// 10 (the policy package's per-entry state).
	PolicyBytesPerEntry int
	// Clock returns the current time; default time.Now. Tests use a fake.
	// It must not go backwards.
	Clock func() time.Time

	// newPolicy replaces policy.New (tests).
	newPolicy func(name string, cfg policy.Config) (policy.Policy, error)
}

const (
	defaultMaxMemory = 256 << 20
	minMaxMemory     = 1 << 20
	minSegment       = 64 << 10
	maxDefaultSeg    = 1 << 20
)

func (c *Config) ensureDefaults() {
	if c.MaxMemory == 0 {
		c.MaxMemory = defaultMaxMemory
	}
	if c.MaxItemSize == 0 {
		c.MaxItemSize = 1 << 20
	}
	if c.SegmentSize == 0 {
		c.SegmentSize = defaultSegmentSize(c.MaxMemory, c.MaxItemSize)
	}
	if c.MaxItemSize > c.SegmentSize {
		c.MaxItemSize = c.SegmentSize
	}
	if c.MaxDirty == 0 {
		c.MaxDirty = c.MaxMemory / 2
	}
	if c.BackpressureTimeout == 0 {
		c.BackpressureTimeout = time.Second
	}
	if c.Shards == 0 {
		c.Shards = 64
	}
	if c.ExpireInterval == 0 {
		c.ExpireInterval = 100 * time.Millisecond
	}
	if c.PolicyBytesPerEntry == 0 {
		c.PolicyBytesPerEntry = 10
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
}

func defaultSegmentSize(quota int64, maxItem int) int {
	s := minSegment
	for int64(s)*2 <= quota/32 && s < maxDefaultSeg {
		s *= 2
	}
	for s < maxItem && s < pool.MaxSegmentSize && int64(s)*2*16 <= quota {
		s *= 2
	}
	return s
}

// Validate reports every problem of the configuration, joined.
func (c Config) Validate() error {
	c.ensureDefaults()
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, a...)...))
	}
	if c.MaxMemory < minMaxMemory {
		bad("max memory %d is below %d", c.MaxMemory, minMaxMemory)
	}
	if err := (pool.Config{SegmentSize: c.SegmentSize, Limit: c.MaxMemory}).Validate(); err != nil {
		bad("segment size %d for max memory %d: %v", c.SegmentSize, c.MaxMemory, err)
	} else if int64(c.SegmentSize)*8 > c.MaxMemory {
		bad("max memory %d holds fewer than 8 segments of %d bytes", c.MaxMemory, c.SegmentSize)
	}
	if c.MaxItemSize < 0 {
		bad("negative max item size %d", c.MaxItemSize)
	}
	if c.MaxDirty < 0 || c.MaxDirty > c.MaxMemory {
		bad("max dirty %d is not within [0, max memory %d]", c.MaxDirty, c.MaxMemory)
	}
	if c.TTL < 0 {
		bad("negative ttl %v", c.TTL)
	}
	if c.Shards < 1 || c.Shards > 256 || c.Shards&(c.Shards-1) != 0 {
		bad("shards %d is not a power of two in [1, 256]", c.Shards)
	}
	if c.PolicyBytesPerEntry < 0 {
		bad("negative policy bytes per entry %d", c.PolicyBytesPerEntry)
	}
	if err := validateNamespaces(c.Namespaces); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func validateNamespaces(nss []Namespace) error {
	var errs []error
	seen := map[string]bool{}
	for i, ns := range nss {
		bad := func(format string, a ...any) {
			errs = append(errs, fmt.Errorf("%w: namespaces[%d] (%q): "+format, append([]any{ErrConfig, i, ns.Prefix}, a...)...))
		}
		if ns.Prefix == "" {
			bad("empty prefix")
		}
		if seen[ns.Prefix] {
			bad("duplicate prefix")
		}
		seen[ns.Prefix] = true
		if ns.MaxMemory < 0 {
			bad("negative max memory %d", ns.MaxMemory)
		}
		if ns.TTL < 0 {
			bad("negative ttl %v", ns.TTL)
		}
		if ns.Mode > ModeBypass {
			bad("unknown mode %d", ns.Mode)
		}
	}
	if len(nss) > MaxNamespaces {
		errs = append(errs, fmt.Errorf("%w: %d namespaces, at most %d", ErrConfig, len(nss), MaxNamespaces))
	}
	return errors.Join(errs...)
}

// nsEntry is a namespace with its item tag.
type nsEntry struct {
	Namespace
	id uint8
}

// nsTable is an immutable snapshot of the namespaces, longest prefix first.
type nsTable struct {
	list []nsEntry
	byID [256]*nsEntry
}

func (t *nsTable) match(key []byte) *nsEntry {
	for i := range t.list {
		e := &t.list[i]
		if len(key) >= len(e.Prefix) && string(key[:len(e.Prefix)]) == e.Prefix {
			return e
		}
	}
	return nil
}

// buildNSTable assigns ids: a prefix keeps its id across reloads (its items
// carry it); new prefixes get fresh ids.
func buildNSTable(nss []Namespace, ids map[string]uint8) (*nsTable, error) {
	t := &nsTable{}
	next := 1
	for _, id := range ids {
		next = max(next, int(id)+1)
	}
	for _, ns := range nss {
		id, ok := ids[ns.Prefix]
		if !ok {
			if next > MaxNamespaces {
				return nil, fmt.Errorf("%w: more than %d distinct namespace prefixes over the cache's life", ErrConfig, MaxNamespaces)
			}
			id = uint8(next)
			next++
			ids[ns.Prefix] = id
		}
		t.list = append(t.list, nsEntry{Namespace: ns, id: id})
	}
	sort.SliceStable(t.list, func(i, j int) bool { return len(t.list[i].Prefix) > len(t.list[j].Prefix) })
	for i := range t.list {
		t.byID[t.list[i].id] = &t.list[i]
	}
	return t, nil
}
