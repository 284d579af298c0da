package policy

import "testing"

// FuzzOps drives every policy with an operation sequence decoded from the
// input and checks the contract after each step: Used() equals the sum of
// the resident costs, Len() their number, Evict is only called for resident,
// unpinned entries other than the newcomer, a rejected newcomer is not
// resident, and after any call that evicts the cost is within capacity
// unless every resident entry is pinned.
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 1, 5, 0, 2, 5, 1, 1, 0, 3, 200, 2, 1, 4, 7, 5, 9})
	f.Add([]byte{0, 1, 255, 0, 2, 255, 0, 3, 255, 6, 1, 6, 2, 3, 0, 1, 0, 4, 1})
	f.Add([]byte{7, 1, 7, 2, 0, 1, 1, 0, 2, 1, 0, 3, 1, 0, 4, 1, 5, 0, 5, 200})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range Names() {
			fuzzPolicy(t, name, data)
		}
	})
}

func fuzzPolicy(t *testing.T, name string, data []byte) {
	capacity := int64(64)
	o := newOwner(t, name, capacity)
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	t.Helper()
	for len(data) > 0 {
		op, id := next()%8, uint32(next()%48)
		evicts := false
		switch op {
		case 0, 1: // lookup: hit or miss-then-admit
			if _, ok := o.cost[id]; ok {
				o.p.Access(id, o.hashes[id])
				break
			}
			o.p.Miss(uint64(id)*0x9e3779b97f4a7c15 + 1)
			cost := uint32(next()%20) + 1
			if op == 1 {
				cost = 1
			}
			if o.admit(id, cost) {
				if _, ok := o.cost[id]; !ok {
					t.Fatalf("%s: Admit(%d) true but evicted", name, id)
				}
			}
			// An entry larger than the capacity is refused up front,
			// without an eviction pass.
			evicts = int64(cost) <= capacity
		case 2:
			o.remove(id)
		case 3:
			cost := uint32(next())%40 + 1
			_, evicts = o.cost[id] // Resize of a non-resident id is a no-op
			if evicts {
				o.cost[id] = cost
			}
			o.p.Resize(id, cost)
		case 4:
			capacity = int64(next() % 100)
			o.p.SetCapacity(capacity)
			evicts = true
		case 5:
			n := o.p.Len()
			if o.p.EvictOne() && o.p.Len() != n-1 {
				t.Fatalf("%s: EvictOne reported an eviction, Len %d -> %d", name, n, o.p.Len())
			}
		case 6:
			o.pinned[id] = !o.pinned[id]
		case 7:
			o.p.Miss(uint64(next()))
		}
		o.check(capacity, evicts)
	}
}
