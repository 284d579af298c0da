package disk

import (
	"math"
	"strconv"
	"testing"
)

// TestParseLongDouble: INCRBYFLOAT/HINCRBYFLOAT arguments follow strtold,
// which takes strtod's syntax (not Go's: no "1p5", "0b1", "0o17", "1_0")
// over a long double's range. testdata/diff/parsers.txt checks the same
// inputs against redis-server.
func TestParseLongDouble(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // formatLongDouble of the value; "inf" for infinite
		ok   bool
	}{
		{"1.5", "1.5", true},
		{"0x1p2", "4", true},
		{"0x1.8", "1.5", true},
		{"0X.8P1", "1", true},
		{"-0x1P-2", "-0.25", true},
		{".5", "0.5", true},
		{"5.", "5", true},
		{"+.5e1", "5", true},
		{"0e99999999999", "0", true},
		{"-0", "0", true},
		{"1e-400", "0", true}, // a long double, not zero: prints as 0
		{"inf", "inf", true},
		{"-Infinity", "inf", true},
		{"1p5", "", false},
		{"0b1", "", false},
		{"0o17", "", false},
		{"0x", "", false},
		{"0x1p", "", false},
		{"1e", "", false},
		{"e5", "", false},
		{"1_0", "", false},
		{"", "", false},
		{"-", "", false},
		{" 1", "", false},
		{"1 ", "", false},
		{"1\x00", "", false},
		{"nan", "", false},
		{"nan(1)", "", false},
		{"infx", "", false},
		{"1e5000", "", false},
		{"1e-5000", "", false},
		{"1e-99999999999", "", false},
	} {
		v, inf, ok := parseLongDouble([]byte(tc.in))
		got := ""
		switch {
		case ok && inf:
			got = "inf"
		case ok:
			got = formatLongDouble(v)
		}
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseLongDouble(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	if _, _, ok := parseLongDouble([]byte("1e400")); !ok {
		t.Error("parseLongDouble(1e400) refused: within a long double's range")
	}
}

// FuzzParseLongDoubleVsStrtod: on any input parseLongDouble does not panic, and it
// agrees with parseScore (strtod: the same syntax) wherever the value is a
// normal double, up to the double rounding of a 64-bit mantissa.
func FuzzParseLongDoubleVsStrtod(f *testing.F) {
	for _, s := range []string{"1", "-1.5e3", "0x1p-2", "inf", "nan", " 7", "1e400", "1e-400", "0x", "1p5", "0b1", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, inf, ok := parseLongDouble(b)
		d, dok := parseScore(b)
		if dok && !ok {
			t.Fatalf("parseScore(%q) = %v but parseLongDouble refuses it", b, d)
		}
		if !dok || !ok {
			return
		}
		if inf != math.IsInf(d, 0) {
			t.Fatalf("parseLongDouble(%q) inf=%v, parseScore %v", b, inf, d)
		}
		if inf || math.Abs(d) < 0x1p-1000 {
			return
		}
		g, _ := v.Float64()
		if math.Abs(g-d) > math.Abs(d)*0x1p-52 {
			t.Fatalf("parseLongDouble(%q) = %v, parseScore %v", b, g, d)
		}
	})
}

// FuzzParseCursor: the SCAN-family cursor parser never panics and agrees
// with strconv on plain unsigned decimals.
func FuzzParseCursor(f *testing.F) {
	for _, s := range []string{"0", "", "-1", "+1", "18446744073709551616", " 1", "1\x00x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := parseCursor(b)
		if u, err := strconv.ParseUint(string(b), 10, 64); err == nil && (!ok || u != v) {
			t.Fatalf("parseCursor(%q) = %v, %v; strconv %v", b, v, ok, u)
		}
	})
}
