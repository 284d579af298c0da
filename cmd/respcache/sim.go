package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"

	"github.com/respcache/respcache/cache"
)

// runSim is `respcache sim`: it replays a key trace through an eviction
// policy and prints the hit ratio per capacity. It returns the exit code.
//
// Count mode (--capacity) drives the policy directly with every entry costing
// 1, the unit the peers' published figures use: on each access a hit calls
// Access, a miss calls Miss and then Admit. Byte mode (--max-memory) charges
// each entry its key and value bytes.
func runSim(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		tracePath  = fs.String("trace", "", "trace `file` (plain or gzip)")
		format     = fs.String("format", "", "trace format: lirs | arc | zipf")
		capacities = fs.String("capacity", "", "comma-separated capacities in entries (count mode)")
		maxMemory  = fs.String("max-memory", "", "comma-separated cache sizes like 64MiB (byte mode)")
		valueSize  = fs.Int("value-size", 100, "value bytes per entry (byte mode)")
		zipfS      = fs.Float64("zipf-s", 1.0001, "Zipf exponent s (> 0)")
		zipfV      = fs.Float64("zipf-v", 10, "Zipf offset v (>= 1)")
		keys       = fs.Uint64("keys", 10_000_000, "distinct keys of the Zipf trace")
		requests   = fs.Uint64("requests", 10_000_000, "accesses of the Zipf trace")
		seed       = fs.Uint64("seed", 1, "seed of the Zipf trace")
		policyName = fs.String("policy", "adaptive", "policy name, or all: "+strings.Join(cache.PolicyNames(), ", "))
	)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: respcache sim --format lirs|arc|zipf [--trace FILE] --capacity N[,N...] | --max-memory SIZE[,SIZE...] [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "respcache sim: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}

	var src trace
	switch *format {
	case "lirs", "arc":
		if *tracePath == "" {
			return fail("--format %s needs --trace", *format)
		}
		ks, err := loadTrace(*tracePath, *format)
		if err != nil {
			return fail("%v", err)
		}
		src = sliceTrace(ks)
	case "zipf":
		if *tracePath != "" {
			return fail("--format zipf takes no --trace")
		}
		if _, err := newZipf(nil, *zipfS, *zipfV, *keys); err != nil {
			return fail("%v", err)
		}
		src = zipfTrace(*zipfS, *zipfV, *keys, *requests, *seed)
	case "":
		return fail("--format is required")
	default:
		return fail("unknown --format %q (want lirs, arc or zipf)", *format)
	}

	names := []string{*policyName}
	if *policyName == "all" {
		names = cache.PolicyNames()
	}
	for _, n := range names {
		if _, err := cache.NewPolicy(n, cache.PolicyConfig{}); err != nil {
			return fail("%v", err)
		}
	}

	type run struct {
		label string
		cap   int64
		bytes bool
	}
	var runs []run
	switch {
	case *capacities != "" && *maxMemory != "":
		return fail("--capacity and --max-memory are exclusive")
	case *capacities != "":
		for _, f := range strings.Split(*capacities, ",") {
			c, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil || c <= 0 {
				return fail("bad capacity %q", f)
			}
			runs = append(runs, run{label: "capacity=" + strconv.FormatInt(c, 10), cap: c})
		}
	case *maxMemory != "":
		if *valueSize < 0 {
			return fail("negative --value-size")
		}
		for _, f := range strings.Split(*maxMemory, ",") {
			f = strings.TrimSpace(f)
			c, err := parseSize(f)
			if err != nil || c <= 0 {
				return fail("bad --max-memory %q", f)
			}
			runs = append(runs, run{label: "max_memory=" + f, cap: c, bytes: true})
		}
	default:
		return fail("one of --capacity or --max-memory is required")
	}

	for _, n := range names {
		for _, r := range runs {
			vs := -1
			if r.bytes {
				vs = *valueSize
			}
			ratio, err := simulate(n, r.cap, vs, src)
			if err != nil {
				return fail("%v", err)
			}
			prefix := ""
			if len(names) > 1 {
				prefix = "policy=" + n + " "
			}
			fmt.Fprintf(stdout, "%s%s hit_ratio=%.2f\n", prefix, r.label, 100*ratio)
		}
	}
	return 0
}

// trace replays a key sequence; it may be replayed any number of times.
type trace func(yield func(key uint64) bool)

func sliceTrace(ks []uint64) trace {
	return func(yield func(uint64) bool) {
		for _, k := range ks {
			if !yield(k) {
				return
			}
		}
	}
}

// zipfTrace regenerates the same sequence on every replay, so a 10M-request
// trace needs no memory.
func zipfTrace(s, v float64, keys, requests, seed uint64) trace {
	return func(yield func(uint64) bool) {
		z, _ := newZipf(rand.New(rand.NewPCG(seed, 0x5eed)), s, v, keys)
		for range requests {
			if !yield(z.next()) {
				return
			}
		}
	}
}

// simulate replays src and returns the hit ratio. valueSize < 0 selects
// count mode: a fresh policy of the given capacity in entries, driven
// directly (hit: Access; miss: Miss, then Admit with cost 1). Otherwise byte
// mode: the real cache with MaxMemory = capacity, every key (its decimal
// form) read with Get and, on a miss, stored with Set and a valueSize-byte
// value, so keys, values, item headers, index and policy state all count
// against the quota as in production.
func simulate(name string, capacity int64, valueSize int, src trace) (float64, error) {
	if valueSize >= 0 {
		return simulateCache(name, capacity, valueSize, src)
	}
	var (
		index = make(map[uint64]uint32) // key -> id
		keyOf []uint64                  // id -> key
		free  []uint32
	)
	cfg := cache.PolicyConfig{
		Capacity: capacity,
		Evict: func(id uint32) {
			delete(index, keyOf[id])
			free = append(free, id)
		},
		Hash: func(id uint32) uint64 { return hashKey(keyOf[id]) },
	}
	p, err := cache.NewPolicy(name, cfg)
	if err != nil {
		return 0, err
	}
	var hits, total uint64
	src(func(k uint64) bool {
		total++
		h := hashKey(k)
		if id, ok := index[k]; ok {
			hits++
			p.Access(id, h)
			return true
		}
		p.Miss(h)
		var id uint32
		if n := len(free); n > 0 {
			id = free[n-1]
			free = free[:n-1]
		} else {
			id = uint32(len(keyOf))
			keyOf = append(keyOf, 0)
		}
		keyOf[id] = k
		if p.Admit(id, h, 1) {
			index[k] = id
		} else {
			free = append(free, id)
		}
		return true
	})
	if total == 0 {
		return 0, errors.New("empty trace")
	}
	return float64(hits) / float64(total), nil
}

func simulateCache(name string, maxMemory int64, valueSize int, src trace) (float64, error) {
	c, err := cache.New(cache.Config{MaxMemory: maxMemory, Policy: name, ExpireInterval: -1})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	value := make([]byte, valueSize)
	var key, dst []byte
	var hits, total uint64
	var setErr error
	src(func(k uint64) bool {
		total++
		key = strconv.AppendUint(key[:0], k, 10)
		var ok bool
		if dst, _, _, ok = c.GetInto(dst, 0, key); ok {
			hits++
			return true
		}
		if err := c.Set(0, key, value, 0, 0); err != nil && !errors.Is(err, cache.ErrTooLarge) {
			setErr = err
			return false
		}
		return true
	})
	if setErr != nil {
		return 0, setErr
	}
	if total == 0 {
		return 0, errors.New("empty trace")
	}
	return float64(hits) / float64(total), nil
}

// hashKey stands in for the cache's key hash (splitmix64 finalizer).
func hashKey(k uint64) uint64 {
	k += 0x9e3779b97f4a7c15
	k = (k ^ k>>30) * 0xbf58476d1ce4e5b9
	k = (k ^ k>>27) * 0x94d049bb133111eb
	return k ^ k>>31
}

// loadTrace reads a whole trace file (gzip is detected by its magic bytes).
func loadTrace(path, format string) ([]uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, err := maybeGunzip(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var ks []uint64
	add := func(k uint64) { ks = append(ks, k) }
	if format == "lirs" {
		err = readLIRS(r, add)
	} else {
		err = readARC(r, add)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ks, nil
}

func maybeGunzip(br *bufio.Reader) (io.Reader, error) {
	magic, err := br.Peek(2)
	if err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		return gzip.NewReader(br)
	}
	return br, nil
}

// readLIRS reads the LIRS trace format: one unsigned integer key per line.
// Blank lines are skipped; a line starting with '*' (the LIRS traces' end
// marker) ends the trace.
func readLIRS(r io.Reader, add func(uint64)) error {
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		f := bytes.TrimSpace(sc.Bytes())
		if len(f) == 0 {
			continue
		}
		if f[0] == '*' {
			return nil
		}
		k, err := strconv.ParseUint(string(f), 10, 64)
		if err != nil {
			return fmt.Errorf("line %d: bad key %q", line, f)
		}
		add(k)
	}
	return sc.Err()
}

// readARC reads the ARC trace format: lines "start count ignored ignored",
// each standing for the keys start, start+1, ..., start+count-1.
func readARC(r io.Reader, add func(uint64)) error {
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			return fmt.Errorf("line %d: want \"start count ...\", got %q", line, sc.Bytes())
		}
		start, err1 := strconv.ParseUint(string(f[0]), 10, 64)
		count, err2 := strconv.ParseUint(string(f[1]), 10, 64)
		if err1 != nil || err2 != nil || start+count < start {
			return fmt.Errorf("line %d: bad start/count %q", line, sc.Bytes())
		}
		for i := range count {
			add(start + i)
		}
	}
	return sc.Err()
}

// parseSize parses a byte size: a bare integer is bytes; KiB/MiB/GiB/TiB are
// powers of 2, KB/MB/GB/TB powers of 10; a trailing B alone means bytes; case
// is ignored.
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	units := []struct {
		suffix string
		mult   int64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
		{"b", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q overflows", s)
	}
	return n * mult, nil
}

// zipf draws k in [0, n) with P(k) proportional to (v+k)^(-s), by
// rejection-inversion (W. Hörmann, G. Derflinger, "Rejection-inversion to
// generate variates from monotone discrete distributions", 1996). It needs no
// table, so 10M keys cost nothing, and unlike math/rand's Zipf it accepts
// s <= 1; H and its inverse are written with log1p/expm1 so s = 1.0001 is
// exact to double precision.
type zipf struct {
	rng        *rand.Rand
	s, v       float64
	n          uint64
	hx0, hxMax float64 // H(v-0.5+... ) bounds of the inversion interval
}

func newZipf(rng *rand.Rand, s, v float64, n uint64) (*zipf, error) {
	if !(s > 0) || math.IsInf(s, 0) {
		return nil, fmt.Errorf("zipf: s must be > 0, got %v", s)
	}
	if !(v >= 1) || math.IsInf(v, 0) {
		return nil, fmt.Errorf("zipf: v must be >= 1, got %v", v)
	}
	if n == 0 {
		return nil, errors.New("zipf: keys must be > 0")
	}
	z := &zipf{rng: rng, s: s, v: v, n: n}
	z.hx0 = z.bigH(v+0.5) - z.h(v)
	z.hxMax = z.bigH(v + float64(n-1) + 0.5)
	return z, nil
}

// h is the unnormalized density y^(-s) at y = v+k.
func (z *zipf) h(y float64) float64 { return math.Exp(-z.s * math.Log(y)) }

// bigH is an antiderivative of h: (y^(1-s) - 1) / (1-s), or log y at s = 1.
func (z *zipf) bigH(y float64) float64 {
	l := math.Log(y)
	return expm1OverX((1-z.s)*l) * l
}

func (z *zipf) bigHInv(u float64) float64 {
	t := u * (1 - z.s)
	if t < -1 {
		t = -1 // rounding guard: y^(1-s) cannot be negative
	}
	return math.Exp(log1pOverX(t) * u)
}

func (z *zipf) next() uint64 {
	for {
		u := z.hxMax + z.rng.Float64()*(z.hx0-z.hxMax)
		y := z.bigHInv(u)
		kf := math.Floor(y - z.v + 0.5)
		var k uint64
		switch {
		case kf < 0:
			k = 0
		case kf >= float64(z.n):
			k = z.n - 1
		default:
			k = uint64(kf)
		}
		yk := z.v + float64(k)
		// Accept when u falls in the part of k's interval whose length is
		// exactly h(y_k); convexity of h makes that part lie inside it.
		if u >= z.bigH(yk+0.5)-z.h(yk) {
			return k
		}
	}
}

func expm1OverX(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Expm1(x) / x
	}
	return 1 + x*(0.5+x/6)
}

func log1pOverX(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Log1p(x) / x
	}
	return 1 - x*(0.5-x/3)
}
