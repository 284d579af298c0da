package loadgen

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// zipfPMF returns P(rank r) for r in [0, n): (r+1)^-s / H(n, s).
func zipfPMF(n int, s float64) []float64 {
	p := make([]float64, n)
	var h float64
	for r := n - 1; r >= 0; r-- { // smallest terms first
		p[r] = math.Pow(float64(r+1), -s)
		h += p[r]
	}
	for r := range p {
		p[r] /= h
	}
	return p
}

// chiSquare compares observed counts of ranks with the pmf: ranks whose
// expected count is at least 10 are bins of their own, the tail is one bin.
// It returns the statistic and the degrees of freedom.
func chiSquare(counts []int64, pmf []float64, total int64) (float64, int) {
	var stat, tailObs, tailExp float64
	bins := 0
	for r := range pmf {
		exp := pmf[r] * float64(total)
		if exp < 10 {
			tailObs += float64(counts[r])
			tailExp += exp
			continue
		}
		d := float64(counts[r]) - exp
		stat += d * d / exp
		bins++
	}
	if tailExp > 0 {
		d := tailObs - tailExp
		stat += d * d / tailExp
		bins++
	}
	return stat, bins - 1
}

// chiSquareCritical approximates the chi-square quantile with df degrees of
// freedom at the upper tail probability of z standard deviations
// (Wilson-Hilferty; accurate to a few percent for df >= 3).
func chiSquareCritical(df int, z float64) float64 {
	k := float64(df)
	c := 1 - 2/(9*k) + z*math.Sqrt(2/(9*k))
	return k * c * c * c
}

// TestZipfMatchesAnalytic draws from the sampler with a fixed seed and
// applies a chi-square goodness-of-fit test against the exact pmf, at the
// 1e-4 level (z = 3.72). The same samples must then fail against a pmf with
// a slightly different exponent, which shows the test has the power to
// catch a sampler that is off.
func TestZipfMatchesAnalytic(t *testing.T) {
	const samples = 400_000
	for _, tc := range []struct {
		n int
		s float64
	}{
		{1000, 0.5}, {1000, 0.99}, {1000, 1.0}, {1000, 1.2}, {100, 2.5}, {50_000, 0.99}, {2, 1.0},
	} {
		t.Run(fmt.Sprintf("n=%d/s=%g", tc.n, tc.s), func(t *testing.T) {
			z, err := NewZipf(uint64(tc.n), tc.s)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(42, 7))
			counts := make([]int64, tc.n)
			for range samples {
				r := z.Rank(rng.Float64)
				if r >= uint64(tc.n) {
					t.Fatalf("rank %d out of [0, %d)", r, tc.n)
				}
				counts[r]++
			}
			pmf := zipfPMF(tc.n, tc.s)
			stat, df := chiSquare(counts, pmf, samples)
			if df < 1 {
				t.Fatalf("only %d degrees of freedom", df)
			}
			crit := chiSquareCritical(max(df, 3), 3.72)
			if stat > crit {
				t.Errorf("chi-square %.1f > %.1f (df %d): sampler does not follow Zipf(s=%g)", stat, crit, df, tc.s)
			}
			// The top ranks, where a cache's hit ratio is decided, must
			// each be within 5 standard deviations of their expectation.
			for r := 0; r < min(tc.n, 5); r++ {
				exp := pmf[r] * samples
				sd := math.Sqrt(exp * (1 - pmf[r]))
				if math.Abs(float64(counts[r])-exp) > 5*sd {
					t.Errorf("rank %d: %d draws, want %.0f ± %.0f", r, counts[r], exp, 5*sd)
				}
			}
			if tc.n < 100 {
				return // too few bins to tell exponents 0.1 apart
			}
			wrong := zipfPMF(tc.n, tc.s+0.1)
			if ws, wdf := chiSquare(counts, wrong, samples); ws <= chiSquareCritical(max(wdf, 3), 3.72) {
				t.Errorf("the same samples also fit s=%g (chi-square %.1f): the test has no power", tc.s+0.1, ws)
			}
		})
	}
}

func TestZipfOneElement(t *testing.T) {
	z, err := NewZipf(1, 0.99)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 1000 {
		if r := z.Rank(rng.Float64); r != 0 {
			t.Fatalf("rank %d from a one-element Zipf", r)
		}
	}
}

func TestZipfInvalid(t *testing.T) {
	for _, tc := range []struct {
		n uint64
		s float64
	}{{0, 1}, {10, 0}, {10, -1}, {10, math.NaN()}, {10, math.Inf(1)}} {
		if _, err := NewZipf(tc.n, tc.s); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("NewZipf(%d, %v) = %v, want ErrInvalidOptions", tc.n, tc.s, err)
		}
	}
}

// TestZipfExtremeUniforms feeds the edges of [0, 1) so that rounding at
// the ends of the inversion cannot produce a rank outside [0, n).
func TestZipfExtremeUniforms(t *testing.T) {
	for _, s := range []float64{0.01, 0.5, 0.99, 1, 1 + 1e-12, 3, 20} {
		for _, n := range []uint64{1, 2, 10, 1 << 40} {
			z, err := NewZipf(n, s)
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range []float64{0, 1e-300, 0.5, 1 - 1.0/(1<<53)} {
				calls := 0
				r := z.Rank(func() float64 {
					calls++
					if calls > 1 {
						return 0.5 // a rejected edge value retries with a middle one
					}
					return u
				})
				if r >= n {
					t.Errorf("s=%g n=%d u=%g: rank %d", s, n, u, r)
				}
			}
		}
	}
}

func BenchmarkZipfRank(b *testing.B) {
	z, _ := NewZipf(100_000, 0.99)
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	var sink uint64
	for b.Loop() {
		sink += z.Rank(rng.Float64)
	}
	_ = sink
}
