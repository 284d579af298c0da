package disk

import (
	"math"
	"math/big"
	"strconv"
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

// parseFloat parses p as Redis's string2d (strtod) does for arguments such
// as scores: no leading space, no trailing bytes, no NaN, no overflow;
// "inf", "+inf", "-inf", "infinity" are accepted (any case).
func parseFloat(p []byte) (float64, bool) {
	if len(p) == 0 || isSpace(p[0]) {
		return 0, false
	}
	for _, c := range p {
		if c == '_' { // Go accepts digit separators, strtod does not
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(string(p), 64)
	if err != nil {
		// strtod reports ERANGE for overflow (refused by Redis) and for
		// underflow to zero (refused too); both are errors here.
		return 0, false
	}
	if math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// longDouble emulates the x87 80-bit long double Redis uses for
// INCRBYFLOAT and HINCRBYFLOAT: 64-bit mantissa, round to nearest even,
// exponent range of ±16384.
const longDoublePrec = 64

// parseLongDouble parses p as Redis's string2ld (strtold). inf reports an
// infinite value (valid input, but any arithmetic on it is refused by the
// callers, as Redis refuses a NaN or infinite result).
func parseLongDouble(p []byte) (v *big.Float, inf bool, ok bool) {
	if len(p) == 0 || len(p) >= 5*1024 || isSpace(p[0]) {
		return nil, false, false
	}
	s := string(p)
	body := s
	if body[0] == '+' || body[0] == '-' {
		body = body[1:]
	}
	switch lowerString(body) {
	case "inf", "infinity":
		return nil, true, true
	case "nan":
		return nil, false, false
	}
	for i := 0; i < len(body); i++ {
		if body[i] == '_' {
			return nil, false, false
		}
	}
	f, _, err := big.ParseFloat(s, 0, longDoublePrec, big.ToNearestEven)
	if err != nil || f.IsInf() {
		return nil, false, false
	}
	if !inLongDoubleRange(f) {
		return nil, false, false
	}
	return f, false, true
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

func lowerString(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return string(lower([]byte(s)))
		}
	}
	return s
}

const (
	maxInt64 = math.MaxInt64
	minInt64 = math.MinInt64
)

// newLongDouble returns a zero long double.
func newLongDouble() *big.Float {
	return new(big.Float).SetPrec(longDoublePrec).SetMode(big.ToNearestEven)
}

// parseCursor parses a SCAN cursor (an unsigned 64-bit integer in Redis).
func parseCursor(p []byte) (uint64, bool) {
	v, err := strconv.ParseUint(string(p), 10, 64)
	return v, err == nil
}
