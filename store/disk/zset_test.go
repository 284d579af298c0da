package disk

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/respcache/respcache/internal/redistest"
)

// TestZSetStrtodGolden checks cStrtod against glibc's strtod on the inputs of
// testdata/zset_strtod_glibc.tsv: edge cases plus random strings over the
// float alphabet, each with glibc's result bits (1 for NaN), bytes consumed
// and whether Redis would reject the ERANGE result. The file was produced by
// a 10-line C program calling strtod (glibc 2.36) on each line.
func TestZSetStrtodGolden(t *testing.T) {
	f, err := os.Open("testdata/zset_strtod_glibc.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		in, want, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("bad golden line %q", sc.Text())
		}
		s, err := strconv.Unquote(`"` + in + `"`)
		if err != nil {
			t.Fatalf("golden input %q: %v", in, err)
		}
		v, consumed, erange := cStrtod([]byte(s))
		bits := math.Float64bits(v)
		if math.IsNaN(v) {
			bits = 1
		}
		got := fmt.Sprintf("%x %d %d", bits, consumed, b2i(erange))
		if got != want {
			t.Errorf("cStrtod(%q) = %s, glibc %s", s, got, want)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 1000 {
		t.Fatalf("only %d golden lines", n)
	}
}

func TestZSetParseScore(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		ok   bool
	}{
		{"1", 1, true},
		{"-1.5", -1.5, true},
		{"inf", math.Inf(1), true},
		{"-Infinity", math.Inf(-1), true},
		{"0x10", 16, true},
		{"1e-310", 1e-310, true},
		{"0e-400", 0, true},
		{"", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"nan", 0, false},
		{"1e400", 0, false},
		{"1e-400", 0, false},
		{"1_000", 0, false},
		{"1\x00", 0, false},
	} {
		got, ok := parseScore([]byte(tc.in))
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseScore(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestZSetParseScoreBound(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   float64
		ex, ok bool
	}{
		{"1", 1, false, true},
		{"(1", 1, true, true},
		{"(", 0, true, true},
		{"", 0, false, true},
		{" 2", 2, false, true},
		{"1e400", math.Inf(1), false, true},
		{"(-inf", math.Inf(-1), true, true},
		{"1\x00junk", 1, false, true},
		{"[1", 0, false, false},
		{"1 ", 0, false, false},
		{"nan", 0, false, false},
		{"(nan", 0, false, false},
		{"a", 0, false, false},
	} {
		got, ex, ok := parseScoreBound([]byte(tc.in))
		if ok != tc.ok || (ok && (got != tc.want || ex != tc.ex)) {
			t.Errorf("parseScoreBound(%q) = %v, %v, %v; want %v, %v, %v", tc.in, got, ex, ok, tc.want, tc.ex, tc.ok)
		}
	}
}

func TestZSetParseLexBound(t *testing.T) {
	for _, tc := range []struct {
		in   string
		kind lexKind
		val  string
		ex   bool
		ok   bool
	}{
		{"-", lexMin, "", true, true},
		{"+", lexMax, "", true, true},
		{"+\x00x", lexMax, "", true, true},
		{"[a", lexValue, "a", false, true},
		{"(a", lexValue, "a", true, true},
		{"[", lexValue, "", false, true},
		{"", 0, "", false, false},
		{"a", 0, "", false, false},
		{"+a", 0, "", false, false},
		{"--", 0, "", false, false},
	} {
		b, ok := parseLexBound([]byte(tc.in))
		if ok != tc.ok || (ok && (b.kind != tc.kind || string(b.val) != tc.val || b.ex != tc.ex)) {
			t.Errorf("parseLexBound(%q) = %+v, %v", tc.in, b, ok)
		}
	}
}

func TestCollParseScanCursor(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"", 0, true},
		{"007", 7, true},
		{"+1", 1, true},
		{"-1", math.MaxUint64, true},
		{"18446744073709551615", math.MaxUint64, true},
		{"18446744073709551616", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"-", 0, false},
		{"abc", 0, false},
		{"5\x00x", 5, true},
	} {
		got, ok := parseCursor([]byte(tc.in))
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseCursor(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzZSetStrtod checks the strtod emulation's invariants on any input: it
// never consumes more than it was given, a plain decimal it accepts whole
// agrees with strconv, and parseScore/parseScoreBound never panic.
func FuzzZSetStrtod(f *testing.F) {
	for _, s := range []string{"1", "-1.5e3", "0x1p-2", "inf", "nan(abc)", " 7", "(3", "1e400", ".", "0x", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, n, _ := cStrtod(b)
		if n < 0 || n > len(b) {
			t.Fatalf("cStrtod(%q) consumed %d of %d", b, n, len(b))
		}
		if n == 0 && v != 0 {
			t.Fatalf("cStrtod(%q) = %v without consuming", b, v)
		}
		plain := len(b) > 0
		for _, c := range b {
			if !(c >= '0' && c <= '9' || c == '.' || c == 'e' || c == '-') {
				plain = false
			}
		}
		if f, ok := parseScore(b); ok && plain {
			if g, err := strconv.ParseFloat(string(b), 64); err == nil && g != f {
				t.Fatalf("parseScore(%q) = %v, strconv %v", b, f, g)
			}
		}
		_, _, _ = parseScoreBound(b)
		_, _ = parseLexBound(b)
		_, _ = parseCursor(b)
	})
}

// BenchmarkZAddRangeByScore answers "how many ZADD+ZRANGEBYSCORE (10
// members) pairs per second" on a zset growing from 10k members (Fsync
// "no").
func BenchmarkZAddRangeByScore(b *testing.B) {
	s := newTestStore(b)
	c := s.NewConn()
	key := []byte("z")
	var buf []byte
	for i := 0; i < 10_000; i += 100 {
		args := [][]byte{[]byte("ZADD"), key}
		for j := i; j < i+100; j++ {
			args = append(args, []byte(strconv.Itoa(j)), []byte("m"+strconv.Itoa(j)))
		}
		buf = collBenchDo(b, c, buf, args...)
	}
	zadd, zr := []byte("ZADD"), []byte("ZRANGEBYSCORE")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lo := i % 10_000
		buf = collBenchDo(b, c, buf, zadd, key, []byte(strconv.Itoa(lo)+".5"), []byte("n"+strconv.Itoa(i)))
		buf = collBenchDo(b, c, buf, zr, key, []byte(strconv.Itoa(lo)), []byte("("+strconv.Itoa(lo+5)))
	}
	collReportOps(b)
}

// TestCollectionsReplaceExpired checks that a collection written over an
// expired key of the same name starts empty: none of the old elements (or
// zset index entries) show through, whether or not active expiry has
// removed the old records yet.
func TestCollectionsReplaceExpired(t *testing.T) {
	s := newTestStore(t)
	c := s.NewConn()
	for _, tc := range []struct {
		fill, expire, write, read, want string
	}{
		{"RPUSH k a b c", "PEXPIRE k 1", "RPUSH k x", "LRANGE k 0 -1", "*1\r\n$1\r\nx\r\n"},
		{"SADD k a b c", "PEXPIRE k 1", "SADD k x", "SMEMBERS k", "*1\r\n$1\r\nx\r\n"},
		{"ZADD k 1 a 2 b", "PEXPIRE k 1", "ZADD k 5 x", "ZRANGE k 0 -1 WITHSCORES", "*2\r\n$1\r\nx\r\n$1\r\n5\r\n"},
		{"ZADD k 1 a 2 b", "PEXPIREAT k 1", "ZINCRBY k 1 a", "ZRANGE k 0 -1 WITHSCORES", "*2\r\n$1\r\na\r\n$1\r\n1\r\n"},
	} {
		t.Run(tc.fill, func(t *testing.T) {
			do(t, c, "DEL", "k")
			do(t, c, strings.Fields(tc.fill)...)
			do(t, c, strings.Fields(tc.expire)...)
			redistest.Eventually(t, 5*time.Second, func() bool {
				return do(t, c, "EXISTS", "k") == ":0\r\n"
			}, "expiry of k")
			do(t, c, strings.Fields(tc.write)...)
			if got := do(t, c, strings.Fields(tc.read)...); got != tc.want {
				t.Fatalf("%s after expiry: %q, want %q", tc.read, got, tc.want)
			}
			if got := do(t, c, "TTL", "k"); got != ":-1\r\n" {
				t.Fatalf("TTL of the new key: %q", got)
			}
			checkCollInvariants(t, s, []string{"k"})
		})
	}
}

// BenchmarkZSetQueue is a delay queue: ZADD at increasing scores, ZPOPMIN
// at the bottom, about 1000 members queued. The watermarks keep each pop
// from stepping over the tombstones of the earlier ones.
func BenchmarkZSetQueue(b *testing.B) {
	s := newTestStore(b)
	c := s.NewConn()
	key := []byte("q")
	var buf []byte
	for i := 0; i < 1000; i++ {
		buf = collBenchDo(b, c, buf, []byte("ZADD"), key, []byte(strconv.Itoa(i)), []byte("job"+strconv.Itoa(i)))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = collBenchDo(b, c, buf, []byte("ZADD"), key, []byte(strconv.Itoa(1000+i)), []byte("job"+strconv.Itoa(1000+i)))
		buf = collBenchDo(b, c, buf, []byte("ZPOPMIN"), key)
	}
	collReportOps(b)
}
