package config

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"
)

// Size is a byte count. In YAML and in the environment it is written as a
// bare integer (bytes) or a number followed by a unit: B, KiB, MiB, GiB, TiB
// (powers of 2) or KB, MB, GB, TB (powers of 10). The unit's case is ignored
// and one or more spaces may precede it ("64 MiB"). A fraction is accepted
// when the result is a whole number of bytes ("1.5GiB" = 1610612736,
// "0.5KB" = 500) and rejected otherwise ("0.3KiB", "1.5"). Negative values
// and values that do not fit in an int64 are errors. Bare suffixes such as
// "k" or "m" are rejected: Redis reads "1k" as 1000 and "1kb" as 1024, and
// guessing either way would surprise someone.
type Size int64

var sizeUnits = map[string]int64{
	"":    1,
	"b":   1,
	"kb":  1e3,
	"mb":  1e6,
	"gb":  1e9,
	"tb":  1e12,
	"kib": 1 << 10,
	"mib": 1 << 20,
	"gib": 1 << 30,
	"tib": 1 << 40,
}

// ParseSize parses s as described on Size.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, errors.New("empty size")
	}
	if t[0] == '-' {
		return 0, fmt.Errorf("size %q must not be negative", s)
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimLeft(t[i:], " \t")
	intPart, frac, hasDot := strings.Cut(num, ".")
	if intPart == "" || (hasDot && frac == "") || strings.Contains(frac, ".") {
		return 0, fmt.Errorf("invalid size %q (want an integer with an optional unit: 512MiB, 1GB, 1048576)", s)
	}
	mult, ok := sizeUnits[strings.ToLower(unit)]
	if !ok {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (use B, KiB, MiB, GiB, TiB or KB, MB, GB, TB)", s, unit)
	}
	// Exact arithmetic: value = intPart.frac * mult, which must be whole.
	n, _ := new(big.Int).SetString(intPart+frac, 10)
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
	n.Mul(n, big.NewInt(mult))
	q, r := new(big.Int).QuoRem(n, den, new(big.Int))
	if r.Sign() != 0 {
		return 0, fmt.Errorf("invalid size %q: not a whole number of bytes", s)
	}
	if !q.IsInt64() {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return Size(q.Int64()), nil
}

// Bytes returns s as an int64 byte count.
func (s Size) Bytes() int64 { return int64(s) }

// String prints s exactly, in the unit that gives the smallest whole number
// (64MiB, 1GB, 1500B); zero prints as "0". The result parses back to s.
func (s Size) String() string {
	if s == 0 {
		return "0"
	}
	if s < 0 {
		return fmt.Sprintf("%dB", int64(s))
	}
	units := []struct {
		name string
		n    int64
	}{
		{"TiB", 1 << 40}, {"TB", 1e12}, {"GiB", 1 << 30}, {"GB", 1e9},
		{"MiB", 1 << 20}, {"MB", 1e6}, {"KiB", 1 << 10}, {"KB", 1e3},
	}
	best, bestName := int64(s), "B"
	for _, u := range units {
		if int64(s)%u.n == 0 && int64(s)/u.n < best {
			best, bestName = int64(s)/u.n, u.name
		}
	}
	return fmt.Sprintf("%d%s", best, bestName)
}

// MarshalYAML writes s as its String form so dumps are readable and reload.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }

// Duration is a time.Duration written in Go syntax ("250ms", "5m", "1h30m").
// A bare "0" is accepted; other bare numbers are not (the unit is required).
// Negative durations are errors.
type Duration time.Duration

// ParseDuration parses s as described on Duration.
func ParseDuration(s string) (Duration, error) {
	t := strings.TrimSpace(s)
	d, err := time.ParseDuration(t)
	if err != nil {
		if t != "" && strings.Trim(t, "0123456789") == "" {
			return 0, fmt.Errorf("invalid duration %q: missing unit (write e.g. %ss or %sms)", s, t, t)
		}
		return 0, fmt.Errorf("invalid duration %q (want Go syntax: 250ms, 10s, 5m, 1h)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q must not be negative", s)
	}
	return Duration(d), nil
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String prints d in Go syntax without trailing zero components ("5m", not
// "5m0s").
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// MarshalYAML writes d as its String form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// validRatio reports whether f is a number in [0, 1].
func validRatio(f float64) bool { return !math.IsNaN(f) && f >= 0 && f <= 1 }
