package loadgen

import (
	"math/rand/v2"
	"strconv"
)

// generator appends the next command of one client's workload to a write
// buffer. It is the hot path's producer, written to allocate nothing: the
// fixed parts of every command (array and verb headers) are encoded once,
// and key numbers are formatted straight into the buffer. Owned by one
// goroutine.
type generator struct {
	rng      *rand.Rand
	u01      func() float64 // rng.Float64, bound once
	zipf     *Zipf          // nil for DistUniform
	scramble *Scramble      // shared
	keys     uint64
	prefix   []byte

	value      []byte // ValueSize.Max bytes, shared read-only; values are prefixes of it
	vmin, vmax int

	cmds      []Command
	headers   [][]byte // per cmds index: "*argc\r\n$len\r\nVERB\r\n"
	reads     []int    // indexes into cmds
	writes    []int
	readRatio float64
}

// newValue returns the bytes values are cut from: printable and random, so
// that a server or proxy cannot win by compressing them. One buffer serves
// every client (read-only), since --value-size may be large.
func newValue(o *Options) []byte {
	rng := rand.New(rand.NewPCG(o.Seed, 1<<63))
	v := make([]byte, o.ValueSize.Max)
	for j := range v {
		v[j] = byte('a' + rng.IntN(26))
	}
	return v
}

// newGenerator returns client i's generator. zipf, scramble and value are
// shared and never written.
func newGenerator(o *Options, zipf *Zipf, scramble *Scramble, value []byte, i int) *generator {
	rng := rand.New(rand.NewPCG(o.Seed, uint64(i)))
	g := &generator{
		rng:       rng,
		u01:       rng.Float64,
		keys:      o.Keys,
		prefix:    []byte(o.KeyPrefix),
		vmin:      o.ValueSize.Min,
		vmax:      o.ValueSize.Max,
		cmds:      o.Commands,
		readRatio: o.ReadRatio,
		scramble:  scramble,
		value:     value,
	}
	if o.Dist == DistZipf {
		g.zipf = zipf
	}
	for j, c := range o.Commands {
		g.headers = append(g.headers, commandHeader(c))
		if c.IsWrite() {
			g.writes = append(g.writes, j)
		} else {
			g.reads = append(g.reads, j)
		}
	}
	return g
}

// commandHeader encodes the array header and the verb of c.
func commandHeader(c Command) []byte {
	ki := kinds[c.Kind]
	argc := 1 + ki.argsPer*c.Keys
	b := []byte{'*'}
	b = strconv.AppendInt(b, int64(argc), 10)
	b = append(b, "\r\n$"...)
	b = strconv.AppendInt(b, int64(len(ki.verb)), 10)
	b = append(b, "\r\n"...)
	b = append(b, ki.verb...)
	return append(b, "\r\n"...)
}

// pick draws the index (into cmds) of the next command.
func (g *generator) pick() int {
	group := g.reads
	if len(g.writes) > 0 && (len(g.reads) == 0 || g.rng.Float64() >= g.readRatio) {
		group = g.writes
	}
	if len(group) == 1 {
		return group[0]
	}
	return group[g.rng.IntN(len(group))]
}

// key draws a key number.
func (g *generator) key() uint64 {
	if g.keys == 1 {
		return 0 // redis-benchmark's default workload: spare it the sampling
	}
	if g.zipf == nil {
		return g.rng.Uint64N(g.keys)
	}
	return g.scramble.Map(g.zipf.Rank(g.u01))
}

// next appends one command to b and returns b and the command's index.
func (g *generator) next(b []byte) ([]byte, int) {
	j := g.pick()
	c := g.cmds[j]
	b = append(b, g.headers[j]...)
	switch c.Kind {
	case Get, HGetAll, Exists, Del:
		b = g.appendKey(b, g.key())
	case Set:
		b = g.appendKey(b, g.key())
		b = g.appendValue(b)
	case MGet:
		for range c.Keys {
			b = g.appendKey(b, g.key())
		}
	case MSet:
		for range c.Keys {
			b = g.appendKey(b, g.key())
			b = g.appendValue(b)
		}
	case HGet:
		b = g.appendKey(b, g.key())
		b = appendField(b, g.rng.IntN(HashFields))
	case HSet:
		b = g.appendKey(b, g.key())
		b = appendField(b, g.rng.IntN(HashFields))
		b = g.appendValue(b)
	}
	return b, j
}

// appendFill appends the command that writes key number k in the fill: SET,
// or HSET with every field when hashes is set.
func (g *generator) appendFill(b []byte, k uint64, hashes bool) []byte {
	if !hashes {
		b = append(b, "*3\r\n$3\r\nSET\r\n"...)
		b = g.appendKey(b, k)
		return g.appendValue(b)
	}
	b = append(b, '*')
	b = strconv.AppendInt(b, 2+2*HashFields, 10)
	b = append(b, "\r\n$4\r\nHSET\r\n"...)
	b = g.appendKey(b, k)
	for f := range HashFields {
		b = appendField(b, f)
		b = g.appendValue(b)
	}
	return b
}

// appendKey appends key number k as a bulk string: prefix + decimal k.
func (g *generator) appendKey(b []byte, k uint64) []byte {
	var digits [20]byte
	d := strconv.AppendUint(digits[:0], k, 10)
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(g.prefix)+len(d)), 10)
	b = append(b, '\r', '\n')
	b = append(b, g.prefix...)
	b = append(b, d...)
	return append(b, '\r', '\n')
}

// appendValue appends a value of a size drawn from [vmin, vmax].
func (g *generator) appendValue(b []byte) []byte {
	n := g.vmin
	if g.vmax > g.vmin {
		n += g.rng.IntN(g.vmax - g.vmin + 1)
	}
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(n), 10)
	b = append(b, '\r', '\n')
	b = append(b, g.value[:n]...)
	return append(b, '\r', '\n')
}

// appendField appends hash field f (0 <= f < 10) as the bulk string "f<digit>".
func appendField(b []byte, f int) []byte {
	return append(b, '$', '2', '\r', '\n', 'f', byte('0'+f), '\r', '\n')
}
