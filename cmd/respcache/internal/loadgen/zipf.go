package loadgen

import (
	"fmt"
	"math"
)

// Zipf draws ranks in [0, n) with P(rank r) proportional to 1/(r+1)^s, for
// any s > 0, by rejection-inversion (W. Hörmann, G. Derflinger,
// "Rejection-inversion to generate variates from monotone discrete
// distributions", ACM TOMACS 6(3), 1996), in the form Apache Commons RNG's
// RejectionInversionZipfSampler uses.
//
// Why not math/rand's Zipf: it implements the paper's original hat integral
// H(x) = x^(1-s)/(1-s), undefined at s = 1, so it requires s > 1, and cache
// workloads are usually described with s ≤ 1 (YCSB uses 0.99). The integral
// (x^(1-s) - 1)/(1-s) has a finite limit (log x) at s = 1, and written with
// expm1/log1p it is accurate near it, so this sampler works for every s > 0.
//
// A Zipf is immutable after NewZipf and safe for concurrent use; the
// randomness comes from the caller's source.
type Zipf struct {
	n        float64
	exponent float64
	hX1      float64 // hIntegral(1.5) - 1
	hN       float64 // hIntegral(n + 0.5)
	s        float64 // squeeze: a candidate k with k - x <= s is accepted without the exact test
}

// NewZipf returns a sampler over n ranks with exponent s. n must be at least
// 1 and s finite and > 0; otherwise the error wraps ErrInvalidOptions.
func NewZipf(n uint64, s float64) (*Zipf, error) {
	if n < 1 {
		return nil, fmt.Errorf("%w: zipf needs at least 1 element", ErrInvalidOptions)
	}
	if !(s > 0) || math.IsInf(s, 0) {
		return nil, fmt.Errorf("%w: zipf exponent %v must be finite and > 0", ErrInvalidOptions, s)
	}
	z := &Zipf{n: float64(n), exponent: s}
	z.hX1 = z.hIntegral(1.5) - 1
	z.hN = z.hIntegral(z.n + 0.5)
	z.s = 2 - z.hIntegralInverse(z.hIntegral(2.5)-z.h(2))
	return z, nil
}

// Rank returns a rank in [0, n); rank 0 is the most probable. u01 must
// return uniform values in [0, 1) (rand.Rand.Float64). The expected number
// of u01 calls per rank is below 1.1 for every s.
func (z *Zipf) Rank(u01 func() float64) uint64 {
	for {
		// u is uniform in (hX1, hN]; the hat's inverse maps it to x.
		u := z.hN + u01()*(z.hX1-z.hN)
		x := z.hIntegralInverse(u)
		k := math.Floor(x + 0.5)
		if k < 1 {
			k = 1
		} else if k > z.n {
			k = z.n
		}
		// Accept: either k is inside the squeeze, where the hat is known
		// to lie under the histogram, or the exact test passes.
		if k-x <= z.s || u >= z.hIntegral(k+0.5)-z.h(k) {
			return uint64(k) - 1
		}
	}
}

// h is the hat function x^-s.
func (z *Zipf) h(x float64) float64 { return math.Exp(-z.exponent * math.Log(x)) }

// hIntegral is (x^(1-s) - 1)/(1-s), log x at s = 1.
func (z *Zipf) hIntegral(x float64) float64 {
	logX := math.Log(x)
	return expm1OverX((1-z.exponent)*logX) * logX
}

// hIntegralInverse is the inverse of hIntegral.
func (z *Zipf) hIntegralInverse(x float64) float64 {
	t := x * (1 - z.exponent)
	if t < -1 {
		// Rounding can push t just below -1, where log1p is undefined;
		// the true value is never below it.
		t = -1
	}
	return math.Exp(log1pOverX(t) * x)
}

// log1pOverX is log(1+x)/x, with its Taylor series near 0 where the
// division would lose precision.
func log1pOverX(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Log1p(x) / x
	}
	return 1 - x*(0.5-x*(1.0/3-0.25*x))
}

// expm1OverX is (e^x - 1)/x, with its Taylor series near 0.
func expm1OverX(x float64) float64 {
	if math.Abs(x) > 1e-8 {
		return math.Expm1(x) / x
	}
	return 1 + x*0.5*(1+x*(1.0/3)*(1+0.25*x))
}
