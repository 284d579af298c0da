package policy

// Queue tags of S3-FIFO.
const (
	qSmall = q1
	qMain  = q2
)

// s3fifo is S3-FIFO (Yang et al., "FIFO queues are all you need for cache
// eviction", SOSP 2023), a baseline for the simulator: a small FIFO (10% of
// the capacity) filters one-hit wonders, a main FIFO with 2-bit access
// counters reinserts entries that were used, and a ghost FIFO of recently
// evicted key fingerprints sends returning keys straight to main.
type s3fifo struct {
	cfg         Config
	n           nodes
	freq        []uint8
	fp          []uint32 // fingerprints, only when cfg.Hash is nil
	small, main list
	capacity    int64
	ghost       ghostFIFO
	newcomer    uint32
	rejected    bool
}

func newS3FIFO(cfg Config) *s3fifo {
	return &s3fifo{
		cfg:      cfg,
		small:    newList(qSmall),
		main:     newList(qMain),
		capacity: max(cfg.Capacity, 0),
		newcomer: nilID,
	}
}

func (p *s3fifo) Used() int64 { return p.small.cost + p.main.cost }
func (p *s3fifo) Len() int    { return p.small.len + p.main.len }

// MemoryBytes implements Sizer.
func (p *s3fifo) MemoryBytes() int64 {
	return p.n.memoryBytes() + int64(cap(p.freq)) + 4*int64(cap(p.fp)) + p.ghost.memoryBytes()
}

func (p *s3fifo) fpOf(id uint32) uint32 {
	if p.cfg.Hash != nil {
		return fingerprint(p.cfg.Hash(id))
	}
	return p.fp[id]
}

func (p *s3fifo) listOf(tag uint8) *list {
	switch tag {
	case qSmall:
		return &p.small
	case qMain:
		return &p.main
	}
	return nil
}

func (p *s3fifo) Admit(id uint32, hash uint64, cost uint32) bool {
	if id > MaxID {
		return false
	}
	if p.n.tag(id) != qNone {
		p.Resize(id, cost)
		return p.n.tag(id) != qNone
	}
	if int64(cost) > p.capacity {
		return false
	}
	p.n.grow(id)
	if len(p.freq) < len(p.n.prev) {
		f := make([]uint8, len(p.n.prev))
		copy(f, p.freq)
		p.freq = f
	}
	fp := fingerprint(hash)
	if p.cfg.Hash == nil {
		if len(p.fp) < len(p.n.prev) {
			f := make([]uint32, len(p.n.prev))
			copy(f, p.fp)
			p.fp = f
		}
		p.fp[id] = fp
	}
	p.n.setCost(id, cost)
	p.freq[id] = 0
	if p.ghost.has(fp) {
		p.main.pushBack(&p.n, id)
	} else {
		p.small.pushBack(&p.n, id)
	}
	p.newcomer, p.rejected = id, false
	p.evict(false)
	p.newcomer = nilID
	return !p.rejected
}

func (p *s3fifo) Access(id uint32, hash uint64) {
	if p.n.tag(id) != qNone && p.freq[id] < 3 {
		p.freq[id]++
	}
}

func (p *s3fifo) Miss(hash uint64) {}

func (p *s3fifo) Remove(id uint32) {
	if l := p.listOf(p.n.tag(id)); l != nil {
		l.unlink(&p.n, id)
		p.n.clear(id)
	}
}

func (p *s3fifo) Resize(id uint32, cost uint32) {
	l := p.listOf(p.n.tag(id))
	if l == nil {
		return
	}
	old := p.n.getCost(id)
	p.n.setCost(id, cost)
	l.cost += int64(cost) - old
	p.evict(false)
}

func (p *s3fifo) SetCapacity(c int64) {
	p.capacity = max(c, 0)
	p.evict(false)
}

func (p *s3fifo) EvictOne() bool { return p.evict(true) }

func (p *s3fifo) pinned(id uint32) bool { return p.cfg.Pinned != nil && p.cfg.Pinned(id) }

// evict runs until the cost fits (or one entry is gone). A queue whose
// entries were all rotated for being pinned in a row is given up on, so
// pinned entries cannot make it loop forever.
func (p *s3fifo) evict(one bool) bool {
	evicted := false
	smallPinned, mainPinned := 0, 0
	for one && !evicted || !one && p.Used() > p.capacity {
		useSmall := p.small.head != nilID && smallPinned < p.small.len &&
			(p.small.cost >= p.capacity/10 || p.main.head == nilID || mainPinned >= p.main.len)
		if useSmall {
			id := p.small.head
			switch {
			case p.pinned(id):
				p.small.moveToBack(&p.n, id)
				smallPinned++
			case p.freq[id] > 0:
				p.small.unlink(&p.n, id)
				p.freq[id] = 0
				p.main.pushBack(&p.n, id)
				mainPinned = 0
			default:
				p.ghost.add(p.fpOf(id), p.main.len+1)
				p.evictID(&p.small, id)
				evicted = true
			}
			continue
		}
		id := p.main.head
		if id == nilID || mainPinned >= p.main.len {
			break
		}
		switch {
		case p.pinned(id):
			p.main.moveToBack(&p.n, id)
			mainPinned++
		case p.freq[id] > 0:
			p.freq[id]--
			p.main.moveToBack(&p.n, id)
			mainPinned = 0 // progress: counters only go down
		default:
			p.evictID(&p.main, id)
			evicted = true
		}
	}
	return evicted
}

func (p *s3fifo) evictID(l *list, id uint32) {
	l.unlink(&p.n, id)
	p.n.clear(id)
	if id == p.newcomer {
		p.rejected = true
		return
	}
	if p.cfg.Evict != nil {
		p.cfg.Evict(id)
	}
}

// ghostFIFO remembers the fingerprints of the last evictions from the small
// queue, as many as main holds entries.
type ghostFIFO struct {
	ring  []uint32
	head  int
	n     int
	count map[uint32]uint32
}

func (g *ghostFIFO) memoryBytes() int64 { return 4*int64(cap(g.ring)) + 16*int64(len(g.count)) }

func (g *ghostFIFO) add(fp uint32, limit int) {
	if g.count == nil {
		g.count = make(map[uint32]uint32)
	}
	if g.n == len(g.ring) {
		ring := make([]uint32, max(2*len(g.ring), 64))
		for i := range g.n {
			ring[i] = g.ring[(g.head+i)%len(g.ring)]
		}
		g.ring, g.head = ring, 0
	}
	g.ring[(g.head+g.n)%len(g.ring)] = fp
	g.n++
	g.count[fp]++
	for g.n > limit {
		old := g.ring[g.head]
		g.head = (g.head + 1) % len(g.ring)
		g.n--
		g.forget(old)
	}
}

func (g *ghostFIFO) forget(fp uint32) {
	if c := g.count[fp]; c > 1 {
		g.count[fp] = c - 1
	} else {
		delete(g.count, fp)
	}
}

func (g *ghostFIFO) has(fp uint32) bool { return g.count[fp] > 0 }
