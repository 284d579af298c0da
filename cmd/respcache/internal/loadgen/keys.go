package loadgen

import "math/bits"

// Scramble is a fixed bijection of [0, n) that maps Zipf ranks to key
// numbers, so that the hottest keys are not key:0, key:1, … next to each
// other. Adjacent hot keys would flatter anything that groups keys by
// number (hash slots of a cluster, a consistent-hash ring in twemproxy,
// prefix-based namespaces) and would let "hot" mean "small number".
//
// It is a 4-round Feistel network on the smallest even-bit-width domain
// 2^(2h) >= n, made a bijection of [0, n) by cycle walking (re-encrypting
// values that fall outside [0, n), which ends because the network is a
// permutation of the larger domain). The domain is under 4n, so a Map costs
// fewer than 4 network passes on average and holds no table: 100 million keys
// cost nothing more than 100. The round keys are constants, so key numbers
// are the same in every run and every seed: a run's hot set is reproducible.
//
// The first ranks, which a Zipf draws most of the time, are looked up in a
// table computed once (at most 64Ki entries, 256KiB): that takes the
// network's ~60ns out of most draws.
//
// A Scramble is immutable and safe for concurrent use.
type Scramble struct {
	n     uint64
	half  uint     // bits per Feistel half
	mask  uint64   // (1<<half) - 1
	table []uint32 // table[r] = Map(r) for the first ranks
}

// scrambleTable is the most ranks the table holds.
const scrambleTable = 1 << 16

// scrambleKeys are the round keys; any odd constants do.
var scrambleKeys = [4]uint64{0x9e3779b97f4a7c15, 0xbf58476d1ce4e5b9, 0x94d049bb133111eb, 0xd6e8feb86659fd93}

// NewScramble returns the bijection of [0, n). n = 0 is treated as 1.
func NewScramble(n uint64) Scramble {
	if n == 0 {
		n = 1
	}
	b := uint(bits.Len64(n - 1)) // bits needed for n-1
	half := (b + 1) / 2
	s := Scramble{n: n, half: half, mask: 1<<half - 1}
	var t []uint32
	if n <= 1<<32 { // table entries are uint32 key numbers
		t = make([]uint32, min(n, scrambleTable))
	}
	for r := range t {
		t[r] = uint32(s.walk(uint64(r)))
	}
	s.table = t
	return s
}

// Map returns the key number of rank r; r must be < n.
func (s *Scramble) Map(r uint64) uint64 {
	if r < uint64(len(s.table)) {
		return uint64(s.table[r])
	}
	return s.walk(r)
}

// walk is Map without the table.
func (s *Scramble) walk(r uint64) uint64 {
	v := s.round(r)
	for v >= s.n {
		v = s.round(v)
	}
	return v
}

func (s *Scramble) round(v uint64) uint64 {
	l, r := v>>s.half, v&s.mask
	for _, k := range scrambleKeys {
		l, r = r, l^(mix(r^k)&s.mask)
	}
	return l<<s.half | r
}

// mix is the SplitMix64 finalizer: every input bit affects every output bit.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
