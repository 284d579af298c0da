package writeapply

import (
	"flag"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/respcache/respcache/internal/redistest"
)

var (
	randomN    = flag.Int("writeapply.n", 3000, "commands per protocol in TestDiffRandom")
	randomSeed = flag.Uint64("writeapply.seed", 1, "seed of TestDiffRandom and TestDiffFloats")
)

// gen draws random commands over a few keys with edge values. Relative
// expiries are either not positive (deterministic deletion or error) or at
// least 100s (no expiry while the test runs); GT/LT are only combined with
// absolute times far from now, so that the few milliseconds between the
// model's clock and Redis's cannot change an outcome.
type gen struct {
	r *rand.Rand
}

var (
	genKeys   = []string{"k1", "k2", "k3", "h1", "h2"}
	genFields = []string{"a", "b", "c", "d", "", strings.Repeat("F", 65)}
	genValues = []string{
		"", "-0", "0", "1", "-1", "10", "00", "+1", " 1", "1 ", "0x10", "1.5", "-2.25", "1e308", "-1e308",
		"1e4000", "1e-4950", "inf", "-inf", "nan", "9223372036854775807", "-9223372036854775808",
		"9223372036854775808", "0.1", "3.0", "abc", "a\r\nb", "\x00", strings.Repeat("v", 70),
		"123456789012345678", "0.30000000000000004", "1e-20", "5e-324", "0x1p-16400",
	}
	genIncrs = []string{
		"0", "1", "-1", "7", "-7", "100", "9223372036854775807", "-9223372036854775808", "9223372036854775806",
		"abc", "", " 1", "1.0", "-0", "+5",
	}
	genFloatIncrs = []string{
		"0.1", "-0.1", "1", "1e308", "-1e308", "1e4932", "1.5e-10", "0x10", "0x1.8p3", "inf", "-inf", "nan",
		"", "abc", "1e", "3.14159265358979323846", "-2.5", "1e-4950", "1e-5000", "100000000000000000000",
		"0.000003814697265625", "7e-18", "-0",
	}
	genTTLs = []string{
		"100", "1000", "5000", "0", "-1", "-100", "abc", "", "1.5", "9223372036854775", "9223372036854776",
		"9223372036854775807", "-9223372036854775808", "9223372036854",
	}
	genOffsets = []string{"0", "1", "3", "10", "64", "-1", "abc", "536870912", "9223372036854775807"}
)

func (g *gen) pick(xs []string) string { return xs[g.r.IntN(len(xs))] }

func (g *gen) key() string {
	return genKeys[g.r.IntN(len(genKeys))]
}

// absTime returns an absolute time argument in seconds or milliseconds:
// past, far future, or out of range.
func (g *gen) absTime(ms bool) string {
	now := time.Now()
	var n int64
	switch g.r.IntN(6) {
	case 0:
		n = 1
	case 1:
		n = 0
	case 2:
		n = -5
	case 3:
		n = now.Unix() - 100
	case 4:
		n = now.Unix() + 1000 + int64(g.r.IntN(100000))
	case 5:
		if ms {
			return "9223372036854775807"
		}
		return "9223372036854775"
	}
	if ms && n > 1 {
		n = n*1000 + int64(g.r.IntN(1000))
	}
	return strconv.FormatInt(n, 10)
}

func (g *gen) ttl(ms bool) string {
	t := g.pick(genTTLs)
	if ms {
		if n, err := strconv.ParseInt(t, 10, 64); err == nil && n > 0 && n < 100000 {
			t = strconv.FormatInt(n*1000, 10)
		}
	}
	return t
}

func (g *gen) setOptions(getex bool) []string {
	var out []string
	opts := []string{"NX", "XX", "GET", "KEEPTTL", "EX", "PX", "EXAT", "PXAT", "PERSIST", "bogus", "ex"}
	for n := g.r.IntN(4); n > 0; n-- {
		o := opts[g.r.IntN(len(opts))]
		if getex && g.r.IntN(3) > 0 {
			o = []string{"EX", "PX", "EXAT", "PXAT", "PERSIST"}[g.r.IntN(5)]
		}
		out = append(out, o)
		switch strings.ToUpper(o) {
		case "EX", "PX":
			if g.r.IntN(10) > 0 {
				out = append(out, g.ttl(strings.ToUpper(o) == "PX"))
			}
		case "EXAT", "PXAT":
			if g.r.IntN(10) > 0 {
				out = append(out, g.absTime(o == "PXAT"))
			}
		}
	}
	return out
}

func (g *gen) expireOptions(absolute bool) []string {
	var out []string
	opts := []string{"NX", "XX", "GT", "LT", "nx", "bad"}
	if !absolute {
		opts = []string{"NX", "XX", "nx", "bad"}
	}
	for n := g.r.IntN(3); n > 0; n-- {
		out = append(out, opts[g.r.IntN(len(opts))])
	}
	return out
}

func (g *gen) command() []string {
	k := g.key()
	v := g.pick(genValues)
	switch g.r.IntN(30) {
	case 0, 1:
		return append([]string{"SET", k, v}, g.setOptions(false)...)
	case 2:
		return []string{"SETNX", k, v}
	case 3:
		return []string{"SETEX", k, g.ttl(false), v}
	case 4:
		return []string{"PSETEX", k, g.ttl(true), v}
	case 5:
		return []string{"GETSET", k, v}
	case 6:
		args := []string{"MSET"}
		for n := 1 + g.r.IntN(3); n > 0; n-- {
			args = append(args, g.key(), g.pick(genValues))
		}
		return args
	case 7:
		args := []string{"MSETNX"}
		for n := 1 + g.r.IntN(2); n > 0; n-- {
			args = append(args, g.key(), g.pick(genValues))
		}
		return args
	case 8:
		return []string{[]string{"INCR", "DECR"}[g.r.IntN(2)], k}
	case 9:
		return []string{[]string{"INCRBY", "DECRBY"}[g.r.IntN(2)], k, g.pick(genIncrs)}
	case 10, 11:
		return []string{"INCRBYFLOAT", k, g.pick(genFloatIncrs)}
	case 12:
		return []string{"APPEND", k, v}
	case 13:
		return []string{"SETRANGE", k, g.pick(genOffsets), []string{"", "x", "hello"}[g.r.IntN(3)]}
	case 14:
		return []string{"GETDEL", k}
	case 15:
		return append([]string{"GETEX", k}, g.setOptions(true)...)
	case 16:
		args := []string{[]string{"DEL", "UNLINK"}[g.r.IntN(2)]}
		for n := 1 + g.r.IntN(3); n > 0; n-- {
			args = append(args, g.key())
		}
		return args
	case 17:
		return append([]string{"EXPIRE", k, g.ttl(false)}, g.expireOptions(false)...)
	case 18:
		return append([]string{"PEXPIRE", k, g.ttl(true)}, g.expireOptions(false)...)
	case 19:
		return append([]string{"EXPIREAT", k, g.absTime(false)}, g.expireOptions(true)...)
	case 20:
		return append([]string{"PEXPIREAT", k, g.absTime(true)}, g.expireOptions(true)...)
	case 21:
		return []string{"PERSIST", k}
	case 22, 23, 24:
		args := []string{[]string{"HSET", "HMSET"}[g.r.IntN(2)], k}
		for n := 1 + g.r.IntN(3); n > 0; n-- {
			args = append(args, g.pick(genFields), g.pick(genValues))
		}
		return args
	case 25:
		return []string{"HSETNX", k, g.pick(genFields), v}
	case 26:
		args := []string{"HDEL", k}
		for n := 1 + g.r.IntN(3); n > 0; n-- {
			args = append(args, g.pick(genFields))
		}
		return args
	case 27:
		return []string{"HINCRBY", k, g.pick(genFields), g.pick(genIncrs)}
	case 28:
		return []string{"HINCRBYFLOAT", k, g.pick(genFields), g.pick(genFloatIncrs)}
	default:
		// Odd arities and case-mangled names.
		args := []string{strings.ToLower(g.pick([]string{"SET", "HSET", "MSET", "GETEX", "EXPIRE", "HDEL", "INCR"})), k}
		for n := g.r.IntN(3); n > 0; n-- {
			args = append(args, v)
		}
		return args
	}
}

func TestDiffRandom(t *testing.T) {
	srv := redistest.Start(t)
	protos(t, func(t *testing.T, proto int) {
		h := newHarness(t, srv, proto)
		g := &gen{r: rand.New(rand.NewPCG(*randomSeed, uint64(proto)))}
		for i := 0; i < *randomN && !t.Failed(); i++ {
			h.do(g.command()...)
		}
		t.Logf("seed %d: %d commands, %d keys at the end, largest PTTL drift %dms", *randomSeed, h.n, len(h.model), h.drift)
	})
}

// TestDiffFloats hammers INCRBYFLOAT/HINCRBYFLOAT formatting and rounding
// with random decimal and hexadecimal values over the whole long double
// range, chained so that results feed the next addition.
func TestDiffFloats(t *testing.T) {
	srv := redistest.Start(t)
	h := newHarness(t, srv, RESP2)
	r := rand.New(rand.NewPCG(*randomSeed, 99))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		return string(b)
	}
	num := func() string {
		sign := []string{"", "-", "+"}[r.IntN(3)]
		switch r.IntN(6) {
		case 0: // plain decimal, up to 25 digits either side
			return sign + digits(1+r.IntN(25)) + "." + digits(r.IntN(25))
		case 1: // scientific over the whole range
			return sign + digits(1+r.IntN(20)) + "e" + strconv.Itoa(r.IntN(9900)-4960)
		case 2: // near the 17-digit rounding boundary
			return sign + "0." + strings.Repeat("0", r.IntN(17)) + digits(1+r.IntN(6)) + "5"
		case 3: // hex
			return sign + "0x" + strconv.FormatUint(r.Uint64(), 16) + "p" + strconv.Itoa(r.IntN(200)-100)
		case 4: // integers
			return sign + strconv.FormatInt(r.Int64N(1<<62), 10)
		default: // small dyadic values, exact ties at 17 fraction digits
			return sign + strconv.FormatFloat(float64(r.IntN(1<<20))/float64(uint64(1)<<(10+r.IntN(50))), 'f', -1, 64)
		}
	}
	n := *randomN / 2
	for i := 0; i < n && !t.Failed(); i++ {
		key := []string{"f1", "f2", "f3"}[r.IntN(3)]
		switch r.IntN(5) {
		case 0:
			h.do("SET", key, num())
		case 1:
			h.do("DEL", key)
		case 2:
			h.do("HINCRBYFLOAT", "hf", key, num())
		default:
			h.do("INCRBYFLOAT", key, num())
		}
	}
}
