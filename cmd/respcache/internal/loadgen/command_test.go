package loadgen

import (
	"bytes"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/respcache/respcache/resp"
)

func TestParseCommands(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want string // names joined by ","; "" means an error is expected
	}{
		{"get,set", "GET,SET"},
		{"GET , Set", "GET,SET"},
		{"hget,hset", "HGET,HSET"},
		{"mget:10", "MGET:10"},
		{"mget", "MGET:1"},
		{"get,mget:10,set,mset:3", "GET,MGET:10,SET,MSET:3"},
		{"hgetall,hset,exists,del", "HGETALL,HSET,EXISTS,DEL"},
		{"get,mget:2,mget:3", "GET,MGET:2,MGET:3"},
		{"", ""},
		{"get,", ""},
		{"incr", ""},
		{"get:2", ""},
		{"mget:0", ""},
		{"mget:10001", ""},
		{"mget:x", ""},
		{"get,get", ""},
		{"get,hset", ""}, // string and hash commands would share keys
		{"mset:2,hgetall", ""},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			cmds, err := ParseCommands(tc.spec)
			if tc.want == "" {
				if !errors.Is(err, ErrInvalidOptions) {
					t.Fatalf("ParseCommands(%q) = %v, %v; want ErrInvalidOptions", tc.spec, cmds, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, c := range cmds {
				names = append(names, c.Name())
			}
			if got := strings.Join(names, ","); got != tc.want {
				t.Fatalf("ParseCommands(%q) = %s, want %s", tc.spec, got, tc.want)
			}
		})
	}
}

func TestParseSizeRange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want SizeRange
		ok   bool
	}{
		{"100", SizeRange{100, 100}, true},
		{"64-1024", SizeRange{64, 1024}, true},
		{" 1 - 2 ", SizeRange{1, 2}, true},
		{"0-10", SizeRange{0, 10}, true},
		{"0", SizeRange{}, false},
		{"10-5", SizeRange{}, false},
		{"-5", SizeRange{}, false},
		{"x", SizeRange{}, false},
		{"1-2-3", SizeRange{}, false},
		{strconv.Itoa(MaxValueSize + 1), SizeRange{}, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseSizeRange(tc.in)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("ParseSizeRange(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
			}
			if tc.ok {
				if back, err := ParseSizeRange(got.String()); err != nil || back != got {
					t.Fatalf("String %q does not parse back: %v, %v", got.String(), back, err)
				}
			}
		})
	}
}

func FuzzParseCommands(f *testing.F) {
	for _, s := range []string{"get,set", "mget:10", "hget,hset,hgetall", "get,,set", "mset:99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		cmds, err := ParseCommands(spec)
		if err != nil {
			if !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("error %v does not wrap ErrInvalidOptions", err)
			}
			return
		}
		if err := validateMix(cmds); err != nil {
			t.Fatalf("accepted a mix that does not validate: %v", err)
		}
		var names []string
		for _, c := range cmds {
			names = append(names, strings.ToLower(c.Name()))
		}
		again, err := ParseCommands(strings.Join(names, ","))
		if err != nil || len(again) != len(cmds) {
			t.Fatalf("names %v do not parse back: %v", names, err)
		}
	})
}

func FuzzParseSizeRange(f *testing.F) {
	for _, s := range []string{"100", "64-1024", "0-0", "-", "1-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseSizeRange(s)
		if err != nil {
			return
		}
		if r.Min < 0 || r.Max < r.Min || r.Max < 1 || r.Max > MaxValueSize {
			t.Fatalf("accepted %q as %v", s, r)
		}
	})
}

// TestGeneratorEncoding parses what the generator writes with the project's
// request parser (the proxy's, byte-compatible with redis-server) and checks
// every argument: verb, key names in range, hash fields, value sizes.
func TestGeneratorEncoding(t *testing.T) {
	cmdsFor := func(spec string) []Command {
		c, err := ParseCommands(spec)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"get,set zipf", Options{Commands: cmdsFor("get,set"), ReadRatio: 0.5, Keys: 1000, ValueSize: SizeRange{10, 20}}},
		{"mget mset uniform", Options{Commands: cmdsFor("mget:5,mset:3"), ReadRatio: 0.5, Keys: 7, Dist: DistUniform, ValueSize: SizeRange{0, 3}}},
		{"hashes", Options{Commands: cmdsFor("hget,hset,hgetall"), ReadRatio: 0.5, Keys: 50, KeyPrefix: "h:"}},
		{"exists del one key", Options{Commands: cmdsFor("exists,del"), ReadRatio: 0.5, Keys: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.EnsureDefaults()
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			z, _ := NewZipf(o.Keys, o.ZipfS)
			g := newGenerator(&o, z, ptr(NewScramble(o.Keys)), newValue(&o), 3)
			var buf []byte
			var idx []int
			const n = 2000
			for range n {
				var j int
				buf, j = g.next(buf)
				idx = append(idx, j)
			}
			for k := range o.Keys {
				buf = g.appendFill(buf, k, usesHashes(o.Commands))
			}
			rd := resp.NewReader(bytes.NewReader(buf))
			var got [][][]byte
			for len(got) < n+int(o.Keys) {
				batch, err := rd.ReadBatch(0)
				if err != nil {
					t.Fatalf("after %d commands: %v", len(got), err)
				}
				for _, c := range batch {
					got = append(got, cloneAll(c.Args))
				}
			}
			for i, args := range got {
				var c Command
				if i < n {
					c = o.Commands[idx[i]]
				} else if usesHashes(o.Commands) {
					c = Command{Kind: HSet, Keys: HashFields} // fill: one HSET with every field
				} else {
					c = Command{Kind: Set, Keys: 1}
				}
				checkArgs(t, &o, c, args)
			}
		})
	}
}

func cloneAll(args [][]byte) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = bytes.Clone(a)
	}
	return out
}

func checkArgs(t *testing.T, o *Options, c Command, args [][]byte) {
	t.Helper()
	ki := kinds[c.Kind]
	if string(args[0]) != ki.verb {
		t.Fatalf("verb %q, want %s", args[0], ki.verb)
	}
	checkKey := func(k []byte) {
		num, ok := bytes.CutPrefix(k, []byte(o.KeyPrefix))
		n, err := strconv.ParseUint(string(num), 10, 64)
		if !ok || err != nil || n >= o.Keys {
			t.Fatalf("%s: key %q is not %s<0..%d>", ki.verb, k, o.KeyPrefix, o.Keys-1)
		}
	}
	checkValue := func(v []byte) {
		if len(v) < o.ValueSize.Min || len(v) > o.ValueSize.Max {
			t.Fatalf("%s: value of %d bytes, want %v", ki.verb, len(v), o.ValueSize)
		}
	}
	checkField := func(f []byte) {
		if len(f) != 2 || f[0] != 'f' || f[1] < '0' || f[1] >= '0'+HashFields {
			t.Fatalf("%s: field %q", ki.verb, f)
		}
	}
	rest := args[1:]
	switch c.Kind {
	case Get, HGetAll, Exists, Del, MGet:
		if len(rest) != c.Keys {
			t.Fatalf("%s: %d args, want %d", ki.verb, len(rest), c.Keys)
		}
		for _, k := range rest {
			checkKey(k)
		}
	case Set, MSet:
		if len(rest) != 2*c.Keys {
			t.Fatalf("%s: %d args, want %d", ki.verb, len(rest), 2*c.Keys)
		}
		for i := 0; i < len(rest); i += 2 {
			checkKey(rest[i])
			checkValue(rest[i+1])
		}
	case HGet:
		if len(rest) != 2 {
			t.Fatalf("HGET: %d args", len(rest))
		}
		checkKey(rest[0])
		checkField(rest[1])
	case HSet:
		if len(rest) != 1+2*c.Keys {
			t.Fatalf("HSET: %d args, want %d", len(rest), 1+2*c.Keys)
		}
		checkKey(rest[0])
		for i := 1; i < len(rest); i += 2 {
			checkField(rest[i])
			checkValue(rest[i+1])
		}
	}
}

// TestGeneratorReadRatio checks the read/write draw and the uniform choice
// within a group, with a fixed seed and 6-sigma binomial tolerances.
func TestGeneratorReadRatio(t *testing.T) {
	cmds, _ := ParseCommands("get,mget:2,set")
	for _, ratio := range []float64{0, 0.1, 0.9, 1} {
		o := Options{Commands: cmds, ReadRatio: ratio, Keys: 100}
		o.EnsureDefaults()
		z, _ := NewZipf(o.Keys, o.ZipfS)
		g := newGenerator(&o, z, ptr(NewScramble(o.Keys)), newValue(&o), 0)
		const n = 100_000
		var counts [3]int
		for range n {
			counts[g.pick()]++
		}
		want := [3]float64{ratio / 2, ratio / 2, 1 - ratio}
		for i, w := range want {
			sd := math.Sqrt(n * w * (1 - w))
			if d := math.Abs(float64(counts[i]) - n*w); d > 6*sd+0.5 {
				t.Errorf("ratio %v: %s drawn %d times, want %.0f ± %.0f", ratio, cmds[i].Name(), counts[i], n*w, 6*sd)
			}
		}
	}
}

// TestGeneratorNoAllocs holds the hot path to its promise.
func TestGeneratorNoAllocs(t *testing.T) {
	cmds, _ := ParseCommands("get,set,mget:4")
	o := Options{Commands: cmds, ReadRatio: 0.9, ValueSize: SizeRange{10, 200}}
	o.EnsureDefaults()
	z, _ := NewZipf(o.Keys, o.ZipfS)
	g := newGenerator(&o, z, ptr(NewScramble(o.Keys)), newValue(&o), 0)
	buf := make([]byte, 0, 1<<20)
	allocs := testing.AllocsPerRun(1000, func() {
		buf, _ = g.next(buf[:0])
	})
	if allocs != 0 {
		t.Fatalf("generator.next allocates %v times per command", allocs)
	}
}

func BenchmarkGeneratorNext(b *testing.B) {
	o := Options{ReadRatio: 0.9}
	o.EnsureDefaults()
	z, _ := NewZipf(o.Keys, o.ZipfS)
	g := newGenerator(&o, z, ptr(NewScramble(o.Keys)), newValue(&o), 0)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = g.next(buf[:0])
	}
}

func ptr[T any](v T) *T { return &v }
