package disk

import (
	"bytes"
	"math"
	"math/big"
)

// parseInt parses p as Redis's string2ll does: optional '-', no '+', no
// spaces, no leading zeros, within int64.
func parseInt(p []byte) (int64, bool) {
	if len(p) == 0 || len(p) > 20 {
		return 0, false
	}
	if len(p) == 1 && p[0] == '0' {
		return 0, true
	}
	neg := false
	i := 0
	if p[0] == '-' {
		neg = true
		i = 1
		if len(p) == 1 {
			return 0, false
		}
	}
	if p[i] < '1' || p[i] > '9' {
		return 0, false
	}
	var v uint64
	for ; i < len(p); i++ {
		c := p[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (math.MaxUint64-9)/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

// argInt parses an integer argument or returns errNotInt.
func argInt(p []byte) (int64, error) {
	v, ok := parseInt(p)
	if !ok {
		return 0, errNotInt
	}
	return v, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// longDouble emulates the x87 80-bit long double Redis uses for
// INCRBYFLOAT and HINCRBYFLOAT: 64-bit mantissa, round to nearest even,
// exponent range of ±16384.
const longDoublePrec = 64

// parseLongDouble parses p as Redis's string2ld: strtold must consume the
// whole argument (a NUL byte is not an end); no leading space, no NaN, no overflow, no underflow to zero, at
// most 5 KiB. strtold accepts exactly strtod's syntax (cStrtod: decimal,
// hexadecimal "0x1.8p3", "inf"/"infinity"), so that is what decides what
// is a number; math/big computes the 64-bit-mantissa value. inf reports an
// infinite value (valid input, but any arithmetic on it is refused by the
// callers, as Redis refuses a NaN or infinite result).
func parseLongDouble(p []byte) (v *big.Float, inf bool, ok bool) {
	if len(p) == 0 || len(p) >= 5*1024 || isSpace(p[0]) {
		return nil, false, false
	}
	f, n, erange := cStrtod(p)
	if n == 0 || n != len(p) || math.IsNaN(f) {
		return nil, false, false
	}
	switch {
	case math.IsInf(f, 0) && !erange:
		return nil, true, true // "inf" or "infinity"
	case f == 0 && !erange:
		// An all-zero mantissa is zero whatever its exponent ("0e99999").
		return newLongDouble(), false, true
	}
	// The text is well formed; it may overflow a double but not a long
	// double ("1e400"), which is why the value is recomputed at 64 bits.
	r, _, err := big.ParseFloat(string(p[:n]), 0, longDoublePrec, big.ToNearestEven)
	if err != nil || r.IsInf() || !inLongDoubleRange(r) {
		return nil, false, false
	}
	return r, false, true
}

// inLongDoubleRange reports whether f neither overflows nor underflows to
// zero in an 80-bit long double (strtold's ERANGE).
func inLongDoubleRange(f *big.Float) bool {
	if f.Sign() == 0 {
		return true
	}
	e := f.MantExp(nil)
	return e <= 16384 && e >= -16444
}

// formatLongDouble formats f as Redis's ld2string(LD_STR_HUMAN): "%.17Lf"
// with trailing zeros (and a trailing '.') removed, "-0" as "0".
func formatLongDouble(f *big.Float) string {
	s := f.Text('f', 17)
	if i := len(s) - 1; i > 0 {
		for s[i] == '0' {
			i--
		}
		if s[i] == '.' {
			i--
		}
		s = s[:i+1]
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// addLongDouble computes cur+incr as long doubles and formats the result;
// ok is false when the result would be infinite (or NaN).
func addLongDouble(cur, incr *big.Float) (string, bool) {
	r := new(big.Float).SetPrec(longDoublePrec).SetMode(big.ToNearestEven)
	r.Add(cur, incr)
	if !inLongDoubleRange(r) && r.Sign() != 0 {
		e := r.MantExp(nil)
		if e > 16384 {
			return "", false
		}
		// Underflow: x87 would go subnormal then zero; zero is close enough.
		r.SetInt64(0)
	}
	return formatLongDouble(r), true
}

const (
	maxInt64 = math.MaxInt64
	minInt64 = math.MinInt64
)

// newLongDouble returns a zero long double.
func newLongDouble() *big.Float {
	return new(big.Float).SetPrec(longDoublePrec).SetMode(big.ToNearestEven)
}

// parseCursor parses the cursor of SCAN, HSCAN, SSCAN and ZSCAN as Redis's
// parseScanCursorOrReply does with strtoul: the argument is a C string (it
// ends at a NUL byte), no leading space, an optional sign ("-1" wraps to
// the largest cursor, "+1" is 1), decimal digits, nothing after them, no
// overflow of 64 bits; "" is cursor 0.
func parseCursor(p []byte) (uint64, bool) {
	if i := bytes.IndexByte(p, 0); i >= 0 {
		p = p[:i]
	}
	if len(p) == 0 {
		return 0, true
	}
	if isSpace(p[0]) {
		return 0, false
	}
	neg := false
	i := 0
	if p[0] == '+' || p[0] == '-' {
		neg = p[0] == '-'
		i++
	}
	if i == len(p) {
		return 0, false
	}
	var v uint64
	for ; i < len(p); i++ {
		c := p[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (^uint64(0)-d)/10 {
			return 0, false // ERANGE
		}
		v = v*10 + d
	}
	if neg {
		v = -v
	}
	return v, true
}
