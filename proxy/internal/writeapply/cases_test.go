package writeapply

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/respcache/respcache/internal/redistest"
)

// expandTimes replaces {s+N} and {ms+N} (N may be negative) with absolute
// unix seconds / milliseconds N from now, for EXPIREAT-style arguments.
func expandTimes(args []string) []string {
	out := make([]string, len(args))
	now := time.Now()
	for i, a := range args {
		switch {
		case strings.HasPrefix(a, "{s") && strings.HasSuffix(a, "}"):
			n, _ := strconv.ParseInt(a[2:len(a)-1], 10, 64)
			a = strconv.FormatInt(now.Unix()+n, 10)
		case strings.HasPrefix(a, "{ms") && strings.HasSuffix(a, "}"):
			n, _ := strconv.ParseInt(a[3:len(a)-1], 10, 64)
			a = strconv.FormatInt(now.UnixMilli()+n, 10)
		}
		out[i] = a
	}
	return out
}

func s(args ...string) []string { return args }

// diffCases are scripts run against the model and redis-server; every reply
// and every resulting state must match. They cover each error path and the
// check order when several errors apply.
var diffCases = []struct {
	name string
	cmds [][]string
}{
	{"arity", [][]string{
		s("SET", "k"), s("set"), s("SETNX", "k"), s("SETNX", "k", "v", "x"), s("SETEX", "k", "10"),
		s("PSETEX", "k", "10"), s("GETSET", "k"), s("MSET", "k"), s("MSET", "a", "1", "b"),
		s("MSETNX", "a", "1", "b"), s("INCR"), s("INCR", "a", "b"), s("DECR"), s("INCRBY", "k"),
		s("DECRBY", "k"), s("INCRBYFLOAT", "k"), s("APPEND", "k"), s("SETRANGE", "k", "1"),
		s("GETDEL"), s("GETEX"), s("DEL"), s("UNLINK"), s("EXPIRE", "k"), s("PEXPIRE", "k"),
		s("EXPIREAT", "k"), s("PEXPIREAT", "k"), s("PERSIST"), s("PERSIST", "a", "b"),
		s("HSET", "h", "f"), s("HSET", "h", "f", "v", "g"), s("HMSET", "h", "f"),
		s("HMSET", "h", "f", "v", "g"), s("HSETNX", "h", "f"), s("HDEL", "h"),
		s("HINCRBY", "h", "f"), s("HINCRBYFLOAT", "h", "f"), s("hIncrByFloat", "h", "f", "1", "2"),
	}},
	{"set options", [][]string{
		s("SET", "k", "v", "NX", "XX"), s("SET", "k", "v", "XX", "NX"), s("SET", "k", "v", "nx"),
		s("SET", "k", "w", "NX"), s("SET", "k", "w", "XX"), s("SET", "x", "w", "XX"),
		s("SET", "k", "v", "GET"), s("SET", "k", "v2", "GET", "NX"), s("SET", "k2", "v", "GET", "NX"),
		s("SET", "k3", "v", "GET", "XX"), s("SET", "k", "v", "EX"), s("SET", "k", "v", "EX", "10", "PX", "100"),
		s("SET", "k", "v", "EX", "10", "EX", "20"), s("SET", "k", "v", "KEEPTTL", "EX", "10"),
		s("SET", "k", "v", "EX", "10", "KEEPTTL"), s("SET", "k", "v", "PERSIST"), s("SET", "k", "v", "foo"),
		s("SET", "k", "v", "EX", "0"), s("SET", "k", "v", "EX", "-5"), s("SET", "k", "v", "EX", "abc"),
		s("SET", "k", "v", "EX", "1.5"), s("SET", "k", "v", "PX", "0"), s("SET", "k", "v", "EXAT", "0"),
		s("SET", "k", "v", "EX", "9223372036854775"), s("SET", "k", "v", "EX", "9223372036854776"),
		s("SET", "k", "v", "PX", "9223372036854775807"), s("SET", "k", "v", "EXAT", "9223372036854775"),
		s("SET", "k", "v", "PXAT", "9223372036854775807"), s("SET", "k", "v", "EX", "100"),
		s("SET", "k", "v2", "KEEPTTL"), s("SET", "k", "v3"), s("SET", "k", "v", "PX", "100000", "GET"),
		s("SET", "k", "v", "EXAT", "{s+1000}"), s("SET", "k", "v", "PXAT", "{ms+2000000}"),
		s("SET", "k", "v", "EXAT", "1"), s("SET", "k", "v", "PXAT", "{ms-1000}", "GET"),
		s("SET", "k", "v", "NX", "EX", "abc"), s("SET", "k", "v", "EX", "abc", "foo"),
		s("SET", "k", "v", "nx\x00junk"), s("SET", "k", "v", "ex", "100", "get", "xx"),
		s("HSET", "h", "f", "v"), s("SET", "h", "v", "GET"), s("SET", "h", "v", "GET", "EX", "0"),
		s("SET", "h", "v", "NX"), s("SET", "h", "v"),
		s("SET", "k", "v", "NX", "NX"), s("SET", "k", "v", "GET", "GET"), s("SET", "k", "v", "KEEPTTL", "KEEPTTL"),
		s("SET", "k", "v", "XX", "XX", "PX", "100000", "PX", "200000"), s("SET", "k", "v", "PXAT"),
		s("SET", "k", "v", "exat", "{s+100}", "pxat", "{ms+100000}"), s("SET", "k", "v", "KEEPTTL", "PERSIST"),
	}},
	{"setnx setex psetex getset", [][]string{
		s("SETNX", "k", "v"), s("SETNX", "k", "w"), s("SETEX", "k", "0", "v"), s("SETEX", "k", "-1", "v"),
		s("SETEX", "k", "x", "v"), s("SETEX", "k", "100", "v"), s("PSETEX", "k", "100000", "v"),
		s("PSETEX", "k", "0", "v"), s("PSETEX", "k", "9223372036854775807", "v"),
		s("SETEX", "k", "9223372036854775", "v"), s("GETSET", "k", "new"), s("GETSET", "n", "new"),
		s("HSET", "h", "f", "v"), s("GETSET", "h", "x"), s("SETNX", "h", "x"), s("SETEX", "h", "10", "x"),
	}},
	{"mset", [][]string{
		s("MSET", "a", "1", "b", "2"), s("EXPIRE", "a", "100"), s("MSET", "a", "3", "a", "4"),
		s("MSETNX", "a", "1", "c", "2"), s("MSETNX", "c", "1", "d", "2"), s("MSETNX", "e", "1", "e", "2"),
		s("HSET", "h", "f", "v"), s("MSET", "h", "s"), s("DEL", "a", "a", "b", "zz"), s("UNLINK", "c", "d", "e"),
	}},
	{"incr", [][]string{
		s("INCR", "n"), s("INCRBY", "n", "9223372036854775806"), s("INCR", "n"), s("DECRBY", "n", "-1"),
		s("SET", "n", "-9223372036854775808"), s("DECR", "n"), s("INCRBY", "n", "-1"), s("DECRBY", "n", "1"),
		s("DECRBY", "n", "-9223372036854775808"), s("DECRBY", "x", "-9223372036854775808"),
		s("INCRBY", "n", "9223372036854775808"), s("INCRBY", "n", "abc"), s("INCRBY", "n", " 1"),
		s("INCRBY", "n", "+1"), s("INCRBY", "n", "-0"), s("INCRBY", "n", "01"),
		s("SET", "s", "abc"), s("INCR", "s"), s("SET", "s", "-0"), s("INCR", "s"), s("SET", "s", " 1"),
		s("INCR", "s"), s("SET", "s", "0x10"), s("INCR", "s"), s("SET", "s", ""), s("INCR", "s"),
		s("SET", "s", "9223372036854775807"), s("INCR", "s"), s("INCRBY", "s", "0"),
		s("SET", "t", "5"), s("PEXPIRE", "t", "100000"), s("INCR", "t"), s("DECRBY", "t", "10"),
		s("HSET", "h", "f", "1"), s("INCR", "h"), s("INCRBY", "h", "x"), s("DECR", "h"),
	}},
	{"incrbyfloat", [][]string{
		s("SET", "x", "0.2"), s("INCRBYFLOAT", "x", "0.1"), s("INCRBYFLOAT", "x", "1e308"),
		s("INCRBYFLOAT", "y", "1e4000"), s("INCRBYFLOAT", "y", "1.18e4932"), s("INCRBYFLOAT", "y2", "1.18e4932"),
		s("INCRBYFLOAT", "y2", "1e4932"), s("INCRBYFLOAT", "z", "1e-4950"), s("INCRBYFLOAT", "z", "1e-5000"),
		s("INCRBYFLOAT", "z", "0e-5000"), s("INCRBYFLOAT", "z", "1e5000"), s("INCRBYFLOAT", "z", " 1"),
		s("INCRBYFLOAT", "z", "1 "), s("INCRBYFLOAT", "z", ""), s("INCRBYFLOAT", "z", "-0"),
		s("INCRBYFLOAT", "z", ".5"), s("INCRBYFLOAT", "z", "5."), s("INCRBYFLOAT", "z", "."),
		s("INCRBYFLOAT", "z", "0x10"), s("INCRBYFLOAT", "z", "0x1p-3"), s("INCRBYFLOAT", "z", "0x.8P+1"),
		s("INCRBYFLOAT", "z", "0x"), s("INCRBYFLOAT", "z", "0x1p"), s("INCRBYFLOAT", "z", "1e"),
		s("INCRBYFLOAT", "z", "1e+2"), s("INCRBYFLOAT", "z", "inf"), s("INCRBYFLOAT", "z", "-Infinity"),
		s("INCRBYFLOAT", "z", "nan"), s("INCRBYFLOAT", "z", "infin"), s("INCRBYFLOAT", "z", "1\x002"),
		s("INCRBYFLOAT", "z", "+3.25"), s("INCRBYFLOAT", "z", "-1000000.123456789"),
		s("INCRBYFLOAT", "w", "0.1"), s("INCRBYFLOAT", "w", "0.1"), s("INCRBYFLOAT", "w", "0.1"),
		s("INCRBYFLOAT", "w", "-0.3"), s("INCRBYFLOAT", "w", "1.0000000000000000001"),
		s("INCRBYFLOAT", "w", "123456789012345678901234567890"), s("INCRBYFLOAT", "w", "3.0e-18"),
		s("INCRBYFLOAT", "v", "0.000003814697265625"), s("INCRBYFLOAT", "v", "0.000003814697265625"),
		s("INCRBYFLOAT", "u", "0.00000000000000001"), s("INCRBYFLOAT", "u", "-0.000000000000000015"),
		s("INCRBYFLOAT", "u", "-1e-30"), s("SET", "s", "abc"), s("INCRBYFLOAT", "s", "1"),
		s("SET", "s", "inf"), s("INCRBYFLOAT", "s", "1"), s("SET", "s", "10"), s("INCRBYFLOAT", "s", "abc"),
		s("EXPIRE", "s", "100"), s("INCRBYFLOAT", "s", "2.5"), s("SET", "s", "1e308"), s("INCRBYFLOAT", "s", "1e308"),
		s("HSET", "h", "f", "1"), s("INCRBYFLOAT", "h", "abc"), s("INCRBYFLOAT", "h", "1"),
	}},
	{"strtold rounding", [][]string{
		s("INCRBYFLOAT", "a", "18446744073709551617"), s("INCRBYFLOAT", "b", "18446744073709551615"),
		s("INCRBYFLOAT", "c", "36893488147419103233"), s("INCRBYFLOAT", "d", "36893488147419103235"),
		s("INCRBYFLOAT", "e", "0x1.00000000000000008p64"), s("INCRBYFLOAT", "f", "0x1.00000000000000018p64"),
		s("INCRBYFLOAT", "g", "0x1.000000000000000080000000000001p64"), s("INCRBYFLOAT", "h", "0x1p-16445"),
		s("INCRBYFLOAT", "i", "0x1p-16446"), s("INCRBYFLOAT", "j", "0x1.8p-16446"), s("INCRBYFLOAT", "k", "0x1p-16382"),
		s("INCRBYFLOAT", "l", "0x1.fffffffffffffffep16383"), s("INCRBYFLOAT", "m", "0x1.ffffffffffffffffp16383"),
		s("INCRBYFLOAT", "n", "0x1.fffffffffffffffe7p16383"), s("INCRBYFLOAT", "l", "-0x1p16319"),
		s("INCRBYFLOAT", "l", "0x1p16320"), s("INCRBYFLOAT", "o", "1.18973149535723176502e4932"),
		s("INCRBYFLOAT", "p", "1.18973149535723176508e4932"), s("INCRBYFLOAT", "q", "3.64519953188247460253e-4951"),
		s("INCRBYFLOAT", "q", "-3.64519953188247460253e-4951"), s("INCRBYFLOAT", "r", "1.82259976594123730126e-4951"),
		s("INCRBYFLOAT", "r2", "1.8225997659412373012e-4951"), s("INCRBYFLOAT", "s", "9007199254740993"),
		s("INCRBYFLOAT", "s", "0.5"), s("INCRBYFLOAT", "t", "0.99999999999999999995"),
		s("INCRBYFLOAT", "u", "0.999999999999999999995"), s("INCRBYFLOAT", "v", "-0.000000000000000005"),
		s("INCRBYFLOAT", "w", "0.000000000000000015"), s("INCRBYFLOAT", "x", "0.000000000000000025"),
		s("SET", "y", "0.1"), s("INCRBYFLOAT", "y", "0.2"), s("INCRBYFLOAT", "y", "-0.3"),
		s("SET", "z", "1e18"), s("INCRBYFLOAT", "z", "1"), s("INCRBYFLOAT", "z", "0.5"),
		s("SET", "z2", "1e19"), s("INCRBYFLOAT", "z2", "1"), s("INCRBYFLOAT", "z2", "0.5"),
		s("SET", "z3", "123456789.123456789123456789"), s("INCRBYFLOAT", "z3", "0"),
		s("INCRBYFLOAT", "z4", "0x.000000000000000000000000000000000000000000000000001p-16300"),
		s("INCRBYFLOAT", "z5", "0000000000000000000000000000000000001.5"), s("INCRBYFLOAT", "z6", "1."+strings.Repeat("0", 5000)+"1"),
		s("INCRBYFLOAT", "z7", "1."+strings.Repeat("0", 5200)),
	}},
	{"append setrange", [][]string{
		s("APPEND", "a", ""), s("APPEND", "a", "x"), s("APPEND", "b", "hello"), s("APPEND", "b", " world"),
		s("EXPIRE", "b", "100"), s("APPEND", "b", "!"), s("SET", "n", "12"), s("APPEND", "n", "3"),
		s("SETRANGE", "r", "0", ""), s("SETRANGE", "r", "5", ""), s("SETRANGE", "r", "3", "abc"),
		s("SETRANGE", "r", "1", "Z"), s("SETRANGE", "r", "10", "end"), s("SETRANGE", "r", "2", ""),
		s("SETRANGE", "r", "-1", "x"), s("SETRANGE", "r", "abc", "x"), s("SETRANGE", "r", "536870912", "x"),
		s("SETRANGE", "r", "536870911", "xy"), s("SETRANGE", "r", "9223372036854775807", "x"),
		s("SETRANGE", "q", "536870912", "x"), s("SETRANGE", "q", "536870912", ""),
		s("HSET", "h", "f", "v"), s("APPEND", "h", "x"), s("SETRANGE", "h", "0", "x"), s("SETRANGE", "h", "0", ""),
		s("SETRANGE", "h", "-1", "x"),
	}},
	{"getdel getex", [][]string{
		s("GETDEL", "k"), s("SET", "k", "v"), s("GETDEL", "k"), s("GETEX", "k"), s("GETEX", "k", "EX", "-1"),
		s("GETEX", "k", "foo"), s("SET", "k", "v"), s("GETEX", "k"), s("GETEX", "k", "EX", "100"),
		s("GETEX", "k", "PERSIST"), s("GETEX", "k", "PX", "200000"), s("GETEX", "k", "PERSIST", "EX", "10"),
		s("GETEX", "k", "EX", "10", "PERSIST"), s("GETEX", "k", "EX", "10", "PX", "10"), s("GETEX", "k", "EX"),
		s("GETEX", "k", "NX"), s("GETEX", "k", "KEEPTTL"), s("GETEX", "k", "GET"), s("GETEX", "k", "EX", "0"),
		s("GETEX", "k", "EX", "abc"), s("GETEX", "k", "EX", "9223372036854775"), s("GETEX", "k", "EXAT", "{s+1000}"),
		s("GETEX", "k", "PXAT", "{ms+3000000}"), s("GETEX", "k", "PERSIST"), s("GETEX", "k", "PERSIST"),
		s("GETEX", "k", "EXAT", "1"), s("SET", "k", "v"), s("GETEX", "k", "PXAT", "{ms-1}"),
		s("SET", "k", "v"), s("GETEX", "k", "EXAT", "0"), s("GETEX", "k", "EX", "10", "EX", "20"),
		s("HSET", "h", "f", "v"), s("GETDEL", "h"), s("GETEX", "h"), s("GETEX", "h", "EX", "abc"), s("GETEX", "h", "bad"),
	}},
	{"expire", [][]string{
		s("EXPIRE", "k", "100"), s("SET", "k", "v"), s("EXPIRE", "k", "100", "foo"), s("EXPIRE", "k", "abc", "foo"),
		s("EXPIRE", "k", "abc", "NX", "XX"), s("EXPIRE", "k", "100", "NX", "GT"), s("EXPIRE", "k", "100", "GT", "LT"),
		s("EXPIRE", "k", "100", "nx", "nx"), s("EXPIRE", "k", "abc"), s("EXPIRE", "k", "1.5"),
		// Relative times compared by GT/LT differ by far more than the
		// milliseconds between the model's clock and Redis's.
		s("EXPIRE", "k", "90", "XX"), s("EXPIRE", "k", "100", "GT"), s("EXPIRE", "k", "50", "GT"), s("EXPIRE", "k", "200", "LT"),
		s("EXPIRE", "k", "-100", "LT"), s("SET", "k", "v"), s("EXPIRE", "k", "100", "NX"),
		s("EXPIRE", "k", "200", "NX"), s("EXPIRE", "k", "300", "XX"), s("EXPIRE", "k", "100", "GT"),
		s("EXPIRE", "k", "1000", "GT"), s("EXPIRE", "k", "5000", "LT"), s("EXPIRE", "k", "500", "LT"),
		s("PEXPIRE", "k", "600000", "XX", "GT"), s("PERSIST", "k"), s("PERSIST", "k"), s("PERSIST", "none"),
		s("EXPIRE", "k", "9223372036854775"), s("EXPIRE", "k", "9223372036854776"), s("EXPIRE", "k", "-9223372036854775"),
		s("SET", "k", "v"), s("EXPIRE", "k", "-9223372036854776"), s("PEXPIRE", "k", "9223372036854775807"),
		s("PEXPIRE", "k", "-9223372036854775808"), s("SET", "k", "v"), s("EXPIRE", "k", "0"),
		s("SET", "k", "v"), s("PEXPIRE", "k", "-1"), s("SET", "k", "v"), s("EXPIREAT", "k", "{s+1000}"),
		s("PEXPIREAT", "k", "{ms+2000000}", "GT"), s("EXPIREAT", "k", "{s+500}", "GT"), s("EXPIREAT", "k", "9223372036854775"),
		s("EXPIREAT", "k", "9223372036854776"), s("PEXPIREAT", "k", "9223372036854775807"), s("PEXPIREAT", "k", "{ms-5}", "XX"),
		s("SET", "k", "v"), s("EXPIREAT", "k", "1"), s("HSET", "h", "f", "v"), s("EXPIRE", "h", "100"),
		s("PERSIST", "h"), s("EXPIRE", "k", "1", "bad\r\nopt"), s("EXPIRE", "h", "1", "b\x00ad"), s("EXPIRE", "h", "100", "gt\x00x"),
		s("EXPIRE", "h", "100", "LT", "lt"), s("GETEX", "h2", "PERSIST", "PERSIST"), s("SET", "g", "v", "EX", "100"),
		s("GETEX", "g", "PERSIST", "PERSIST"), s("GETEX", "g", "persist", "px", "5"), s("PEXPIREAT", "h", "0", "gt"), s("PEXPIREAT", "h", "0", "lt"),
	}},
	{"hash", [][]string{
		s("HSET", "h", "a", "1", "b", "2", "c", "3"), s("HSET", "h", "b", "20", "d", "4", "a", "10"),
		s("HMSET", "h", "e", "5", "a", "x"), s("HSETNX", "h", "a", "y"), s("HSETNX", "h", "z", "26"),
		s("HDEL", "h", "b", "nope", "b"), s("HDEL", "nokey", "a"), s("HINCRBY", "h", "d", "10"),
		s("HINCRBY", "h", "new", "-5"), s("HINCRBY", "h", "a", "1"), s("HINCRBY", "h", "d", "abc"),
		s("HINCRBY", "h", "d", "9223372036854775807"), s("HINCRBY", "h", "d", "-9223372036854775808"),
		s("HSET", "h", "m", "9223372036854775807"), s("HINCRBY", "h", "m", "1"),
		s("HINCRBYFLOAT", "h", "d", "0.5"), s("HINCRBYFLOAT", "h", "a", "1"), s("HINCRBYFLOAT", "h", "f", "abc"),
		s("HINCRBYFLOAT", "h", "f", "inf"), s("HINCRBYFLOAT", "h", "f", "-inf"), s("HINCRBYFLOAT", "h", "f", "nan"),
		s("HINCRBYFLOAT", "h", "f", "1e4932"), s("HINCRBYFLOAT", "h", "f", "1e4932"), s("HINCRBYFLOAT", "h", "g", "0x10"),
		s("HSET", "h", "i", "inf"), s("HINCRBYFLOAT", "h", "i", "1"), s("HINCRBY", "h", "i", "1"),
		s("EXPIRE", "h", "100"), s("HSET", "h", "q", "1"), s("HINCRBY", "h", "q", "1"),
		s("HDEL", "h", "a", "c", "d", "e", "z", "new", "m", "f", "g", "i", "q"), s("EXISTS", "h"),
		s("HINCRBYFLOAT", "h2", "f", "1.5"), s("HDEL", "h2", "f", "f"), s("HSETNX", "h3", "f", "v"),
		s("SET", "s", "v"), s("HSET", "s", "f", "v"), s("HMSET", "s", "f", "v"), s("HSETNX", "s", "f", "v"),
		s("HDEL", "s", "f"), s("HINCRBY", "s", "f", "1"), s("HINCRBY", "s", "f", "x"),
		s("HINCRBYFLOAT", "s", "f", "1"), s("HINCRBYFLOAT", "s", "f", "x"), s("HINCRBYFLOAT", "s", "f", "inf"),
		s("HSET", "long", "f", strings.Repeat("v", 65)), s("HSET", "long", "g", "1"),
		s("HSETNX", "h4", "a", "1"), s("HSETNX", "h4", "a", strings.Repeat("v", 65)), s("HSET", "h4", "b", "2"),
	}},
}

func TestDiffCases(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range diffCases {
		t.Run(tc.name, func(t *testing.T) {
			protos(t, func(t *testing.T, proto int) {
				h := newHarness(t, srv, proto)
				for _, c := range tc.cmds {
					if _, err := Keys(bytesArgs(c)); err != nil {
						// Not modeled (EXISTS): run it on Redis only; it
						// must not change anything the model holds.
						h.cmd.Do(c...)
						continue
					}
					h.do(expandTimes(c)...)
				}
			})
		})
	}
}

// TestDiffBigHash crosses the listpack limits: order must match while the
// hash is a listpack, and Unordered must be set once Redis converts it.
func TestDiffBigHash(t *testing.T) {
	srv := redistest.Start(t)
	protos(t, func(t *testing.T, proto int) {
		h := newHarness(t, srv, proto)
		for i := 0; i < 130; i++ {
			h.do("HSET", "big", "f"+strconv.Itoa(i), strconv.Itoa(i))
			if i == 127 && h.model["big"].Unordered {
				t.Fatalf("128 fields: Unordered set, Redis still holds a listpack")
			}
		}
		if !h.model["big"].Unordered {
			t.Fatalf("130 fields: Unordered not set")
		}
		h.do("HDEL", "big", "f1", "f2")
		h.do("HINCRBY", "big", "f3", "7")
	})
}

func bytesArgs(args []string) [][]byte {
	b := make([][]byte, len(args))
	for i, a := range args {
		b[i] = []byte(a)
	}
	return b
}
