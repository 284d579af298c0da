package writeapply

import (
	"math/big"
)

// Redis does INCRBYFLOAT and HINCRBYFLOAT arithmetic in C long double, which
// on x86-64 Linux (the reference build) is the x87 80-bit extended format:
// a 64-bit significand, exponents down to 2^-16382 for normal numbers and
// gradual underflow to 2^-16445, overflow above (1-2^-64)*2^16384. Go has no
// such type, so the values are kept exactly as big.Float (an extended value
// fits in 64 bits of mantissa) and every operation that rounds in C (strtold,
// the addition) rounds here from the exact result, to nearest-even, with the
// extended format's range. Formatting is "%.17Lf" with trailing zeros cut,
// which glibc does exactly and big.Float.Text does exactly too (ties to even
// in both).

const (
	ldMaxExp    = 16384 // big.Float MantExp exponent of the largest finite extended value
	ldMinExp    = -16381
	ldSubQuant  = 16445 // subnormals are multiples of 2^-16445
	ldMaxChars  = 5 * 1024
	ldMantBits  = 64
	decExpLimit = 1 << 30 // saturation for parsed exponents; far beyond every boundary
)

// ldouble is a finite extended-precision value, or an infinity when inf != 0.
type ldouble struct {
	inf int // +1 or -1 for ±infinity, 0 for a finite value
	f   *big.Float
}

// parseLD is Redis's string2ld: strtold on the whole string, rejecting empty
// and overlong input, leading space, anything strtold does not consume, NaN,
// and results that overflow or underflow to zero. It accepts what glibc's
// strtold does: decimal and hexadecimal (0x…p…) floats and inf/infinity.
func parseLD(s []byte) (ldouble, bool) {
	if len(s) == 0 || len(s) >= ldMaxChars {
		return ldouble{}, false
	}
	switch s[0] {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return ldouble{}, false
	}
	p := 0
	neg := false
	if s[p] == '+' || s[p] == '-' {
		neg = s[p] == '-'
		p++
	}
	rest := s[p:]
	if eqFoldExact(rest, "inf") || eqFoldExact(rest, "infinity") {
		if neg {
			return ldouble{inf: -1}, true
		}
		return ldouble{inf: 1}, true
	}
	hex := len(rest) >= 2 && rest[0] == '0' && (rest[1] == 'x' || rest[1] == 'X')
	if hex {
		r, ok := parseHexFloat(rest[2:])
		if !ok {
			return ldouble{}, false
		}
		return finishParse(r, neg)
	}
	r, ok := parseDecFloat(rest)
	if !ok {
		return ldouble{}, false
	}
	return finishParse(r, neg)
}

// parsed is an exact parsed magnitude mant * base^exp (base 10 or 2) with
// mant's decimal/hex digits already accumulated.
type parsed struct {
	mant    *big.Int
	exp     int64 // power of base
	base    int64
	digits  int64 // significant digits in mant
	zero    bool
	tooBig  bool
	tooTiny bool
}

func finishParse(r parsed, neg bool) (ldouble, bool) {
	if r.zero {
		return ldouble{f: new(big.Float).SetPrec(ldMantBits)}, true
	}
	if r.tooBig || r.tooTiny {
		return ldouble{}, false // ERANGE: overflow, or underflow to zero
	}
	var x big.Rat
	x.SetInt(r.mant)
	if r.exp != 0 {
		var scale big.Int
		if r.base == 10 {
			e := r.exp
			if e < 0 {
				e = -e
			}
			scale.Exp(big.NewInt(10), big.NewInt(e), nil)
		} else {
			e := r.exp
			if e < 0 {
				e = -e
			}
			scale.Lsh(big.NewInt(1), uint(e))
		}
		var sr big.Rat
		sr.SetInt(&scale)
		if r.exp > 0 {
			x.Mul(&x, &sr)
		} else {
			x.Quo(&x, &sr)
		}
	}
	if neg {
		x.Neg(&x)
	}
	v, ok := roundLD(&x)
	if !ok || v.inf != 0 {
		return ldouble{}, false
	}
	if v.f.Sign() == 0 {
		return ldouble{}, false // a nonzero input that rounds to zero: ERANGE
	}
	return v, true
}

func eqFoldExact(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// parseExp parses an exponent's optional sign and at least one decimal
// digit, saturating at ±decExpLimit, and requires that it ends the input.
func parseExp(s []byte) (int64, bool) {
	neg := false
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if len(s) == 0 {
		return 0, false
	}
	var e int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		if e < decExpLimit {
			e = e*10 + int64(c-'0')
		}
	}
	if neg {
		e = -e
	}
	return e, true
}

func parseDecFloat(s []byte) (parsed, bool) {
	r := parsed{base: 10}
	i := 0
	var digits []byte
	var buf [64]byte
	digits = buf[:0]
	sawDigit := false
	var fracDigits int64
	lead := true
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		sawDigit = true
		if lead && s[i] == '0' {
			continue
		}
		lead = false
		digits = append(digits, s[i])
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			sawDigit = true
			fracDigits++
			if lead && s[i] == '0' {
				continue
			}
			lead = false
			digits = append(digits, s[i])
		}
	}
	if !sawDigit {
		return r, false
	}
	var e int64
	if i < len(s) {
		if s[i] != 'e' && s[i] != 'E' {
			return r, false
		}
		var ok bool
		if e, ok = parseExp(s[i+1:]); !ok {
			return r, false
		}
	}
	if len(digits) == 0 {
		r.zero = true
		return r, true
	}
	// value = 0.digits * 10^(mag); the extended range is about 3.6e-4951 to
	// 1.19e4932, so magnitudes well outside it overflow or vanish.
	mag := e - fracDigits + int64(len(digits))
	if mag > 4940 {
		r.tooBig = true
		return r, true
	}
	if mag < -4970 {
		r.tooTiny = true
		return r, true
	}
	r.mant = new(big.Int)
	r.mant.SetString(string(digits), 10)
	r.exp = e - fracDigits
	r.digits = int64(len(digits))
	return r, true
}

func hexVal(c byte) (int64, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int64(c - '0'), true
	case c >= 'a' && c <= 'f':
		return int64(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return int64(c-'A') + 10, true
	}
	return 0, false
}

func parseHexFloat(s []byte) (parsed, bool) {
	r := parsed{base: 2}
	i := 0
	mant := new(big.Int)
	sawDigit := false
	var fracDigits int64
	var sig int64 // significant hex digits
	for ; i < len(s); i++ {
		d, ok := hexVal(s[i])
		if !ok {
			break
		}
		sawDigit = true
		if sig > 0 || d != 0 {
			sig++
			mant.Lsh(mant, 4)
			mant.Or(mant, big.NewInt(d))
		}
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s); i++ {
			d, ok := hexVal(s[i])
			if !ok {
				break
			}
			sawDigit = true
			fracDigits++
			if sig > 0 || d != 0 {
				sig++
				mant.Lsh(mant, 4)
				mant.Or(mant, big.NewInt(d))
			}
		}
	}
	if !sawDigit {
		return r, false
	}
	var e int64
	if i < len(s) {
		if s[i] != 'p' && s[i] != 'P' {
			return r, false
		}
		var ok bool
		if e, ok = parseExp(s[i+1:]); !ok {
			return r, false
		}
	}
	if mant.Sign() == 0 {
		r.zero = true
		return r, true
	}
	mag := e - 4*fracDigits + int64(mant.BitLen())
	if mag > ldMaxExp+8 {
		r.tooBig = true
		return r, true
	}
	if mag < -ldSubQuant-8 {
		r.tooTiny = true
		return r, true
	}
	r.mant = mant
	r.exp = e - 4*fracDigits
	r.digits = sig
	return r, true
}

// roundLD rounds an exact value to the extended format, to nearest-even.
// It returns an infinity on overflow and a zero on complete underflow.
func roundLD(x *big.Rat) (ldouble, bool) {
	f := new(big.Float).SetPrec(ldMantBits)
	if x.Sign() == 0 {
		return ldouble{f: f}, true
	}
	f.SetRat(x)
	e := f.MantExp(nil)
	if e > ldMaxExp {
		return ldouble{inf: x.Sign()}, true
	}
	if e >= ldMinExp {
		return ldouble{f: f}, true
	}
	// Subnormal: round x * 2^16445 to an integer, ties to even.
	var q big.Rat
	q.SetInt(new(big.Int).Lsh(big.NewInt(1), ldSubQuant))
	q.Mul(&q, x)
	num := new(big.Int).Set(q.Num())
	neg := num.Sign() < 0
	num.Abs(num)
	quo, rem := new(big.Int).QuoRem(num, q.Denom(), new(big.Int))
	rem.Lsh(rem, 1)
	switch c := rem.Cmp(q.Denom()); {
	case c > 0, c == 0 && quo.Bit(0) == 1:
		quo.Add(quo, big.NewInt(1))
	}
	if neg {
		quo.Neg(quo)
	}
	f.SetInt(quo) // quo < 2^64: exact
	f.SetMantExp(f, -ldSubQuant)
	return ldouble{f: f}, true
}

// ldFromInt returns n as an extended value (exact: 64-bit significand).
func ldFromInt(n int64) ldouble {
	return ldouble{f: new(big.Float).SetPrec(ldMantBits).SetInt64(n)}
}

// addLD returns a+b rounded to the extended format; the result may be an
// infinity (overflow or an infinite operand) or NaN (reported as ok=false).
func addLD(a, b ldouble) (ldouble, bool) {
	if a.inf != 0 || b.inf != 0 {
		if a.inf != 0 && b.inf != 0 && a.inf != b.inf {
			return ldouble{}, false // inf - inf = NaN
		}
		if a.inf != 0 {
			return ldouble{inf: a.inf}, true
		}
		return ldouble{inf: b.inf}, true
	}
	// Both are dyadic with at most 64 significant bits and exponents within
	// ±16445, so the exact sum fits in a big.Float of enough precision;
	// Float.Add into it is exact, and roundLD then rounds once.
	ea, eb := a.f.MantExp(nil), b.f.MantExp(nil)
	if a.f.Sign() == 0 {
		ea = eb
	}
	if b.f.Sign() == 0 {
		eb = ea
	}
	span := ea - eb
	if span < 0 {
		span = -span
	}
	prec := uint(span) + 2*ldMantBits + 2
	sum := new(big.Float).SetPrec(prec).Add(a.f, b.f)
	if sum.Sign() == 0 {
		return ldouble{f: new(big.Float).SetPrec(ldMantBits)}, true
	}
	r, _ := sum.Rat(nil)
	return roundLD(r)
}

// appendHumanLD writes v as Redis's ld2string(LD_STR_HUMAN) does: "%.17Lf",
// trailing zeros after the point removed, then the point if nothing follows
// it, and "-0" turned into "0". v must be finite.
func appendHumanLD(dst []byte, v ldouble) []byte {
	start := len(dst)
	dst = v.f.Append(dst, 'f', 17)
	end := len(dst)
	for end > start && dst[end-1] == '0' {
		end--
	}
	if end > start && dst[end-1] == '.' {
		end--
	}
	dst = dst[:end]
	if end-start == 2 && dst[start] == '-' && dst[start+1] == '0' {
		dst = append(dst[:start], '0')
	}
	return dst
}
