package pool

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

func mustNew(t testing.TB, cfg Config) *Pool {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"not pow2", Config{SegmentSize: 100000}, false},
		{"too small", Config{SegmentSize: 1024}, false},
		{"too big", Config{SegmentSize: 32 << 20}, false},
		{"limit below 3 segments", Config{SegmentSize: 1 << 20, Limit: 2 << 20}, false},
		{"negative reserve", Config{Reserve: -1}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrConfig) {
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
		})
	}
}

func TestItemRoundTrip(t *testing.T) {
	for _, it := range []Item{
		{Key: []byte("k"), Value: []byte("v")},
		{Key: []byte("key-0123456789ab"), Value: make([]byte, 64)},
		{Key: []byte{}, Value: []byte{}, Type: 7, NS: 3, DB: 15, Expire: 1 << 40, Version: 99, Dirty: true},
		{Key: bytes.Repeat([]byte("x"), 300), Value: bytes.Repeat([]byte("y"), 70000), DB: 1 << 31},
	} {
		b := make([]byte, it.Size()+10)
		if n := it.encode(b); n != it.Size() {
			t.Fatalf("encode wrote %d, Size %d", n, it.Size())
		}
		var v View
		if !decode(b, &v) {
			t.Fatal("decode failed")
		}
		if !bytes.Equal(v.Key, it.Key) || !bytes.Equal(v.Value, it.Value) || v.Type != it.Type || v.NS != it.NS ||
			v.DB != it.DB || v.Expire != it.Expire || v.Version != it.Version || v.Dirty() != it.Dirty || !v.Live() || v.Size != it.Size() {
			t.Fatalf("round trip: got %+v for %+v", v, it)
		}
	}
	small := Item{Key: make([]byte, 16), Value: make([]byte, 64)}
	if small.Size() != 84 {
		t.Fatalf("16/64 item takes %d bytes, want 84", small.Size())
	}
}

// poolModel checks a pool against a map of the items it should hold.
type poolModel struct {
	t     testing.TB
	p     *Pool
	items map[Loc]Item
	// ceiling is what Mapped may be: the limit, or after a shrink that
	// could not unmap enough, what was mapped then (it must not grow).
	ceiling int64
}

func (m *poolModel) relocate(old, nl Loc, v *View) {
	it, ok := m.items[old]
	if !ok {
		m.t.Fatalf("relocate of unknown %x", old)
	}
	delete(m.items, old)
	m.items[nl] = it
}

func (m *poolModel) check() {
	m.t.Helper()
	var live int64
	ns := map[uint8]int64{}
	for l, it := range m.items {
		var v View
		m.p.Read(l, &v)
		if !v.Live() || !bytes.Equal(v.Key, it.Key) || !bytes.Equal(v.Value, it.Value) || v.Expire != it.Expire {
			m.t.Fatalf("item at %x: got %q=%q, want %q=%q", l, v.Key, v.Value, it.Key, it.Value)
		}
		live += int64(it.Size())
		ns[it.NS] += int64(it.Size())
	}
	st := m.p.Stats()
	if st.Live != live || st.Items != int64(len(m.items)) {
		m.t.Fatalf("stats live %d items %d, model %d %d", st.Live, st.Items, live, len(m.items))
	}
	if st.Mapped != st.Live+st.Dead+st.Free {
		m.t.Fatalf("mapped %d != live %d + dead %d + free %d", st.Mapped, st.Live, st.Dead, st.Free)
	}
	if m.ceiling == 0 {
		m.ceiling = st.Limit
	}
	if st.Mapped > max(st.Limit, m.ceiling) {
		m.t.Fatalf("mapped %d > limit %d (ceiling %d)", st.Mapped, st.Limit, m.ceiling)
	}
	m.ceiling = max(st.Limit, st.Mapped)
	for i := 0; i < 4; i++ {
		if m.p.NSLive(uint8(i)) != ns[uint8(i)] {
			m.t.Fatalf("ns %d live %d, model %d", i, m.p.NSLive(uint8(i)), ns[uint8(i)])
		}
	}
	n := 0
	m.p.Scan(func(l Loc, v *View) bool { n++; return true })
	if n != len(m.items) {
		m.t.Fatalf("scan saw %d items, model %d", n, len(m.items))
	}
}

// runOps interprets ops as a program of Put/Free/Compact/Expired/SetLimit
// and checks the pool against the model after each step.
func runOps(t testing.TB, ops []byte) {
	p := mustNew(t, Config{SegmentSize: MinSegmentSize, Limit: 8 * MinSegmentSize})
	m := &poolModel{t: t, p: p, items: map[Loc]Item{}}
	var locs []Loc
	for i := 0; i+2 < len(ops); i += 3 {
		op, a, b := ops[i]%6, int(ops[i+1]), int(ops[i+2])
		switch op {
		case 0, 1: // Put
			it := Item{Key: bytes.Repeat([]byte{byte(i)}, a%40), Value: bytes.Repeat([]byte{byte(b)}, b*a%3000), NS: uint8(a % 4), Expire: uint64(b % 3 * 10)}
			l, err := p.Put(&it)
			if errors.Is(err, ErrFull) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			m.items[l] = it
			locs = append(locs, l)
		case 2: // Free
			if len(m.items) == 0 {
				continue
			}
			for k := 0; k < len(locs); k++ {
				l := locs[(a*256+b+k)%len(locs)]
				if _, ok := m.items[l]; ok {
					p.Free(l)
					delete(m.items, l)
					break
				}
			}
		case 3:
			p.Compact(a*16, m.relocate)
			locs = locs[:0]
			for l := range m.items {
				locs = append(locs, l)
			}
		case 4:
			p.Expired(uint64(a%30), func(l Loc, v *View) {
				if m.items[l].Expire == 0 || m.items[l].Expire > uint64(a%30) {
					t.Fatalf("expired reported %x (expire %d) at %d", l, m.items[l].Expire, a%30)
				}
				p.Free(l)
				delete(m.items, l)
			})
		case 5:
			p.SetLimit(int64(3+a%8) * MinSegmentSize)
		}
		m.check()
	}
}

func TestPoolModel(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 50; round++ {
		ops := make([]byte, 3000)
		for i := range ops {
			ops[i] = byte(r.UintN(256))
		}
		runOps(t, ops)
	}
}

func TestPutTooLargeAndFull(t *testing.T) {
	p := mustNew(t, Config{SegmentSize: MinSegmentSize, Limit: 3 * MinSegmentSize})
	if _, err := p.Put(&Item{Value: make([]byte, MinSegmentSize)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
	var err error
	n := 0
	for err == nil {
		_, err = p.Put(&Item{Key: []byte("k"), Value: make([]byte, 1000)})
		n++
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("got %v, want ErrFull", err)
	}
	// Reserve 1 of 3 segments: two segments of ~4 items each.
	if st := p.Stats(); st.Segments != 2 || n < 6 {
		t.Fatalf("segments %d after %d puts", st.Segments, n)
	}
}

func TestCompactReclaimsAndLimitShrinks(t *testing.T) {
	p := mustNew(t, Config{SegmentSize: MinSegmentSize, Limit: 16 * MinSegmentSize})
	m := &poolModel{t: t, p: p, items: map[Loc]Item{}}
	for i := 0; ; i++ {
		it := Item{Key: []byte{byte(i), byte(i >> 8)}, Value: make([]byte, 200)}
		l, err := p.Put(&it)
		if err != nil {
			break
		}
		m.items[l] = it
		if i%3 != 0 {
			p.Free(l)
			delete(m.items, l)
		}
	}
	m.check()
	before := p.Stats()
	if p.SetLimit(6 * MinSegmentSize) {
		t.Fatal("shrink below live data succeeded without compaction")
	}
	for i := 0; !p.Trim(); i++ {
		if !p.Compact(1, m.relocate) {
			// No room to move items into: free some (the cache evicts).
			for l := range m.items {
				p.Free(l)
				delete(m.items, l)
				break
			}
			p.SealActive()
		}
		m.check()
		if i > 1000 {
			t.Fatalf("shrink makes no progress: %+v", p.Stats())
		}
	}
	after := p.Stats()
	if after.Mapped > 6*MinSegmentSize || after.Live > before.Live || after.Live == 0 || after.Compactions == 0 {
		t.Fatalf("before %+v after %+v", before, after)
	}
	m.check()
}
