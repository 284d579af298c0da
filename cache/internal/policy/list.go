package policy

import "math"

// nilID terminates a list. Ids must stay below it (see MaxID).
const nilID uint32 = math.MaxUint32 >> 1

// MaxID is the largest entry id a Policy accepts. The top bit of each link
// word carries one bit of the entry's queue tag, which is what keeps the
// policy state at 10 bytes per entry.
const MaxID = nilID - 1

const (
	linkMask = nilID
	tagBit   = 1 << 31
)

// Queue tags. qNone means "not resident".
const (
	qNone uint8 = iota
	q1
	q2
	q3
)

// bigCost marks a cost that does not fit 16 bits; the real value lives in
// nodes.big. Large items are rare and large, so a map entry per such item
// costs nothing relative to the item.
const bigCost = math.MaxUint16

// nodes is the per-entry state shared by every list policy: doubly linked
// list links and the cost, in pointer-free slices indexed by id. prev and next
// each hold 31 bits of link and one bit of the queue tag, so an entry costs
// 4+4+2 = 10 bytes.
type nodes struct {
	prev, next []uint32
	cost       []uint16
	big        map[uint32]uint32
}

// grow makes id addressable. Slices grow geometrically, so the amortized
// cost is constant; Access never grows.
func (n *nodes) grow(id uint32) {
	if int(id) < len(n.prev) {
		return
	}
	size := max(int(id)+1, 2*len(n.prev), 64)
	prev := make([]uint32, size)
	next := make([]uint32, size)
	cost := make([]uint16, size)
	copy(prev, n.prev)
	copy(next, n.next)
	copy(cost, n.cost)
	n.prev, n.next, n.cost = prev, next, cost
}

// memoryBytes: 10 bytes per id slot, plus about 16 per big-cost entry.
func (n *nodes) memoryBytes() int64 {
	return 4*int64(cap(n.prev)) + 4*int64(cap(n.next)) + 2*int64(cap(n.cost)) + 16*int64(len(n.big))
}

func (n *nodes) tag(id uint32) uint8 {
	if int(id) >= len(n.prev) {
		return qNone
	}
	return uint8(n.prev[id]>>31)<<1 | uint8(n.next[id]>>31)
}

func (n *nodes) setTag(id uint32, t uint8) {
	n.prev[id] = n.prev[id]&linkMask | uint32(t>>1)<<31
	n.next[id] = n.next[id]&linkMask | uint32(t&1)<<31
}

func (n *nodes) prevOf(id uint32) uint32 { return n.prev[id] & linkMask }
func (n *nodes) nextOf(id uint32) uint32 { return n.next[id] & linkMask }

func (n *nodes) setPrev(id, p uint32) { n.prev[id] = n.prev[id]&tagBit | p }
func (n *nodes) setNext(id, p uint32) { n.next[id] = n.next[id]&tagBit | p }

func (n *nodes) getCost(id uint32) int64 {
	c := n.cost[id]
	if c == bigCost {
		return int64(n.big[id])
	}
	return int64(c)
}

func (n *nodes) setCost(id uint32, cost uint32) {
	if cost >= bigCost {
		if n.big == nil {
			n.big = make(map[uint32]uint32)
		}
		n.big[id] = cost
		n.cost[id] = bigCost
		return
	}
	if n.cost[id] == bigCost {
		delete(n.big, id)
	}
	n.cost[id] = uint16(cost)
}

// clear forgets id's cost and tag.
func (n *nodes) clear(id uint32) {
	if n.cost[id] == bigCost {
		delete(n.big, id)
	}
	n.cost[id] = 0
	n.prev[id] = nilID
	n.next[id] = nilID
}

// list is a doubly linked list of ids threaded through nodes, head = LRU end
// (eviction side), tail = MRU end. It tracks its entry count and total cost.
type list struct {
	head, tail uint32
	tag        uint8
	len        int
	cost       int64
}

func newList(tag uint8) list { return list{head: nilID, tail: nilID, tag: tag} }

func (l *list) pushBack(n *nodes, id uint32) {
	n.prev[id] = l.tail
	n.next[id] = nilID
	n.setTag(id, l.tag)
	if l.tail == nilID {
		l.head = id
	} else {
		n.setNext(l.tail, id)
	}
	l.tail = id
	l.len++
	l.cost += n.getCost(id)
}

func (l *list) pushFront(n *nodes, id uint32) {
	n.prev[id] = nilID
	n.next[id] = l.head
	n.setTag(id, l.tag)
	if l.head == nilID {
		l.tail = id
	} else {
		n.setPrev(l.head, id)
	}
	l.head = id
	l.len++
	l.cost += n.getCost(id)
}

// unlink removes id from l; its tag becomes qNone.
func (l *list) unlink(n *nodes, id uint32) {
	p, nx := n.prevOf(id), n.nextOf(id)
	if p == nilID {
		l.head = nx
	} else {
		n.setNext(p, nx)
	}
	if nx == nilID {
		l.tail = p
	} else {
		n.setPrev(nx, p)
	}
	n.prev[id] = nilID
	n.next[id] = nilID
	l.len--
	l.cost -= n.getCost(id)
}

func (l *list) moveToBack(n *nodes, id uint32) {
	if l.tail == id {
		return
	}
	l.unlink(n, id)
	l.pushBack(n, id)
}
