package cache

import (
	"container/list"

	"github.com/respcache/respcache/cache/internal/policy"
)

// testLRU is a plain LRU implementing policy.Policy, so that the cache's
// tests do not depend on the policy package's tuning.
type testLRU struct {
	cfg      policy.Config
	cap      int64
	used     int64
	l        *list.List // front = least recently used
	els      map[uint32]*list.Element
	newcomer uint32
	rejected bool
}

type lruEntry struct {
	id   uint32
	cost uint32
}

func newTestLRU(_ string, cfg policy.Config) (policy.Policy, error) {
	return &testLRU{cfg: cfg, cap: cfg.Capacity, l: list.New(), els: map[uint32]*list.Element{}, newcomer: noID}, nil
}

func (p *testLRU) Admit(id uint32, hash uint64, cost uint32) bool {
	if e, ok := p.els[id]; ok {
		p.Resize(id, cost)
		_ = e
		return true
	}
	if int64(cost) > p.cap {
		return false
	}
	p.els[id] = p.l.PushBack(&lruEntry{id, cost})
	p.used += int64(cost)
	p.newcomer, p.rejected = id, false
	p.evict(false)
	p.newcomer = noID
	return !p.rejected
}

func (p *testLRU) Access(id uint32, hash uint64) {
	if e, ok := p.els[id]; ok {
		p.l.MoveToBack(e)
	}
}

func (p *testLRU) Miss(uint64) {}

func (p *testLRU) Remove(id uint32) {
	if e, ok := p.els[id]; ok {
		p.used -= int64(e.Value.(*lruEntry).cost)
		p.l.Remove(e)
		delete(p.els, id)
	}
}

func (p *testLRU) Resize(id uint32, cost uint32) {
	e, ok := p.els[id]
	if !ok {
		return
	}
	en := e.Value.(*lruEntry)
	p.used += int64(cost) - int64(en.cost)
	en.cost = cost
	p.evict(false)
}

func (p *testLRU) SetCapacity(c int64) { p.cap = c; p.evict(false) }
func (p *testLRU) EvictOne() bool      { return p.evict(true) }
func (p *testLRU) Used() int64         { return p.used }
func (p *testLRU) Len() int            { return len(p.els) }

func (p *testLRU) evict(one bool) bool {
	evicted := false
	steps := p.l.Len()
	for e := p.l.Front(); e != nil && steps > 0 && (one && !evicted || !one && p.used > p.cap); steps-- {
		next := e.Next()
		en := e.Value.(*lruEntry)
		if p.cfg.Pinned == nil || !p.cfg.Pinned(en.id) {
			p.l.Remove(e)
			delete(p.els, en.id)
			p.used -= int64(en.cost)
			evicted = true
			if en.id == p.newcomer {
				p.rejected = true
			} else {
				p.cfg.Evict(en.id)
			}
		} else {
			// Move pinned entries out of the way so that repeated
			// evictions do not rescan them.
			p.l.MoveToBack(e)
		}
		e = next
	}
	return evicted
}
