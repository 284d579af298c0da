package cache

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

type modelKey struct {
	db  int
	key string
}

type modelEntry struct {
	value   []byte
	typ     byte
	expire  time.Duration // since epoch; 0 = none
	dirty   bool
	version uint64
}

// TestModel runs random operations against the cache and a plain map with
// a fake clock and checks every result, TTL expiry and the accounting. With
// a roomy quota nothing may be missing; with a tight one items may be
// evicted, but a hit must be the model's value and dirty items must stay.
func TestModel(t *testing.T) {
	for _, tc := range []struct {
		name  string
		quota int64
		keys  int
		ops   int
	}{
		{"roomy", 8 << 20, 500, 60000},
		{"tight", 1 << 20, 20000, 100000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seeds := uint64(2)
			if testing.Short() {
				seeds = 1
			}
			for seed := uint64(1); seed <= seeds; seed++ {
				runModel(t, seed, tc.quota, tc.keys, tc.ops/raceScale)
			}
		})
	}
}

func runModel(t *testing.T, seed uint64, quota int64, nkeys, nops int) {
	c, clk := newTestCache(t, Config{MaxMemory: quota, Shards: 4, MaxDirty: quota / 4, BackpressureTimeout: -1})
	roomy := quota >= 8<<20
	r := rand.New(rand.NewPCG(seed, 99))
	m := map[modelKey]*modelEntry{}
	var elapsed time.Duration
	ceilMS := func(d time.Duration) time.Duration {
		return (d + time.Millisecond - 1) / time.Millisecond * time.Millisecond
	}
	live := func(e *modelEntry) bool { return e.expire == 0 || elapsed < e.expire }
	key := func() modelKey { return modelKey{r.IntN(3), fmt.Sprintf("k%d:%d", r.IntN(4), r.IntN(nkeys))} }
	ttls := []time.Duration{0, 0, 0, 3 * time.Millisecond, 20 * time.Millisecond, time.Second}
	ctx := context.Background()
	for i := 0; i < nops; i++ {
		k := key()
		e := m[k]
		switch op := r.IntN(100); {
		case op < 30: // Set
			val := bytes.Repeat([]byte{byte(i)}, r.IntN(300))
			ttl := ttls[r.IntN(len(ttls))]
			if err := c.Set(k.db, []byte(k.key), val, byte(i%5), ttl); err != nil {
				t.Fatalf("op %d Set: %v\n%+v\npool %+v policy used %d len %d", i, err, c.Stats(), c.pool.Stats(), c.pol.Used(), c.pol.Len())
			}
			ne := &modelEntry{value: val, typ: byte(i % 5)}
			if ttl > 0 {
				ne.expire = ceilMS(elapsed + ttl)
			}
			m[k] = ne
		case op < 36: // SetDirty
			val := bytes.Repeat([]byte{byte(i)}, r.IntN(200))
			ttl := ttls[r.IntN(len(ttls))]
			ver, err := c.SetDirty(ctx, k.db, []byte(k.key), val, 9, ttl)
			if err == ErrBackpressure || err == ErrNoSpace {
				if roomy && err == ErrNoSpace {
					t.Fatalf("op %d: no space in a roomy cache", i)
				}
				// A failed dirty write dropped nothing it should not
				// have: the old copy, if any, is untouched.
				continue
			}
			if err != nil {
				t.Fatalf("op %d SetDirty: %v", i, err)
			}
			ne := &modelEntry{value: val, typ: 9, dirty: true, version: ver}
			if ttl > 0 {
				ne.expire = ceilMS(elapsed + ttl)
			}
			m[k] = ne
		case op < 40: // MarkClean, sometimes with a stale version
			if e == nil || !e.dirty {
				if c.MarkClean(k.db, []byte(k.key), 1) && (e == nil || !e.dirty) {
					t.Fatalf("op %d: MarkClean of a clean key succeeded", i)
				}
				continue
			}
			ver := e.version
			if r.IntN(4) == 0 {
				ver++
			}
			got := c.MarkClean(k.db, []byte(k.key), ver)
			if got != (ver == e.version) {
				t.Fatalf("op %d: MarkClean(%d) = %v, version %d", i, ver, got, e.version)
			}
			if got {
				e.dirty = false
				if !live(e) {
					delete(m, k)
				}
			}
		case op < 70: // Get
			v, typ, ttl, ok := c.Get(k.db, []byte(k.key))
			want := e != nil && live(e)
			if ok && !want {
				t.Fatalf("op %d: Get %v returned %q, model has none (entry %+v, t=%v)", i, k, v, e, elapsed)
			}
			if !ok && want && (roomy || e.dirty) {
				t.Fatalf("op %d: Get %v missed, model has %+v", i, k, e)
			}
			if ok && (!bytes.Equal(v, e.value) || typ != e.typ) {
				t.Fatalf("op %d: Get %v = %q/%d, want %q/%d", i, k, v, typ, e.value, e.typ)
			}
			if ok {
				wantTTL := time.Duration(0)
				if e.expire != 0 {
					wantTTL = e.expire - elapsed
				}
				if ttl != wantTTL {
					t.Fatalf("op %d: ttl %v, want %v", i, ttl, wantTTL)
				}
			}
		case op < 76: // Delete
			got := c.Delete(k.db, []byte(k.key))
			if got && e == nil {
				t.Fatalf("op %d: Delete of absent key reported true", i)
			}
			if !got && e != nil && (roomy || e.dirty) {
				t.Fatalf("op %d: Delete missed present key", i)
			}
			delete(m, k)
		case op < 80: // Expire
			ttl := ttls[r.IntN(len(ttls))]
			if r.IntN(6) == 0 {
				ttl = -1
			}
			got := c.Expire(k.db, []byte(k.key), ttl)
			want := e != nil && live(e)
			if got && !want || !got && want && (roomy || e.dirty) {
				t.Fatalf("op %d: Expire = %v, model %+v", i, got, e)
			}
			if !got {
				if e != nil && !live(e) && !e.dirty {
					delete(m, k)
				}
				continue
			}
			switch {
			case ttl < 0:
				delete(m, k)
			case ttl == 0:
				e.expire = 0
			default:
				e.expire = ceilMS(elapsed + ttl)
			}
		case op < 84: // Invalidate
			got := c.Invalidate(k.db, []byte(k.key))
			if e != nil && !e.dirty {
				delete(m, k)
			} else if got {
				t.Fatalf("op %d: Invalidate dropped a dirty or absent key", i)
			}
		case op < 85: // InvalidatePrefix (it would keep a tight cache from filling)
			if !roomy {
				continue
			}
			p := fmt.Sprintf("k%d:", r.IntN(4))
			db := r.IntN(4) - 1
			c.InvalidatePrefix(db, []byte(p))
			for mk, me := range m {
				if !me.dirty && (db == AllDBs || mk.db == db) && len(mk.key) >= len(p) && mk.key[:len(p)] == p {
					delete(m, mk)
				}
			}
		case op < 95: // time passes, sometimes by a fraction of a millisecond
			d := time.Duration(r.IntN(4)) * time.Millisecond
			if r.IntN(3) == 0 {
				d = time.Duration(r.IntN(1000)) * time.Microsecond
			}
			clk.Advance(d)
			elapsed += d
		default: // background expiry pass
			c.ExpireNow()
			for mk, me := range m {
				if !live(me) && !me.dirty {
					delete(m, mk)
				}
			}
			if roomy {
				if n := c.Len(); n != len(m) {
					t.Fatalf("op %d: cache holds %d items after expiry, model %d", i, n, len(m))
				}
			}
		}
		if i%2000 == 0 {
			checkInvariants(t, c)
			var dk, db int64
			for _, me := range m {
				if me.dirty {
					dk++
				}
			}
			keys, _ := c.DirtyStats()
			if keys != dk {
				t.Fatalf("op %d: dirty keys %d, model %d (%d bytes)", i, keys, dk, db)
			}
		}
	}
	checkInvariants(t, c)
	st := c.Stats()
	if st.Used > st.MaxMemory {
		t.Fatalf("used %d > quota %d", st.Used, st.MaxMemory)
	}
	if !roomy && st.Evictions == 0 {
		t.Fatalf("tight run evicted nothing: %+v", st)
	}
}
