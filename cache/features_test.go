package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"tiny quota", Config{MaxMemory: 1000}, false},
		{"dirty above quota", Config{MaxMemory: 8 << 20, MaxDirty: 9 << 20}, false},
		{"bad shards", Config{Shards: 3}, false},
		{"ns empty prefix", Config{Namespaces: []Namespace{{Prefix: ""}}}, false},
		{"ns duplicate", Config{Namespaces: []Namespace{{Prefix: "a"}, {Prefix: "a"}}}, false},
		{"ns negative", Config{Namespaces: []Namespace{{Prefix: "a", MaxMemory: -1}}}, false},
		{"ns caps sum above quota", Config{MaxMemory: 8 << 20, Namespaces: []Namespace{{Prefix: "a", MaxMemory: 6 << 20}, {Prefix: "b", MaxMemory: 6 << 20}}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Fatalf("%v does not wrap ErrConfig", err)
			}
		})
	}
}

// countingLoader counts loads and blocks each until release is closed.
type countingLoader struct {
	n       atomic.Int32
	release chan struct{}
	value   []byte
}

func (l *countingLoader) Load(ctx context.Context, db int, key []byte) ([]byte, byte, time.Duration, bool, error) {
	l.n.Add(1)
	<-l.release
	return l.value, 3, 0, true, nil
}

func TestSingleFlightCoalesces(t *testing.T) {
	c, _ := newTestCache(t, Config{MaxMemory: 4 << 20})
	l := &countingLoader{release: make(chan struct{}), value: []byte("loaded")}
	const n = 20
	var wg sync.WaitGroup
	results := make([][]byte, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, typ, _, found, err := c.GetOrLoad(context.Background(), nil, 0, []byte("k"), l)
			if err != nil || !found || typ != 3 {
				t.Errorf("GetOrLoad: %v %v %d", err, found, typ)
			}
			results[i] = v
		}()
	}
	// Wait until every caller is either loading or waiting on the load.
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().Coalesced < n-1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	close(l.release)
	wg.Wait()
	if got := l.n.Load(); got != 1 {
		t.Fatalf("%d loads, want 1", got)
	}
	for i, r := range results {
		if string(r) != "loaded" {
			t.Fatalf("caller %d got %q", i, r)
		}
	}
	results[0][0] = 'X' // each caller owns its copy
	if string(results[1]) != "loaded" {
		t.Fatal("callers share a buffer")
	}
	if v, _, _, ok := c.Get(0, []byte("k")); !ok || string(v) != "loaded" {
		t.Fatalf("fill not stored: %q %v", v, ok)
	}
}

// TestFillRacingInvalidationIsNotStored runs a fill, and while the loader
// is blocked (it has read the old value) invalidates or writes the key; the
// loaded value must not be stored.
func TestFillRacingInvalidationIsNotStored(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(c *Cache)
		want  string // what Get returns afterwards; "" = miss
	}{
		{"invalidate key", func(c *Cache) { c.Invalidate(0, []byte("user:1")) }, ""},
		{"invalidate prefix", func(c *Cache) { c.InvalidatePrefix(AllDBs, []byte("user:")) }, ""},
		{"invalidate db", func(c *Cache) { c.InvalidateDB(0) }, ""},
		{"invalidate all", func(c *Cache) { c.InvalidateAll() }, ""},
		{"set", func(c *Cache) { c.Set(0, []byte("user:1"), []byte("new"), 0, 0) }, "new"},
		{"delete", func(c *Cache) { c.Delete(0, []byte("user:1")) }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newTestCache(t, Config{MaxMemory: 4 << 20})
			l := &countingLoader{release: make(chan struct{}), value: []byte("old")}
			done := make(chan struct{})
			go func() {
				defer close(done)
				v, _, _, _, err := c.GetOrLoad(context.Background(), nil, 0, []byte("user:1"), l)
				if err != nil || string(v) != "old" {
					t.Errorf("fill returned %q %v", v, err)
				}
			}()
			for l.n.Load() == 0 {
				time.Sleep(100 * time.Microsecond)
			}
			tc.write(c)
			close(l.release)
			<-done
			v, _, _, ok := c.Get(0, []byte("user:1"))
			if string(v) != tc.want || ok != (tc.want != "") {
				t.Fatalf("after the race Get = %q %v, want %q", v, ok, tc.want)
			}
			if c.Stats().FillsDropped != 1 {
				t.Fatalf("fills dropped %d, want 1", c.Stats().FillsDropped)
			}
		})
	}
	t.Run("unrelated invalidation does not drop the fill", func(t *testing.T) {
		c, _ := newTestCache(t, Config{MaxMemory: 4 << 20})
		l := &countingLoader{release: make(chan struct{}), value: []byte("v")}
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.GetOrLoad(context.Background(), nil, 0, []byte("user:1"), l)
		}()
		for l.n.Load() == 0 {
			time.Sleep(100 * time.Microsecond)
		}
		c.Invalidate(0, []byte("user:2"))
		c.InvalidatePrefix(1, []byte("user:"))
		close(l.release)
		<-done
		if _, _, _, ok := c.Get(0, []byte("user:1")); !ok {
			t.Fatal("fill dropped by an unrelated invalidation")
		}
	})
}

func TestLoaderErrorAndNotFound(t *testing.T) {
	c, _ := newTestCache(t, Config{MaxMemory: 4 << 20})
	boom := errors.New("boom")
	_, _, _, _, err := c.GetOrLoad(context.Background(), nil, 0, []byte("a"), LoaderFunc(func(context.Context, int, []byte) ([]byte, byte, time.Duration, bool, error) {
		return nil, 0, 0, false, boom
	}))
	if !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	_, _, _, found, err := c.GetOrLoad(context.Background(), nil, 0, []byte("a"), LoaderFunc(func(context.Context, int, []byte) ([]byte, byte, time.Duration, bool, error) {
		return nil, 0, 0, false, nil
	}))
	if found || err != nil || c.Contains(0, []byte("a")) {
		t.Fatalf("not found: %v %v", found, err)
	}
}

func TestDirtyItemsAreNeverEvicted(t *testing.T) {
	c, _ := newTestCache(t, Config{MaxMemory: 2 << 20, MaxDirty: 1 << 20})
	ctx := context.Background()
	vers := map[string]uint64{}
	for i := 0; i < 2000; i++ {
		k := fmt.Sprintf("dirty:%d", i)
		v, err := c.SetDirty(ctx, 0, []byte(k), bytes.Repeat([]byte{1}, 200), 0, 0)
		if err != nil {
			t.Fatal(i, err)
		}
		vers[k] = v
	}
	// Flood with clean items well past the quota.
	for i := 0; i < 50000/raceScale; i++ {
		if err := c.Set(0, []byte(fmt.Sprintf("clean:%d", i)), bytes.Repeat([]byte{2}, 300), 0, 0); err != nil {
			t.Fatal(i, err)
		}
	}
	c.InvalidateAll()
	for k := range vers {
		if !c.Contains(0, []byte(k)) {
			t.Fatalf("dirty %s was evicted or invalidated", k)
		}
	}
	st := c.Stats()
	if st.Evictions == 0 || st.DirtyKeys != 2000 {
		t.Fatalf("stats %+v", st)
	}
	checkInvariants(t, c)
	// Once clean, they are ordinary items.
	for k, v := range vers {
		if !c.MarkClean(0, []byte(k), v) {
			t.Fatalf("MarkClean %s failed", k)
		}
	}
	if keys, b := c.DirtyStats(); keys != 0 || b != 0 {
		t.Fatalf("dirty left: %d keys %d bytes", keys, b)
	}
	if n := c.InvalidateAll(); n < 2000 {
		t.Fatalf("invalidated %d", n)
	}
	checkInvariants(t, c)
}

func TestDirtyFillsQuotaThenNoSpace(t *testing.T) {
	c, _ := newTestCache(t, Config{MaxMemory: 1 << 20, MaxDirty: 1 << 20})
	var err error
	for i := 0; err == nil; i++ {
		_, err = c.SetDirty(context.Background(), 0, []byte(fmt.Sprint(i)), make([]byte, 1000), 0, 0)
		if i > 2000 {
			t.Fatal("a 1 MiB cache accepted 2 MB of dirty data")
		}
	}
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("got %v, want ErrNoSpace", err)
	}
	checkInvariants(t, c)
}

func TestBackpressure(t *testing.T) {
	c, _ := newTestCache(t, Config{MaxMemory: 4 << 20, MaxDirty: 10_000, BackpressureTimeout: 50 * time.Millisecond})
	ctx := context.Background()
	var vers []uint64
	for i := 0; ; i++ {
		v, err := c.SetDirty(ctx, 0, []byte(fmt.Sprint(i)), make([]byte, 1000), 0, 0)
		if errors.Is(err, ErrBackpressure) {
			break
		}
		if err != nil || i > 20 {
			t.Fatalf("write %d: %v", i, err)
		}
		vers = append(vers, v)
	}
	if _, b := c.DirtyStats(); b > 10_000 {
		t.Fatalf("dirty bytes %d above max", b)
	}
	// A blocked writer proceeds when the flusher cleans an item.
	errc := make(chan error, 1)
	start := time.Now()
	go func() {
		c2 := c
		_, err := c2.SetDirty(ctx, 0, []byte("late"), make([]byte, 1000), 0, 0)
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if !c.MarkClean(0, []byte("0"), vers[0]) {
		t.Fatal("MarkClean failed")
	}
	c.SetMaxDirty(10_000) // no-op change; must not wake it spuriously into failure
	if err := <-errc; err != nil {
		t.Fatalf("blocked writer: %v after %v", err, time.Since(start))
	}
	// With a negative timeout it fails at once.
	c.mu.Lock()
	c.bpTimeout = -1
	c.mu.Unlock()
	if _, err := c.SetDirty(ctx, 0, []byte("x"), make([]byte, 1000), 0, 0); !errors.Is(err, ErrBackpressure) {
		t.Fatalf("got %v", err)
	}
	// ctx cancels the wait.
	c.mu.Lock()
	c.bpTimeout = time.Hour
	c.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := c.SetDirty(cctx, 0, []byte("y"), make([]byte, 1000), 0, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
}

func TestNamespaces(t *testing.T) {
	c, clk := newTestCache(t, Config{MaxMemory: 8 << 20, Namespaces: []Namespace{
		{Prefix: "s:", MaxMemory: 64 << 10, TTL: time.Second},
		{Prefix: "s:long:", TTL: time.Hour},
		{Prefix: "nocache:", Mode: ModeBypass},
	}})
	val := make([]byte, 100)
	for i := 0; i < 5000; i++ {
		if err := c.Set(0, []byte(fmt.Sprintf("s:%d", i)), val, 0, 0); err != nil {
			t.Fatal(err)
		}
		if err := c.Set(0, []byte(fmt.Sprintf("other:%d", i)), val, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	st := c.Stats()
	var sUsed int64
	for _, ns := range st.Namespaces {
		if ns.Prefix == "s:" {
			sUsed = ns.Used
		}
	}
	if sUsed > 64<<10 || sUsed < 60<<10 {
		t.Fatalf("namespace s: uses %d, cap %d", sUsed, 64<<10)
	}
	// The cap evicted only s: items: every other: item is still there.
	for i := 0; i < 5000; i++ {
		if !c.Contains(0, []byte(fmt.Sprintf("other:%d", i))) {
			t.Fatalf("other:%d evicted by the s: cap", i)
		}
	}
	// Longest prefix wins: s:long: has its own TTL cap and no byte cap.
	c.Set(0, []byte("s:long:x"), val, 0, 0)
	_, _, ttl, _ := c.Get(0, []byte("s:long:x"))
	if ttl != time.Hour {
		t.Fatalf("s:long: ttl %v", ttl)
	}
	c.Set(0, []byte("s:y"), val, 0, time.Hour)
	_, _, ttl, _ = c.Get(0, []byte("s:y"))
	if ttl != time.Second {
		t.Fatalf("s: ttl cap not applied: %v", ttl)
	}
	clk.Advance(time.Second)
	if c.Contains(0, []byte("s:y")) {
		t.Fatal("TTL-capped item still served")
	}
	// Bypass: never stored, and a Set drops nothing it should keep.
	c.Set(0, []byte("nocache:1"), val, 0, 0)
	if c.Contains(0, []byte("nocache:1")) {
		t.Fatal("bypass namespace stored")
	}
	if _, err := c.SetDirty(context.Background(), 0, []byte("nocache:2"), val, 0, 0); !errors.Is(err, ErrBypass) {
		t.Fatalf("dirty write to bypass: %v", err)
	}
	// Reload: s: becomes bypass (its items go), other: gets a small cap.
	if err := c.SetNamespaces([]Namespace{{Prefix: "s:", Mode: ModeBypass}, {Prefix: "other:", MaxMemory: 100 << 10}}); err != nil {
		t.Fatal(err)
	}
	if c.Contains(0, []byte("s:4999")) {
		t.Fatal("s: items kept after switching to bypass")
	}
	// Items keep the namespace they were stored under; new writes of
	// other: count against its new cap.
	for i := 0; i < 5000; i++ {
		c.Set(0, []byte(fmt.Sprintf("other:%d", i)), val, 0, 0)
	}
	st = c.Stats()
	for _, ns := range st.Namespaces {
		if ns.Prefix == "other:" && (ns.Used > 100<<10 || ns.Used < 90<<10) {
			t.Fatalf("other: uses %d after reload to a 100 KiB cap", ns.Used)
		}
	}
	checkInvariants(t, c)
}

func TestLiveQuotaShrinkAndGrow(t *testing.T) {
	c, _ := newTestCache(t, Config{MaxMemory: 32 << 20})
	val := make([]byte, 500)
	for i := 0; i < 80000/raceScale*2; i++ {
		c.Set(0, []byte(fmt.Sprint(i)), val, 0, 0)
	}
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if _, err := c.SetDirty(ctx, 0, []byte(fmt.Sprintf("d%d", i)), val, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	before := c.Stats()
	if raceScale == 1 && before.Used < 29<<20 {
		t.Fatalf("cache not full: %+v", before)
	}
	if err := c.SetMaxMemory(8 << 20); err != nil {
		t.Fatal(err)
	}
	after := c.Stats()
	if after.Used > 8<<20 || after.MaxMemory != 8<<20 || after.Items < 6000/raceScale || after.Index > 200<<10 {
		t.Fatalf("after shrink: %+v", after)
	}
	for i := 0; i < 100; i++ {
		if !c.Contains(0, []byte(fmt.Sprintf("d%d", i))) {
			t.Fatal("shrink evicted a dirty item")
		}
	}
	checkInvariants(t, c)
	if err := c.SetMaxMemory(48 << 20); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 120000/raceScale; i++ {
		c.Set(0, []byte(fmt.Sprint(i)), val, 0, 0)
	}
	if st := c.Stats(); st.Used > 48<<20 || raceScale == 1 && st.Used < 44<<20 {
		t.Fatalf("after growth: %+v", st)
	}
	checkInvariants(t, c)
	if err := c.SetMaxMemory(1000); !errors.Is(err, ErrConfig) {
		t.Fatalf("tiny quota: %v", err)
	}
}

func TestTooLargeDropsOldCopy(t *testing.T) {
	c, _ := newTestCache(t, Config{MaxMemory: 4 << 20, MaxItemSize: 1000})
	c.Set(0, []byte("k"), []byte("small"), 0, 0)
	if err := c.Set(0, []byte("k"), make([]byte, 2000), 0, 0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
	if c.Contains(0, []byte("k")) {
		t.Fatal("stale copy served after a too-large write")
	}
}

func TestGetIntoNoAlloc(t *testing.T) {
	c, _ := newTestCache(t, Config{MaxMemory: 4 << 20})
	c.Set(0, []byte("0123456789abcdef"), make([]byte, 64), 0, time.Hour)
	dst := make([]byte, 0, 128)
	allocs := testing.AllocsPerRun(1000, func() {
		if _, _, _, ok := c.GetInto(dst, 0, []byte("0123456789abcdef")); !ok {
			t.Fatal("miss")
		}
	})
	if allocs != 0 {
		t.Fatalf("GetInto allocates %v times", allocs)
	}
}

// TestConcurrentStress hammers every API from several goroutines; run it
// with -race. Afterwards the accounting must still add up.
func TestConcurrentStress(t *testing.T) {
	c, clk := newTestCache(t, Config{MaxMemory: 2 << 20, Shards: 8, MaxDirty: 256 << 10, BackpressureTimeout: time.Millisecond,
		Namespaces: []Namespace{{Prefix: "n1:", MaxMemory: 128 << 10, TTL: 50 * time.Millisecond}}})
	ops := 20000 / raceScale
	if testing.Short() {
		ops = 5000
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() { // background expiry and clock
		for {
			select {
			case <-stop:
				return
			default:
				clk.Advance(time.Millisecond)
				c.ExpireNow()
				time.Sleep(200 * time.Microsecond)
			}
		}
	}()
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			ctx := context.Background()
			dst := make([]byte, 0, 1024)
			loader := LoaderFunc(func(ctx context.Context, db int, key []byte) ([]byte, byte, time.Duration, bool, error) {
				return append([]byte("L"), key...), 1, time.Duration(r.IntN(20)) * time.Millisecond, true, nil
			})
			for i := 0; i < ops; i++ {
				k := []byte(fmt.Sprintf("n%d:%d", r.IntN(3), r.IntN(2000)))
				db := r.IntN(2)
				switch op := r.IntN(100); {
				case op < 40:
					v, _, _, ok := c.GetInto(dst, db, k)
					if ok && len(v) > 0 && v[0] != 'L' && v[0] != 'S' && v[0] != 'D' {
						t.Errorf("corrupt value %q", v)
						return
					}
				case op < 60:
					c.Set(db, k, append([]byte("S"), bytes.Repeat(k, r.IntN(20))...), 0, time.Duration(r.IntN(3))*time.Millisecond)
				case op < 70:
					c.GetOrLoad(ctx, dst, db, k, loader)
				case op < 75:
					if v, err := c.SetDirty(ctx, db, k, append([]byte("D"), k...), 0, 0); err == nil {
						if r.IntN(2) == 0 {
							c.MarkClean(db, k, v)
						}
					}
				case op < 80:
					c.Delete(db, k)
				case op < 85:
					c.Expire(db, k, time.Duration(r.IntN(5))*time.Millisecond)
				case op < 90:
					c.Invalidate(db, k)
				case op < 91:
					c.InvalidatePrefix(db, []byte("n2:"))
				case op < 92:
					c.SetMaxMemory(int64(2+r.IntN(3)) << 20)
				case op < 93:
					c.Stats()
				default:
					c.Contains(db, k)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	checkInvariants(t, c)
}

func TestBackgroundExpiryReclaims(t *testing.T) {
	c, err := New(Config{MaxMemory: 4 << 20, ExpireInterval: 2 * time.Millisecond, newPolicy: newTestLRU})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 1000; i++ {
		c.Set(0, []byte(fmt.Sprint("short", i)), make([]byte, 100), 0, 10*time.Millisecond)
		c.Set(0, []byte(fmt.Sprint("long", i)), make([]byte, 100), 0, 0)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().Expirations < 1000 {
		if time.Now().After(deadline) {
			t.Fatalf("background expiry reclaimed %d of 1000 items", c.Stats().Expirations)
		}
		time.Sleep(time.Millisecond)
	}
	st := c.Stats()
	if st.Items != 1000 {
		t.Fatalf("after expiry: %+v", st)
	}
	checkInvariants(t, c)
}

// TestLargeTablesOffHeap grows one shard's index and slot table past the
// size at which they are mmap'd, shrinks them, and closes the cache.
func TestLargeTablesOffHeap(t *testing.T) {
	c, _ := newTestCache(t, Config{MaxMemory: 16 << 20, Shards: 1})
	for i := 0; i < 60000; i++ {
		if err := c.Set(0, []byte(fmt.Sprint("k", i)), []byte("v"), 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	st := c.Stats()
	if st.Index < 256<<10 || st.Slots < 256<<10 {
		t.Fatalf("tables too small to be off-heap: %+v", st)
	}
	checkInvariants(t, c)
	for i := 0; i < 60000; i++ {
		if v, _, _, ok := c.Get(0, []byte(fmt.Sprint("k", i))); !ok || string(v) != "v" {
			t.Fatalf("k%d: %q %v", i, v, ok)
		}
	}
	c.InvalidateAll()
	if err := c.SetMaxMemory(12 << 20); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Index >= 64<<10 {
		t.Fatalf("index not shrunk after emptying: %d", st.Index)
	}
	checkInvariants(t, c)
	c.Set(0, []byte("again"), []byte("v"), 0, 0)
	if !c.Contains(0, []byte("again")) {
		t.Fatal("cache unusable after shrinking its index")
	}
}
