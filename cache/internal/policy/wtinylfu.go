package policy

import "math"

// Queue tags of the W-TinyLFU lists.
const (
	qWindow    = q1
	qProbation = q2
	qProtected = q3
)

// tinyLFUOptions are the knobs of the W-TinyLFU family; New fixes them per
// policy name (doc.go has the measurements behind the product's values).
type tinyLFUOptions struct {
	// windowFrac is the initial share of the capacity given to the window.
	windowFrac float64
	// protectedFrac is the share of the main space given to protected.
	protectedFrac float64
	// sketchScale is the number of 64-bit sketch words (16 counters each)
	// per expected entry, rounded up to a power of two.
	sketchScale int64
	// sketchFloor is the smallest sketch, in words.
	sketchFloor int64
	// sampleFactor: the sketch ages (halves) after sampleFactor increments
	// per sketch word.
	sampleFactor uint64
	// adapt selects how the window size adapts.
	adapt adaptMode
	// Hill climber (adaptClimb), Caffeine's constants: the step as a share
	// of capacity, its decay per sample, and the hit-ratio change that
	// restarts it at full size.
	stepFrac, decay, restart float64
}

type adaptMode uint8

const (
	adaptNone    adaptMode = iota // fixed window
	adaptClimb                    // Caffeine's hill climber on the hit ratio
	adaptMiniSim                  // miniature simulations (minisim.go)
)

const (
	// admitHashDoSThreshold: candidates at least this warm that lose the
	// frequency contest are still admitted with probability 1/128. Without
	// it an attacker can keep a hot victim resident forever by making its
	// collisions hot (Caffeine's defense).
	admitHashDoSThreshold = 6
	// maxTransfer bounds the entries moved between queues per adaptation.
	maxTransfer = 1000
)

// tinyLFU is W-TinyLFU: a small LRU window in front of a segmented LRU main
// space (probation + protected). An entry leaving the window competes with
// the probation LRU victim; the one the frequency sketch deems less popular
// is evicted. With adaptive set, a hill climber moves capacity between window
// and main by sampling the hit ratio (Caffeine's design).
type tinyLFU struct {
	cfg  Config
	opts tinyLFUOptions
	n    nodes
	fp   []uint32 // key fingerprints, only when cfg.Hash is nil

	window, probation, protected list
	sk                           sketch

	capacity     int64
	windowMax    int64
	protectedMax int64

	// adjustment is the pending window resize, in cost units.
	adjustment int64
	// hill climber
	stepSize    float64
	hits        uint64
	misses      uint64
	prevHitRate float64

	mini *miniSim
	rng  uint64
	// newcomer is the id being admitted; evicting it means rejecting it.
	newcomer uint32
	rejected bool
}

func newTinyLFU(cfg Config, opts tinyLFUOptions) *tinyLFU {
	p := &tinyLFU{
		cfg:       cfg,
		opts:      opts,
		window:    newList(qWindow),
		probation: newList(qProbation),
		protected: newList(qProtected),
		sk:        newSketch(opts.sampleFactor),
		rng:       0x9e3779b97f4a7c15,
		newcomer:  nilID,
	}
	p.setCapacity(cfg.Capacity)
	return p
}

// fingerprint folds a key hash to the 32 bits the sketch is keyed by.
func fingerprint(hash uint64) uint32 { return uint32(mix(hash) >> 32) }

func (p *tinyLFU) fpOf(id uint32) uint32 {
	if p.cfg.Hash != nil {
		return fingerprint(p.cfg.Hash(id))
	}
	return p.fp[id]
}

func (p *tinyLFU) used() int64 { return p.window.cost + p.probation.cost + p.protected.cost }

func (p *tinyLFU) Used() int64 { return p.used() }
func (p *tinyLFU) Len() int    { return p.window.len + p.probation.len + p.protected.len }

func (p *tinyLFU) setCapacity(c int64) {
	c = max(c, 0)
	p.capacity = c
	p.windowMax = c - int64(float64(c)*(1-p.opts.windowFrac))
	p.protectedMax = int64(p.opts.protectedFrac * float64(c-p.windowMax))
	p.hits, p.misses = 0, 0
	p.stepSize = -p.opts.stepFrac * float64(c)
	p.adjustment = 0
}

// SetCapacity keeps what the policy has learnt: the owner calls it often
// (the cache moves its item budget whenever its index grows), so window and
// protected sizes, the climber's step and the shadows are scaled to the new
// capacity instead of being reset.
func (p *tinyLFU) SetCapacity(c int64) {
	c = max(c, 0)
	old := p.capacity
	if old == 0 || c == 0 {
		p.setCapacity(c)
		p.mini = nil
	} else {
		scale := func(x int64) int64 { return int64(float64(x) * float64(c) / float64(old)) }
		p.capacity = c
		p.windowMax = scale(p.windowMax)
		p.protectedMax = scale(p.protectedMax)
		p.adjustment = scale(p.adjustment)
		p.stepSize *= float64(c) / float64(old)
		if p.mini != nil {
			p.mini.setCapacity(c)
		}
	}
	p.demoteProtected()
	p.evict(false)
}

func (p *tinyLFU) pinned(id uint32) bool { return p.cfg.Pinned != nil && p.cfg.Pinned(id) }

func (p *tinyLFU) listOf(tag uint8) *list {
	switch tag {
	case qWindow:
		return &p.window
	case qProbation:
		return &p.probation
	case qProtected:
		return &p.protected
	}
	return nil
}

// ensureSketch sizes the sketch for the number of entries the capacity
// holds, predicted from the mean resident cost. While the cache is less than
// half full that prediction is not trusted for the table (a few small first
// items would make it huge): the table then follows twice the resident count,
// at least sketchMinEntries, doubling with its counts kept. The aging period
// always follows the prediction, so a filling cache does not age early.
func (p *tinyLFU) ensureSketch() {
	used, n := p.used(), int64(p.Len())
	if used == 0 {
		return
	}
	scale := max(p.opts.sketchScale, 1)
	full := max(n*p.capacity/used, 1) * scale
	words := max(full, p.opts.sketchFloor)
	if used < p.capacity/2 {
		words = min(words, max(2*n*scale, sketchMinEntries))
	}
	if words > int64(len(p.sk.table)) {
		p.sk.ensureCapacity(int(min(words, math.MaxInt32)))
	}
	p.sk.sampleSize = p.opts.sampleFactor * uint64(full)
}

// sketchMinEntries is the smallest sketch table (32 KiB) while the cache
// fills.
const sketchMinEntries = 4096

// MemoryBytes is the policy's own memory: per-entry state, fingerprints and
// the sketch. Implements Sizer.
func (p *tinyLFU) MemoryBytes() int64 {
	n := p.n.memoryBytes() + 4*int64(cap(p.fp)) + 8*int64(cap(p.sk.table))
	if p.mini != nil {
		n += p.mini.memoryBytes()
	}
	return n
}

func (p *tinyLFU) Admit(id uint32, hash uint64, cost uint32) bool {
	if id > MaxID {
		return false
	}
	if int(id) < len(p.n.prev) && p.n.tag(id) != qNone {
		p.Resize(id, cost)
		return p.n.tag(id) != qNone
	}
	if int64(cost) > p.capacity {
		return false
	}
	p.n.grow(id)
	if p.cfg.Hash == nil {
		if int(id) >= len(p.fp) {
			fp := make([]uint32, len(p.n.prev))
			copy(fp, p.fp)
			p.fp = fp
		}
		p.fp[id] = fingerprint(hash)
	}
	p.n.setCost(id, cost)
	if int64(cost) > p.windowMax {
		p.window.pushFront(&p.n, id)
	} else {
		p.window.pushBack(&p.n, id)
	}
	p.ensureSketch()
	if p.opts.adapt == adaptMiniSim {
		// Shadows take misses here, in request order, with their cost;
		// owners that batch hits deliver Miss late and reordered.
		p.feedShadows(hash, cost)
	}
	p.newcomer, p.rejected = id, false
	p.evict(false)
	p.newcomer = nilID
	p.climb()
	return !p.rejected
}

func (p *tinyLFU) Miss(hash uint64) {
	p.sk.increment(uint64(fingerprint(hash)))
	p.misses++
}

func (p *tinyLFU) Access(id uint32, hash uint64) {
	p.sk.increment(uint64(fingerprint(hash)))
	p.hits++
	tag := p.n.tag(id)
	if p.mini != nil && tag != qNone {
		p.feedShadows(hash, uint32(p.n.getCost(id)))
	}
	switch tag {
	case qWindow:
		p.window.moveToBack(&p.n, id)
	case qProbation:
		if p.n.getCost(id) > p.protectedMax {
			p.probation.moveToBack(&p.n, id)
			return
		}
		p.probation.unlink(&p.n, id)
		p.protected.pushBack(&p.n, id)
		p.demoteProtected()
	case qProtected:
		p.protected.moveToBack(&p.n, id)
	}
}

func (p *tinyLFU) demoteProtected() {
	for p.protected.cost > p.protectedMax && p.protected.head != nilID {
		id := p.protected.head
		p.protected.unlink(&p.n, id)
		p.probation.pushBack(&p.n, id)
	}
}

func (p *tinyLFU) Remove(id uint32) {
	l := p.listOf(p.n.tag(id))
	if l == nil {
		return
	}
	l.unlink(&p.n, id)
	p.n.clear(id)
}

func (p *tinyLFU) Resize(id uint32, cost uint32) {
	l := p.listOf(p.n.tag(id))
	if l == nil {
		return
	}
	old := p.n.getCost(id)
	p.n.setCost(id, cost)
	l.cost += int64(cost) - old
	if int64(cost) > p.capacity && !p.pinned(id) {
		p.evictID(id)
		return
	}
	p.demoteProtected()
	p.evict(false)
}

func (p *tinyLFU) EvictOne() bool { return p.evict(true) }

// evictID removes id and tells the owner, unless id is the newcomer being
// admitted: that one is rejected silently.
func (p *tinyLFU) evictID(id uint32) {
	p.listOf(p.n.tag(id)).unlink(&p.n, id)
	p.n.clear(id)
	if id == p.newcomer {
		p.rejected = true
		return
	}
	if p.cfg.Evict != nil {
		p.cfg.Evict(id)
	}
}

// evict moves window overflow to probation and then evicts until the cost
// fits (or, with one, exactly one entry). It is Caffeine's evictFromMain:
// candidates are the entries just moved out of the window (then the rest of
// the window), victims come from the probation LRU end (then protected, then
// window); each round evicts the less frequent of the two.
func (p *tinyLFU) evict(one bool) bool {
	candidate := nilID
	for p.window.cost > p.windowMax && p.window.head != nilID {
		id := p.window.head
		p.window.unlink(&p.n, id)
		p.probation.pushBack(&p.n, id)
		if candidate == nilID {
			candidate = id
		}
	}
	victimQ, candidateQ := qProbation, qProbation
	victim := p.probation.head
	evicted := false
	for one && !evicted || !one && p.used() > p.capacity {
		if candidate == nilID && candidateQ == qProbation {
			candidate, candidateQ = p.window.head, qWindow
		}
		if candidate == nilID && victim == nilID {
			if victimQ == qProbation {
				victim, victimQ = p.protected.head, qProtected
				continue
			} else if victimQ == qProtected {
				victim, victimQ = p.window.head, qWindow
				continue
			}
			break // everything left is pinned
		}
		if victim != nilID && p.pinned(victim) {
			victim = p.n.nextOf(victim)
			continue
		}
		if candidate != nilID && p.pinned(candidate) {
			candidate = p.n.nextOf(candidate)
			continue
		}
		evicted = true
		switch {
		case victim == nilID:
			next := p.n.nextOf(candidate)
			p.evictID(candidate)
			candidate = next
		case candidate == nilID:
			next := p.n.nextOf(victim)
			p.evictID(victim)
			victim = next
		case candidate == victim:
			victim = p.n.nextOf(victim)
			p.evictID(candidate)
			candidate = nilID
		case p.admit(candidate, victim):
			next := p.n.nextOf(victim)
			p.evictID(victim)
			victim = next
			candidate = p.n.nextOf(candidate)
		default:
			next := p.n.nextOf(candidate)
			p.evictID(candidate)
			candidate = next
		}
	}
	return evicted
}

func (p *tinyLFU) admit(candidate, victim uint32) bool {
	cf := p.sk.frequency(uint64(p.fpOf(candidate)))
	vf := p.sk.frequency(uint64(p.fpOf(victim)))
	if cf > vf {
		return true
	}
	if cf >= admitHashDoSThreshold {
		p.rng ^= p.rng << 13
		p.rng ^= p.rng >> 7
		p.rng ^= p.rng << 17
		return p.rng&127 == 0
	}
	return false
}

// climb is Caffeine's hill climber: every sample period it compares the hit
// ratio with the previous period's, keeps moving the window size in the same
// direction while that helps and reverses when it hurts, with a step that
// decays geometrically and restarts when the hit ratio jumps.
// feedShadows replays a request in the miniature simulations, creating them
// once the cache is half full (when the mean entry cost is known), and moves
// the window to the share they pick at the end of each period.
func (p *tinyLFU) feedShadows(hash uint64, cost uint32) {
	if p.mini == nil {
		used := p.used()
		if used < p.capacity/2 || used == 0 {
			return
		}
		p.mini = newMiniSim(p.capacity, max(int64(p.Len())*p.capacity/used, 1), p.opts)
	}
	if f := p.mini.access(hash, cost); f >= 0 {
		target := p.capacity - int64(float64(p.capacity)*(1-f))
		p.adjustment = target - p.windowMax
	}
}

// climb runs the adaptation after an admission and applies any pending
// window resize.
//
// adaptClimb is Caffeine's hill climber: every sample period it compares the
// hit ratio with the previous period's, keeps moving the window in the same
// direction while that helps and reverses when it hurts, with a step that
// decays geometrically and restarts when the hit ratio jumps.
func (p *tinyLFU) climb() {
	if p.opts.adapt == adaptClimb {
		p.determineAdjustment()
	}
	switch {
	case p.adjustment > 0:
		p.increaseWindow()
	case p.adjustment < 0:
		p.decreaseWindow()
	}
}

func (p *tinyLFU) determineAdjustment() {
	if !p.sk.ready() {
		p.prevHitRate, p.hits, p.misses = 0, 0, 0
		return
	}
	n := p.hits + p.misses
	if n < p.sk.sampleSize {
		return
	}
	rate := float64(p.hits) / float64(n)
	change := rate - p.prevHitRate
	amount := p.stepSize
	if change < 0 {
		amount = -amount
	}
	if math.Abs(change) >= p.opts.restart {
		p.stepSize = math.Copysign(p.opts.stepFrac*float64(p.capacity), amount)
	} else {
		p.stepSize = p.opts.decay * amount
	}
	p.prevHitRate = rate
	p.adjustment = int64(amount)
	p.hits, p.misses = 0, 0
}

func (p *tinyLFU) increaseWindow() {
	if p.protectedMax == 0 {
		return
	}
	quota := min(p.adjustment, p.protectedMax)
	p.protectedMax -= quota
	p.windowMax += quota
	p.demoteProtected()
	for range maxTransfer {
		id := p.probation.head
		from := &p.probation
		if id == nilID || quota < p.n.getCost(id) {
			id, from = p.protected.head, &p.protected
		}
		if id == nilID {
			break
		}
		c := p.n.getCost(id)
		if quota < c {
			break
		}
		quota -= c
		from.unlink(&p.n, id)
		p.window.pushBack(&p.n, id)
	}
	p.protectedMax += quota
	p.windowMax -= quota
	p.adjustment = quota
}

func (p *tinyLFU) decreaseWindow() {
	if p.windowMax <= 1 {
		return
	}
	quota := min(-p.adjustment, max(0, p.windowMax-1))
	p.protectedMax += quota
	p.windowMax -= quota
	for range maxTransfer {
		id := p.window.head
		if id == nilID {
			break
		}
		c := p.n.getCost(id)
		if quota < c {
			break
		}
		quota -= c
		p.window.unlink(&p.n, id)
		p.probation.pushBack(&p.n, id)
	}
	p.protectedMax -= quota
	p.windowMax += quota
	p.adjustment = -quota
}
