package policy

// lru is plain LRU, the baseline: admit everything, evict the least recently
// used unpinned entry.
type lru struct {
	cfg      Config
	n        nodes
	l        list
	capacity int64
	newcomer uint32
	rejected bool
}

func newLRU(cfg Config) *lru {
	return &lru{cfg: cfg, l: newList(q1), capacity: max(cfg.Capacity, 0), newcomer: nilID}
}

func (p *lru) Used() int64 { return p.l.cost }

// MemoryBytes implements Sizer.
func (p *lru) MemoryBytes() int64 { return p.n.memoryBytes() }
func (p *lru) Len() int           { return p.l.len }

func (p *lru) Admit(id uint32, hash uint64, cost uint32) bool {
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
	p.n.setCost(id, cost)
	p.l.pushBack(&p.n, id)
	p.newcomer, p.rejected = id, false
	p.evict(false)
	p.newcomer = nilID
	return !p.rejected
}

func (p *lru) Access(id uint32, hash uint64) {
	if p.n.tag(id) != qNone {
		p.l.moveToBack(&p.n, id)
	}
}

func (p *lru) Miss(hash uint64) {}

func (p *lru) Remove(id uint32) {
	if p.n.tag(id) == qNone {
		return
	}
	p.l.unlink(&p.n, id)
	p.n.clear(id)
}

func (p *lru) Resize(id uint32, cost uint32) {
	if p.n.tag(id) == qNone {
		return
	}
	old := p.n.getCost(id)
	p.n.setCost(id, cost)
	p.l.cost += int64(cost) - old
	p.evict(false)
}

func (p *lru) SetCapacity(c int64) {
	p.capacity = max(c, 0)
	p.evict(false)
}

func (p *lru) EvictOne() bool { return p.evict(true) }

func (p *lru) evict(one bool) bool {
	evicted := false
	id := p.l.head
	for id != nilID && (one && !evicted || !one && p.l.cost > p.capacity) {
		next := p.n.nextOf(id)
		if p.cfg.Pinned == nil || !p.cfg.Pinned(id) {
			p.l.unlink(&p.n, id)
			p.n.clear(id)
			evicted = true
			if id == p.newcomer {
				p.rejected = true
			} else if p.cfg.Evict != nil {
				p.cfg.Evict(id)
			}
		}
		id = next
	}
	return evicted
}
