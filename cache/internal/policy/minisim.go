package policy

import "math"

// miniSim chooses the window size of the product policy by miniature
// simulation (Waldspurger et al., "Cache Modeling and Optimization using
// Miniature Simulations", USENIX ATC 2017; Caffeine's simulator has the same
// idea as its MiniSim climber). A spatially hashed sample of the keys, at
// rate r, is replayed through a few shadow W-TinyLFU caches of capacity
// r*capacity, each with a fixed window share. Sampling by key hash keeps the
// reuse pattern of the sampled keys intact, so a shadow's hit ratio predicts
// the full cache's at that window share. Every period the main cache moves
// its window to the share whose shadow has hit most (with exponential decay,
// so phases of the workload are followed).
//
// Unlike hill climbing on the main cache's own hit ratio, which compares
// samples taken at different times, the shadows are compared over the same
// requests: a workload's phases and warm-up shift them all alike and do not
// bias the choice.
type miniSim struct {
	shadows   []shadow
	threshold uint64 // a key is sampled when sampleHash(hash) < threshold
	rate      float64
	period    uint64 // sampled requests between decisions
	seen      uint64
	current   int // index of the shadow whose share the cache uses
}

// shadowFracs are the window shares the shadows try.
var shadowFracs = [...]float64{0.01, 0.05, 0.15, 0.30, 0.50}

const (
	// minShadowEntries: shadows hold at least this many entries (when the
	// cache does), so the sampled replay is not too coarse.
	minShadowEntries = 512
	// minSampleRate bounds the shadows' cost for large caches.
	minSampleRate = 1.0 / 128
	// shadowDecay weights the previous periods' hits in the score.
	shadowDecay = 0.5
)

// switchZ is the hysteresis of the share choice, in standard deviations of
// a hit count.
const switchZ = 2

// newMiniSim sizes the shadows for a cache holding about entries entries.
func newMiniSim(capacity, entries int64, opts tinyLFUOptions) *miniSim {
	rate := 1.0
	if entries > minShadowEntries {
		rate = max(float64(minShadowEntries)/float64(entries), minSampleRate)
	}
	m := &miniSim{rate: rate, threshold: math.MaxUint64}
	if rate < 1 {
		m.threshold = uint64(rate * math.MaxUint64)
	}
	shadowCap := max(int64(rate*float64(capacity)), 1)
	shadowEntries := max(int64(rate*float64(entries)), 1)
	m.period = 10 * uint64(shadowEntries)
	opts.adapt = adaptNone
	// A shadow models the main cache at scale rate, its sketch included.
	opts.sketchFloor = int64(float64(opts.sketchFloor) * rate)
	for _, f := range shadowFracs {
		o := opts
		o.windowFrac = f
		m.shadows = append(m.shadows, newShadow(shadowCap, shadowEntries, o))
	}
	for i := range m.shadows {
		m.shadows[i].bind()
	}
	return m
}

// setCapacity resizes the shadows for a new main capacity, keeping the
// sample rate and what they hold.
func (m *miniSim) setCapacity(capacity int64) {
	for i := range m.shadows {
		m.shadows[i].p.SetCapacity(max(int64(m.rate*float64(capacity)), 1))
	}
}

func sampleHash(hash uint64) uint64 { return mix(hash ^ 0x5851f42d4c957f2d) }

// access replays one request of a sampled key and returns the window share
// to use when a period ends, or -1.
func (m *miniSim) access(hash uint64, cost uint32) float64 {
	if m.threshold != math.MaxUint64 && sampleHash(hash) >= m.threshold {
		return -1
	}
	for i := range m.shadows {
		m.shadows[i].access(hash, cost)
	}
	m.seen++
	if m.seen < m.period {
		return -1
	}
	m.seen = 0
	best := 0
	for i := range m.shadows {
		s := &m.shadows[i]
		s.score = shadowDecay*s.score + float64(s.hits)
		s.hits = 0
		if s.score > m.shadows[best].score {
			best = i
		}
	}
	// Hysteresis: leave the current share only for a shadow that beats it
	// by more than switchZ standard deviations of a hit count; otherwise
	// near-ties flip the window back and forth, and every move reshuffles
	// the main cache's queues.
	cur := &m.shadows[m.current]
	if b := m.shadows[best].score; b-cur.score > switchZ*math.Sqrt(b+cur.score) {
		m.current = best
	}
	return shadowFracs[m.current]
}

func (m *miniSim) memoryBytes() int64 {
	var n int64
	for i := range m.shadows {
		n += m.shadows[i].memoryBytes()
	}
	return n
}

// shadow is one miniature cache: a static W-TinyLFU and a pointer-free
// open-addressing index from key hash to id.
type shadow struct {
	p     *tinyLFU
	keys  []uint64 // slot -> key hash + 1 (0 = empty)
	ids   []uint32 // slot -> id
	keyOf []uint64 // id -> key hash
	free  []uint32
	hits  uint64
	score float64
}

func newShadow(capacity, entries int64, opts tinyLFUOptions) shadow {
	slots := 1
	for int64(slots) < 2*entries+16 {
		slots <<= 1
	}
	return shadow{
		p:    newTinyLFU(Config{Capacity: capacity}, opts),
		keys: make([]uint64, slots),
		ids:  make([]uint32, slots),
	}
}

// bind points the shadow policy's callbacks at s, once s has its final
// address.
func (s *shadow) bind() {
	s.p.cfg.Evict = s.evict
	s.p.cfg.Hash = func(id uint32) uint64 { return s.keyOf[id] }
}

func (s *shadow) slot(key uint64) (int, bool) {
	mask := len(s.keys) - 1
	i := int(mix(key)) & mask
	for {
		switch s.keys[i] {
		case 0:
			return i, false
		case key + 1:
			return i, true
		}
		i = (i + 1) & mask
	}
}

func (s *shadow) access(hash uint64, cost uint32) {
	if hash == math.MaxUint64 {
		hash-- // keys are stored +1; a collision only blurs the shadow
	}
	if i, ok := s.slot(hash); ok {
		s.hits++
		s.p.Access(s.ids[i], hash)
		return
	}
	s.p.Miss(hash)
	var id uint32
	if n := len(s.free); n > 0 {
		id, s.free = s.free[n-1], s.free[:n-1]
	} else {
		id = uint32(len(s.keyOf))
		s.keyOf = append(s.keyOf, 0)
	}
	s.keyOf[id] = hash
	if !s.p.Admit(id, hash, cost) {
		s.free = append(s.free, id)
		return
	}
	if 2*s.p.Len()+1 > len(s.keys) {
		s.rehash(2 * len(s.keys))
	}
	i, _ := s.slot(hash)
	s.keys[i], s.ids[i] = hash+1, id
}

func (s *shadow) evict(id uint32) {
	s.free = append(s.free, id)
	i, ok := s.slot(s.keyOf[id])
	if !ok {
		return
	}
	// Backward-shift deletion keeps probe sequences unbroken without
	// tombstones.
	mask := len(s.keys) - 1
	for j := (i + 1) & mask; s.keys[j] != 0; j = (j + 1) & mask {
		home := int(mix(s.keys[j]-1)) & mask
		if (j-home)&mask >= (j-i)&mask {
			s.keys[i], s.ids[i] = s.keys[j], s.ids[j]
			i = j
		}
	}
	s.keys[i] = 0
}

func (s *shadow) rehash(n int) {
	keys, ids := s.keys, s.ids
	s.keys, s.ids = make([]uint64, n), make([]uint32, n)
	for i, k := range keys {
		if k != 0 {
			j, _ := s.slot(k - 1)
			s.keys[j], s.ids[j] = k, ids[i]
		}
	}
}

func (s *shadow) memoryBytes() int64 {
	return s.p.MemoryBytes() + 12*int64(len(s.keys)) + 8*int64(cap(s.keyOf)) + 4*int64(cap(s.free))
}
