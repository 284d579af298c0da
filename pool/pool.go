package pool

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// Sentinel errors.
var (
	// ErrFull means no segment has room for the item and none may be added
	// under the limit: the caller frees items or calls Compact, then retries.
	ErrFull = errors.New("pool: full")
	// ErrTooLarge means the encoded item is larger than a segment.
	ErrTooLarge = errors.New("pool: item larger than a segment")
	// ErrConfig wraps every Config.Validate error.
	ErrConfig = errors.New("pool: invalid config")
)

// Segment size bounds. A location addresses an offset with 24 bits.
const (
	MinSegmentSize     = 4 << 10
	MaxSegmentSize     = 16 << 20
	DefaultSegmentSize = 1 << 20
	offBits            = 24
	maxSegments        = 1 << 20
)

// Config configures a Pool. Zero fields take the documented defaults.
type Config struct {
	// SegmentSize is the unit in which memory is taken from the OS, in
	// bytes: a power of two in [MinSegmentSize, MaxSegmentSize]; default
	// DefaultSegmentSize (1 MiB). The largest item is one segment.
	SegmentSize int
	// Limit caps the bytes of mapped segments; default 64 MiB. It must
	// hold at least Reserve+2 segments. SetLimit changes it at run time.
	Limit int64
	// Reserve is the number of segments that ordinary Puts leave free so
	// that Compact always has somewhere to move live items; default 1.
	Reserve int
	// Heap takes segments from the Go heap (pointer-free []byte) instead of
	// mmap. It is forced on where mmap is unavailable and under the race
	// detector, which only checks heap memory.
	Heap bool
}

// Validate reports an invalid configuration; zero fields are valid.
func (c Config) Validate() error {
	c.ensureDefaults()
	if c.SegmentSize < MinSegmentSize || c.SegmentSize > MaxSegmentSize || c.SegmentSize&(c.SegmentSize-1) != 0 {
		return fmt.Errorf("%w: segment size %d is not a power of two in [%d, %d]", ErrConfig, c.SegmentSize, MinSegmentSize, MaxSegmentSize)
	}
	if c.Reserve < 0 {
		return fmt.Errorf("%w: negative reserve %d", ErrConfig, c.Reserve)
	}
	if c.Limit < int64(c.Reserve+2)*int64(c.SegmentSize) {
		return fmt.Errorf("%w: limit %d holds fewer than %d segments of %d bytes", ErrConfig, c.Limit, c.Reserve+2, c.SegmentSize)
	}
	if c.Limit/int64(c.SegmentSize) > maxSegments {
		return fmt.Errorf("%w: limit %d needs more than %d segments", ErrConfig, c.Limit, maxSegments)
	}
	return nil
}

func (c *Config) ensureDefaults() {
	if c.SegmentSize == 0 {
		c.SegmentSize = DefaultSegmentSize
	}
	if c.Limit == 0 {
		c.Limit = 64 << 20
	}
	if c.Reserve == 0 {
		c.Reserve = 1
	}
}

// Loc is the location of an item: segment index and byte offset.
type Loc uint64

// MakeLoc builds a location; the cache packs locations into 44 bits.
func MakeLoc(seg, off int) Loc { return Loc(uint64(seg)<<offBits | uint64(off)) }

// Seg is the segment index of l.
func (l Loc) Seg() int { return int(l >> offBits) }

// Off is the byte offset of l inside its segment.
func (l Loc) Off() int { return int(l & (1<<offBits - 1)) }

// LocBits is how many low bits of a Loc can be non-zero.
const LocBits = offBits + 20

const (
	segUnmapped = iota
	segFree
	segActive
	segSealed
)

type segMeta struct {
	state     uint8
	tail      int32  // bytes written; a reused segment holds stale bytes after it
	live      int32  // bytes of live items
	items     int32  // live items
	minExpire uint64 // lower bound of live items' Expire; 0 = none has one
}

// Stats is the pool's exact accounting, in bytes unless named otherwise.
// Mapped = Live + Dead + Free.
type Stats struct {
	Limit    int64 // cap on Mapped
	Mapped   int64 // memory held in segments
	Live     int64 // encoded size of live items
	Dead     int64 // freed items not yet reclaimed by compaction
	Free     int64 // never-written space: free segments and active tails
	Items    int64 // live items
	Segments int   // mapped segments
	// FreeSegments are mapped and empty; ActiveSegments (0 or 1) receives
	// Puts; the rest (Segments-FreeSegments-ActiveSegments) are sealed:
	// full, holding live and dead items until compaction empties them.
	FreeSegments, ActiveSegments int
	// Compactions counts segments reclaimed by Compact; Moved the bytes
	// it copied (write amplification = (Moved+Live written)/Live written).
	Compactions int64
	Moved       int64
}

// Pool is a log-structured item store inside a byte budget.
//
// Concurrency: every method that changes the pool (Put, Free, SetDirty,
// Compact, Expired, SetLimit, Trim) must be serialized by the caller. Read
// may run concurrently with them as long as the caller guarantees that the
// item read is neither freed nor moved meanwhile (the cache holds the
// item's shard lock for both).
type Pool struct {
	segSize int
	reserve int
	heap    bool

	// bufs is the segment memory table, replaced (never mutated in place
	// for existing entries that readers may use) when it grows; readers load
	// it without a lock.
	bufs atomic.Pointer[[][]byte]

	// The fields below belong to the single mutator.
	limit       int64
	meta        []segMeta
	free        []int32 // mapped, empty segments
	active      int32   // segment receiving Puts; -1 none
	mapped      int64
	live        int64
	dead        int64
	items       int64
	compactions int64
	moved       int64
	nsLive      [256]int64
}

// New returns an empty pool; no memory is mapped until the first Put.
func New(cfg Config) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.ensureDefaults()
	p := &Pool{
		segSize: cfg.SegmentSize,
		reserve: cfg.Reserve,
		heap:    cfg.Heap || raceEnabled || !haveMmap,
		limit:   cfg.Limit,
		active:  -1,
	}
	t := make([][]byte, 0)
	p.bufs.Store(&t)
	return p, nil
}

// SegmentSize is the segment size in bytes.
func (p *Pool) SegmentSize() int { return p.segSize }

// Close unmaps every segment. The pool must not be used afterwards.
func (p *Pool) Close() {
	bufs := *p.bufs.Load()
	for i, b := range bufs {
		if b != nil {
			p.release(b)
			bufs[i] = nil
		}
	}
	p.meta = nil
	p.free = nil
	p.mapped = 0
}

// Read decodes the live item at l into v. Key and Value alias pool memory.
// It is safe to call concurrently with mutations of other items.
func (p *Pool) Read(l Loc, v *View) {
	b := (*p.bufs.Load())[l.Seg()]
	if !decode(b[l.Off():], v) {
		panic("pool: corrupt item")
	}
}

// Put copies it into the pool and returns its location.
func (p *Pool) Put(it *Item) (Loc, error) {
	size := it.Size()
	if size > p.segSize {
		return 0, ErrTooLarge
	}
	b, l, ok := p.alloc(size, p.reserve)
	if !ok {
		return 0, ErrFull
	}
	it.encode(b)
	p.account(l, it.NS, size, it.Expire)
	return l, nil
}

func (p *Pool) account(l Loc, ns uint8, size int, expire uint64) {
	m := &p.meta[l.Seg()]
	m.live += int32(size)
	m.items++
	if expire != 0 && (m.minExpire == 0 || expire < m.minExpire) {
		m.minExpire = expire
	}
	p.live += int64(size)
	p.items++
	p.nsLive[ns] += int64(size)
}

// alloc finds size bytes in the active segment or opens a new one, leaving
// keep segments unused.
func (p *Pool) alloc(size, keep int) ([]byte, Loc, bool) {
	if p.active >= 0 {
		m := &p.meta[p.active]
		if int(m.tail)+size <= p.segSize {
			off := int(m.tail)
			m.tail += int32(size)
			return (*p.bufs.Load())[p.active][off : off+size], MakeLoc(int(p.active), off), true
		}
	}
	avail := len(p.free) + p.mappable()
	if avail <= keep {
		return nil, 0, false
	}
	if p.active >= 0 {
		old := p.active
		p.active = -1
		p.seal(old)
		if p.meta[old].items == 0 {
			p.reclaim(old)
		}
	}
	s := p.takeSegment()
	p.active = s
	m := &p.meta[s]
	m.state = segActive
	m.tail = int32(size)
	return (*p.bufs.Load())[s][:size], MakeLoc(int(s), 0), true
}

// mappable is how many more segments the limit allows mapping.
func (p *Pool) mappable() int { return int(max(p.limit-p.mapped, 0) / int64(p.segSize)) }

// seal retires a segment from receiving writes; its unwritten tail is now
// dead space that compaction reclaims.
func (p *Pool) seal(s int32) {
	m := &p.meta[s]
	m.state = segSealed
	p.dead += int64(p.segSize - int(m.tail))
}

func (p *Pool) takeSegment() int32 {
	if n := len(p.free); n > 0 {
		s := p.free[n-1]
		p.free = p.free[:n-1]
		return s
	}
	// Map a new segment, reusing an unmapped index when there is one.
	bufs := *p.bufs.Load()
	idx := -1
	for i, b := range bufs {
		if b == nil {
			idx = i
			break
		}
	}
	mem := p.acquire(p.segSize)
	if idx < 0 {
		nb := make([][]byte, len(bufs)+1, len(bufs)+1+len(bufs)/4)
		copy(nb, bufs)
		idx = len(bufs)
		nb[idx] = mem
		p.bufs.Store(&nb)
		p.meta = append(p.meta, segMeta{})
	} else {
		// The entry is unused by readers (no live item points into it), so
		// writing it in place is safe; publish a copy anyway so that readers
		// always see an immutable table.
		nb := make([][]byte, len(bufs), cap(bufs))
		copy(nb, bufs)
		nb[idx] = mem
		p.bufs.Store(&nb)
	}
	p.mapped += int64(p.segSize)
	return int32(idx)
}

// Free marks the item at l dead. Its bytes are reclaimed when compaction
// empties the segment.
func (p *Pool) Free(l Loc) {
	b := (*p.bufs.Load())[l.Seg()][l.Off():]
	var v View
	if !decode(b, &v) || !v.Live() {
		panic("pool: free of a dead or corrupt item")
	}
	b[0] &^= flagLive
	m := &p.meta[l.Seg()]
	m.live -= int32(v.Size)
	m.items--
	p.live -= int64(v.Size)
	p.dead += int64(v.Size)
	p.items--
	p.nsLive[v.NS] -= int64(v.Size)
	if m.items == 0 && m.state == segSealed {
		p.reclaim(int32(l.Seg()))
	}
}

// SetDirty sets or clears the dirty bit stored with the live item at l.
func (p *Pool) SetDirty(l Loc, dirty bool) {
	b := (*p.bufs.Load())[l.Seg()][l.Off():]
	if dirty {
		b[0] |= flagDirty
	} else {
		b[0] &^= flagDirty
	}
}

// reclaim returns an empty sealed segment to the free list (or unmaps it
// when the pool is over its limit).
func (p *Pool) reclaim(s int32) {
	m := &p.meta[s]
	p.dead -= int64(p.segSize) - int64(m.live)
	*m = segMeta{state: segFree}
	p.free = append(p.free, s)
	if p.mapped > p.limit {
		p.Trim()
	}
}

func (p *Pool) unmap(s int32) {
	bufs := *p.bufs.Load()
	nb := make([][]byte, len(bufs), cap(bufs))
	copy(nb, bufs)
	mem := nb[s]
	nb[s] = nil
	p.bufs.Store(&nb)
	p.release(mem)
	p.meta[s] = segMeta{state: segUnmapped}
	p.mapped -= int64(p.segSize)
}

// Compact reclaims the sealed segment with the fewest live bytes when that
// frees at least minGain bytes: it copies the live items to the head of the
// log, calls relocate for each (the caller repoints its references and may
// Free the new copy, e.g. when it has expired), and frees the segment. It
// reports whether a segment was reclaimed. Compact may use the reserve.
func (p *Pool) Compact(minGain int, relocate func(old, new Loc, v *View)) bool {
	victim := int32(-1)
	best := int32(p.segSize)
	for i := range p.meta {
		m := &p.meta[i]
		if m.state == segSealed && m.live < best {
			victim, best = int32(i), m.live
		}
	}
	if victim < 0 || p.segSize-int(best) < minGain {
		return false
	}
	// The live items need the active tail or one more segment (they fit in
	// one: they came from one).
	activeRoom := 0
	if p.active >= 0 {
		activeRoom = p.segSize - int(p.meta[p.active].tail)
	}
	if int(best) > activeRoom && len(p.free)+p.mappable() < 1 {
		return false
	}
	src := (*p.bufs.Load())[victim]
	var v View
	end := int(p.meta[victim].tail)
	for off := 0; off < end; {
		if !decode(src[off:], &v) {
			panic("pool: corrupt segment")
		}
		old := MakeLoc(int(victim), off)
		off += v.Size
		if !v.Live() {
			continue
		}
		dst, nl, ok := p.alloc(v.Size, 0)
		if !ok {
			panic("pool: compaction found no room (reserve exhausted)")
		}
		copy(dst, src[old.Off():old.Off()+v.Size])
		p.account(nl, v.NS, v.Size, v.Expire)
		p.moved += int64(v.Size)
		// The old copy stops counting now; the segment is reclaimed below.
		m := &p.meta[victim]
		m.live -= int32(v.Size)
		m.items--
		p.live -= int64(v.Size)
		p.dead += int64(v.Size)
		p.items--
		p.nsLive[v.NS] -= int64(v.Size)
		decode(dst, &v)
		relocate(old, nl, &v)
	}
	if p.meta[victim].state == segSealed { // relocate may have freed the last item already
		p.reclaim(victim)
	}
	p.compactions++
	return true
}

// Expired calls fn for each live item whose Expire is in (0, now]; fn is
// expected to Free it. Only segments whose recorded earliest expiry has
// passed are read, so the work follows the expirations, not the item count.
// It returns the number of items reported.
func (p *Pool) Expired(now uint64, fn func(l Loc, v *View)) int {
	n := 0
	var v View
	for i := range p.meta {
		m := &p.meta[i]
		if (m.state != segSealed && m.state != segActive) || m.minExpire == 0 || m.minExpire > now {
			continue
		}
		buf := (*p.bufs.Load())[i]
		var next uint64
		for off := 0; off < int(m.tail); {
			if !decode(buf[off:], &v) {
				break
			}
			l := MakeLoc(i, off)
			off += v.Size
			if !v.Live() || v.Expire == 0 {
				continue
			}
			if v.Expire <= now {
				fn(l, &v)
				n++
				continue
			}
			if next == 0 || v.Expire < next {
				next = v.Expire
			}
		}
		if m.state >= segActive { // fn may have emptied and reclaimed it
			m.minExpire = next
		}
	}
	return n
}

// Scan calls fn for every live item until fn returns false. fn may Free the
// item it is given.
func (p *Pool) Scan(fn func(l Loc, v *View) bool) {
	var v View
	for i := range p.meta {
		m := &p.meta[i]
		if m.state != segSealed && m.state != segActive {
			continue
		}
		buf := (*p.bufs.Load())[i]
		for off := 0; off < int(m.tail) && m.state >= segActive; {
			if !decode(buf[off:], &v) {
				break
			}
			l := MakeLoc(i, off)
			off += v.Size
			if v.Live() && !fn(l, &v) {
				return
			}
		}
	}
}

// SetLimit changes the cap on mapped bytes and unmaps free segments down to
// it. It reports whether Mapped is now within the limit; if not, the caller
// frees or compacts and calls Trim.
func (p *Pool) SetLimit(limit int64) bool {
	p.limit = limit
	return p.Trim()
}

// Trim unmaps free segments while Mapped exceeds the limit and reports
// whether Mapped is within it. It keeps Reserve free segments: the room
// Compact needs to move the next victim's live items into; the caller
// compacts (freeing more segments) and calls Trim again.
func (p *Pool) Trim() bool {
	for p.mapped > p.limit && len(p.free) > p.reserve {
		s := p.free[len(p.free)-1]
		p.free = p.free[:len(p.free)-1]
		p.unmap(s)
	}
	if p.mapped > p.limit && p.active >= 0 && p.meta[p.active].items == 0 {
		s := p.active
		p.active = -1
		p.dead -= int64(p.meta[s].tail)
		p.meta[s] = segMeta{state: segFree}
		p.unmap(s)
	}
	return p.mapped <= p.limit
}

// SealActive retires the active segment so that Compact may pick it; used
// when shrinking.
func (p *Pool) SealActive() {
	if p.active >= 0 {
		s := p.active
		p.active = -1
		p.seal(s)
		if p.meta[s].items == 0 {
			p.reclaim(s)
		}
	}
}

// MapReserve maps free segments up to Reserve while the limit allows, so
// that a later SetLimit below Mapped still leaves Compact room to work.
func (p *Pool) MapReserve() {
	for len(p.free) < p.reserve && p.mappable() > 0 {
		s := p.takeSegment()
		p.meta[s] = segMeta{state: segFree}
		p.free = append(p.free, s)
	}
}

// HasReserve reports whether the compaction reserve is intact: Reserve
// segments are free or may still be mapped under the limit.
func (p *Pool) HasReserve() bool { return len(p.free)+p.mappable() >= p.reserve }

// Limit is the cap on mapped bytes.
func (p *Pool) Limit() int64 { return p.limit }

// Stats returns the accounting.
func (p *Pool) Stats() Stats {
	free := int64(len(p.free)) * int64(p.segSize)
	active := 0
	if p.active >= 0 {
		free += int64(p.segSize) - int64(p.meta[p.active].tail)
		active = 1
	}
	return Stats{
		Limit: p.limit, Mapped: p.mapped, Live: p.live, Dead: p.dead, Free: free,
		Items: p.items, Segments: int(p.mapped / int64(p.segSize)),
		FreeSegments: len(p.free), ActiveSegments: active,
		Compactions: p.compactions, Moved: p.moved,
	}
}

// NSLive is the live bytes charged to namespace ns.
func (p *Pool) NSLive(ns uint8) int64 { return p.nsLive[ns] }
