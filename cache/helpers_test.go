package cache

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a manually advanced clock.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// newTestCache builds a cache with the test LRU, a fake clock and no
// background expiry unless the config sets them.
func newTestCache(t testing.TB, cfg Config) (*Cache, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	if cfg.Clock == nil {
		cfg.Clock = clk.Now
	}
	if cfg.newPolicy == nil {
		cfg.newPolicy = newTestLRU
	}
	if cfg.ExpireInterval == 0 {
		cfg.ExpireInterval = -1
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, clk
}

// checkInvariants verifies the accounting against a full walk.
func checkInvariants(t testing.TB, c *Cache) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.pool.Stats()
	var items, live, payload, dirtyB, dirtyK int64
	var meta int64
	for i := range c.shards {
		s := &c.shards[i]
		meta += c.shardMetaBytes(s)
		n := 0
		for _, e := range s.idx {
			if e == 0 || e == tombstone {
				continue
			}
			n++
			local := uint32(e) - 1
			w := s.slots[local]
			if w&slotUsed == 0 {
				t.Fatalf("index entry points at free slot %d", local)
			}
			var v poolView
			c.pool.Read(poolLoc(slotLoc(w)), &v)
			if !v.Live() {
				t.Fatalf("index entry points at dead item")
			}
			h := c.hash(int(v.DB), v.Key)
			if c.shardOf(h) != s || tagOf(h) != e&^slotFreeMask {
				t.Fatalf("item %q in wrong shard or with wrong tag", v.Key)
			}
			if (w&slotDirty != 0) != v.Dirty() {
				t.Fatalf("dirty bit mismatch for %q", v.Key)
			}
			items++
			live += int64(v.Size)
			payload += int64(len(v.Key) + len(v.Value))
			if v.Dirty() {
				dirtyB += int64(v.Size)
				dirtyK++
			}
		}
		if n != int(s.count) {
			t.Fatalf("shard count %d, walked %d", s.count, n)
		}
	}
	meta += c.policyMetaBytes()
	if items != ps.Items || live != ps.Live || payload != c.payload {
		t.Fatalf("accounting: items %d/%d live %d/%d payload %d/%d", items, ps.Items, live, ps.Live, payload, c.payload)
	}
	if dirtyB != c.dirtyBytes || dirtyK != c.dirtyKeys {
		t.Fatalf("dirty accounting: bytes %d/%d keys %d/%d", dirtyB, c.dirtyBytes, dirtyK, c.dirtyKeys)
	}
	if meta != c.metaBytes {
		t.Fatalf("meta bytes %d, recomputed %d", c.metaBytes, meta)
	}
	if ps.Mapped != ps.Live+ps.Dead+ps.Free {
		t.Fatalf("pool: mapped %d != live %d + dead %d + free %d", ps.Mapped, ps.Live, ps.Dead, ps.Free)
	}
	if ps.Mapped+c.metaBytes > c.quota {
		t.Fatalf("used %d > quota %d", ps.Mapped+c.metaBytes, c.quota)
	}
	if int64(c.pol.Len()) != items {
		t.Fatalf("policy holds %d, cache %d", c.pol.Len(), items)
	}
}
