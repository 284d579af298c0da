package disk

import (
	"bytes"
	"math"
	"sort"
	"testing"
)

func TestMetaRoundTrip(t *testing.T) {
	for _, m := range []meta{
		{typ: typeString, payload: []byte("hello")},
		{typ: typeHash, expire: 1700000000000, gen: 42, count: 7},
		{typ: typeList, gen: 1, count: 3, payload: appendListPayload(nil, -1, 2)},
		{typ: typeZSet, gen: math.MaxUint64 - 1, count: math.MaxInt64},
	} {
		got, err := decodeMeta(appendMeta(nil, &m))
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		if got.typ != m.typ || got.expire != m.expire || got.gen != m.gen || got.count != m.count || !bytes.Equal(got.payload, m.payload) {
			t.Fatalf("round trip: got %+v, want %+v", got, m)
		}
	}
	for _, bad := range [][]byte{nil, {1}, make([]byte, metaHeaderLen), append([]byte{2, 1}, make([]byte, 24)...)} {
		if _, err := decodeMeta(bad); err == nil {
			t.Errorf("decodeMeta(%q) accepted", bad)
		}
	}
}

func TestSortableFloatOrder(t *testing.T) {
	vals := []float64{math.Inf(-1), -math.MaxFloat64, -1e10, -1, -math.SmallestNonzeroFloat64, 0, math.SmallestNonzeroFloat64, 0.5, 1, 1e300, math.Inf(1)}
	var enc [][]byte
	for _, v := range vals {
		k := appendScoreKey(nil, 7, v, []byte("m"))
		enc = append(enc, k)
		g, s, m, ok := decodeScoreKey(k)
		if !ok || g != 7 || s != v || string(m) != "m" {
			t.Fatalf("score key of %v decodes to %v %v %q %v", v, g, s, m, ok)
		}
	}
	if !sort.SliceIsSorted(enc, func(i, j int) bool { return bytes.Compare(enc[i], enc[j]) < 0 }) {
		t.Fatal("score keys do not sort in numeric order")
	}
	if sortableFloat(math.Copysign(0, -1)) != sortableFloat(0) {
		t.Fatal("-0 and +0 encode differently")
	}
}

func TestListIndexOrder(t *testing.T) {
	idx := []int64{math.MinInt64, -5, -1, 0, 1, 1 << 40, math.MaxInt64}
	var prev []byte
	for _, i := range idx {
		b := appendListIndex(nil, i)
		if got, ok := decodeListIndex(b); !ok || got != i {
			t.Fatalf("list index %d decodes to %d %v", i, got, ok)
		}
		if prev != nil && bytes.Compare(prev, b) >= 0 {
			t.Fatalf("list index %d does not sort after its predecessor", i)
		}
		prev = b
	}
	if h, tl, ok := decodeListPayload(appendListPayload(nil, -3, 4)); !ok || h != -3 || tl != 4 {
		t.Fatal("list payload round trip")
	}
}

func TestKeyBuilders(t *testing.T) {
	k := appendMetaKey(nil, 3, []byte("user:1"))
	db, h, key, ok := decodeMetaKey(k)
	if !ok || db != 3 || h != keyHash([]byte("user:1")) || string(key) != "user:1" {
		t.Fatal("meta key round trip")
	}
	lo, hi := metaDBBounds(3)
	if bytes.Compare(k, lo) < 0 || bytes.Compare(k, hi) >= 0 {
		t.Fatal("meta key outside its db bounds")
	}
	x := appendExpireKey(nil, 12345, 2, []byte("k"))
	if at, db, key, ok := decodeExpireKey(x); !ok || at != 12345 || db != 2 || string(key) != "k" {
		t.Fatal("expire key round trip")
	}
	e := appendElemKey(nil, 9, []byte("f"))
	if g, m, ok := decodeElemKey(e); !ok || g != 9 || string(m) != "f" {
		t.Fatal("elem key round trip")
	}
	lo, hi = elemBounds(9)
	if bytes.Compare(e, lo) < 0 || bytes.Compare(e, hi) >= 0 {
		t.Fatal("elem key outside its generation bounds")
	}
	lo, hi = scoreBounds(9)
	if z := appendScoreKey(nil, 9, math.Inf(1), []byte("zz")); bytes.Compare(z, lo) < 0 || bytes.Compare(z, hi) >= 0 {
		t.Fatal("score key outside its generation bounds")
	}
}

func TestParseNumbers(t *testing.T) {
	ints := map[string]bool{"0": true, "-1": true, "9223372036854775807": true, "-9223372036854775808": true,
		"": false, "-": false, "-0": false, "01": false, "+1": false, " 1": false, "1 ": false, "9223372036854775808": false, "1.0": false}
	for s, want := range ints {
		if _, ok := parseInt([]byte(s)); ok != want {
			t.Errorf("parseInt(%q) ok=%v, want %v", s, ok, want)
		}
	}
	floats := map[string]bool{"1.5": true, "-inf": true, "+inf": true, "Infinity": true, "1e308": true, "0x10p0": true,
		"nan": false, "": false, " 1": false, "1 ": false, "1e400": false, "1_0": false, "abc": false}
	for s, want := range floats {
		if _, ok := parseScore([]byte(s)); ok != want {
			t.Errorf("parseScore(%q) ok=%v, want %v", s, ok, want)
		}
	}
	cases := []struct{ a, b, want string }{
		{"10.5", "0.1", "10.6"}, {"0", "-0", "0"}, {"1e3", "0", "1000"}, {"5.0e3", "0", "5000"}, {"0.1", "0.2", "0.3"},
	}
	for _, c := range cases {
		x, _, ok1 := parseLongDouble([]byte(c.a))
		y, _, ok2 := parseLongDouble([]byte(c.b))
		got, ok := addLongDouble(x, y)
		if !ok1 || !ok2 || !ok || got != c.want {
			t.Errorf("%s + %s = %q, want %q", c.a, c.b, got, c.want)
		}
	}
}

func TestWriterProtocols(t *testing.T) {
	cases := []struct {
		fn     func(w *writer)
		r2, r3 string
	}{
		{func(w *writer) { w.null() }, "$-1\r\n", "_\r\n"},
		{func(w *writer) { w.nullArray() }, "*-1\r\n", "_\r\n"},
		{func(w *writer) { w.mapHeader(2) }, "*4\r\n", "%2\r\n"},
		{func(w *writer) { w.setHeader(2) }, "*2\r\n", "~2\r\n"},
		{func(w *writer) { w.double(1.5) }, "$3\r\n1.5\r\n", ",1.5\r\n"},
		{func(w *writer) { w.double(math.Inf(-1)) }, "$4\r\n-inf\r\n", ",-inf\r\n"},
		{func(w *writer) { w.double(0.1) }, "$19\r\n0.10000000000000001\r\n", ",0.10000000000000001\r\n"},
		{func(w *writer) { w.boolean(true) }, ":1\r\n", "#t\r\n"},
		{func(w *writer) { w.verbatim("ab") }, "$2\r\nab\r\n", "=6\r\ntxt:ab\r\n"},
		{func(w *writer) { w.err("ERR a\r\nb") }, "-ERR a  b\r\n", "-ERR a  b\r\n"},
	}
	for i, c := range cases {
		for _, p := range []int{2, 3} {
			w := writer{proto: p}
			c.fn(&w)
			want := c.r2
			if p == 3 {
				want = c.r3
			}
			if string(w.b) != want {
				t.Errorf("case %d RESP%d: got %q, want %q", i, p, w.b, want)
			}
		}
	}
}

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		p, s   string
		nocase bool
		want   bool
	}{
		{"*", "", false, false}, {"*", "x", false, true}, {"a*", "abc", false, true}, {"a?c", "abc", false, true}, {"a?c", "ac", false, false},
		{"[abc]", "b", false, true}, {"[^abc]", "b", false, false}, {"[a-c]x", "bx", false, true}, {"[c-a]", "b", false, true},
		{`a\*b`, "a*b", false, true}, {`a\*b`, "axb", false, false}, {"[a", "a", false, true}, {"[", "", false, false},
		{"A*", "abc", true, true}, {"A*", "abc", false, false}, {`[\]]`, "]", false, true}, {"*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false, false},
		{"a*", "b", false, false}, {"**", "x", false, true}, {"h[^e]llo", "hallo", false, true}, {"h[^e]llo", "hello", false, false},
	}
	for _, c := range cases {
		if got := globMatch([]byte(c.p), []byte(c.s), c.nocase); got != c.want {
			t.Errorf("globMatch(%q, %q, %v) = %v, want %v", c.p, c.s, c.nocase, got, c.want)
		}
	}
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add(appendMeta(nil, &meta{typ: typeString, payload: []byte("v")}))
	f.Add(appendMeta(nil, &meta{typ: typeZSet, gen: 3, count: 2, expire: 99}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMeta(b)
		if err != nil {
			return
		}
		if again := appendMeta(nil, &m); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding %q gives %q", b, again)
		}
	})
}

func FuzzDecodeKeys(f *testing.F) {
	f.Add(appendMetaKey(nil, 1, []byte("k")))
	f.Add(appendExpireKey(nil, 5, 1, []byte("k")))
	f.Add(appendElemKey(nil, 5, []byte("m")))
	f.Add(appendScoreKey(nil, 5, -2.5, []byte("m")))
	f.Add(appendListIndex(nil, -7))
	f.Add(appendListPayload(nil, -7, 9))
	f.Fuzz(func(t *testing.T, b []byte) {
		if db, _, key, ok := decodeMetaKey(b); ok && !bytes.Equal(appendMetaKey(nil, db, key), b) {
			t.Fatalf("meta key %q does not re-encode", b)
		}
		if at, db, key, ok := decodeExpireKey(b); ok && !bytes.Equal(appendExpireKey(nil, at, db, key), b) {
			t.Fatalf("expire key %q does not re-encode", b)
		}
		if g, m, ok := decodeElemKey(b); ok && !bytes.Equal(appendElemKey(nil, g, m), b) {
			t.Fatalf("elem key %q does not re-encode", b)
		}
		if g, s, m, ok := decodeScoreKey(b); ok && !math.IsNaN(s) && !bytes.Equal(appendScoreKey(nil, g, s, m), b) {
			// -0 and NaN payloads have no canonical encoding; skip them.
			if s != 0 {
				t.Fatalf("score key %q does not re-encode", b)
			}
		}
		if i, ok := decodeListIndex(b); ok && !bytes.Equal(appendListIndex(nil, i), b) {
			t.Fatalf("list index %q does not re-encode", b)
		}
		if h, tl, ok := decodeListPayload(b); ok && !bytes.Equal(appendListPayload(nil, h, tl), b) {
			t.Fatalf("list payload %q does not re-encode", b)
		}
	})
}

func FuzzFrameLen(f *testing.F) {
	f.Add([]byte("*2\r\n$1\r\na\r\n:1\r\n"))
	f.Add([]byte("%1\r\n+a\r\n~1\r\n_\r\n"))
	f.Add([]byte("|1\r\n+k\r\n+v\r\n+x\r\n"))
	f.Add(commandData[:200])
	f.Fuzz(func(t *testing.T, b []byte) {
		n, ok := frameLen(b, 0)
		if ok && (n <= 0 || n > len(b)) {
			t.Fatalf("frameLen(%q) = %d", b, n)
		}
		if ok {
			_, _ = aggregateElems(b[:n])
			_, _ = bulkValue(b[:n])
		}
	})
}

func FuzzGlob(f *testing.F) {
	f.Add("a*[b-d]?\\x", "abbbx", false)
	f.Fuzz(func(t *testing.T, p, s string, nocase bool) {
		if globMatch([]byte(p), []byte(s), nocase) && p == "" && s != "" {
			t.Fatal("empty pattern matched a non-empty string")
		}
		// Redis's matcher never matches the empty string (KEYS * special-cases it).
		if s != "" && !globMatch([]byte("*"), []byte(s), nocase) {
			t.Fatal("* did not match")
		}
	})
}

func FuzzParseLongDouble(f *testing.F) {
	f.Add([]byte("10.5"))
	f.Add([]byte("-inf"))
	f.Add([]byte("0x1p-3"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, inf, ok := parseLongDouble(b)
		if ok && !inf {
			s, ok := addLongDouble(v, newLongDouble())
			if ok {
				if _, _, ok2 := parseLongDouble([]byte(s)); !ok2 {
					t.Fatalf("formatted %q of %q does not parse", s, b)
				}
			}
		}
	})
}
