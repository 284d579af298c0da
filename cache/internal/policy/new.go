package policy

import (
	"errors"
	"fmt"
	"sort"
)

// ErrUnknownPolicy is returned by New for a name it does not know.
var ErrUnknownPolicy = errors.New("policy: unknown policy")

var constructors = map[string]func(Config) Policy{
	"adaptive": func(c Config) Policy { return newTinyLFU(c, adaptiveOptions) },
	"lru":      func(c Config) Policy { return newLRU(c) },
	"wtinylfu": func(c Config) Policy { return newTinyLFU(c, caffeineOptions) },
	"s3fifo":   func(c Config) Policy { return newS3FIFO(c) },
	"adaptive-wide": func(c Config) Policy {
		return newTinyLFU(c, wideOptions)
	},
}

// caffeineOptions are Caffeine's (and otter v2's): 1% window, 80% of main
// protected, an 8-byte-per-entry sketch aging every 10 increments per entry,
// hill climbing.
var caffeineOptions = tinyLFUOptions{
	windowFrac:    0.01,
	protectedFrac: 0.80,
	sketchScale:   1,
	sampleFactor:  10,
	adapt:         adaptClimb,
	stepFrac:      0.0625,
	decay:         0.98,
	restart:       0.05,
}

// adaptiveOptions are the product policy's; doc.go has the measurements.
var adaptiveOptions = tinyLFUOptions{
	windowFrac:    0.01,
	protectedFrac: 0.80,
	sketchScale:   1,
	sketchFloor:   productSketchFloor,
	sampleFactor:  40,
	adapt:         adaptMiniSim,
}

// wideOptions are the product policy with a sketch twice as large (16 bytes
// per entry): a little more accurate in count mode, worse in the cache,
// where the policy's memory is charged to the quota (doc.go).
var wideOptions = tinyLFUOptions{
	windowFrac:    0.01,
	protectedFrac: 0.80,
	sketchScale:   2,
	sketchFloor:   productSketchFloor,
	sampleFactor:  20,
	adapt:         adaptMiniSim,
}

// productSketchFloor is the product's smallest sketch, 4096 words = 32 KiB
// (65536 counters). In a table sized for a few hundred entries, collisions
// decide too many admission contests (gli at 750 entries moved by 2 points
// with the hash function), and 32 KiB is nothing next to the smallest
// cache (1 MiB).
const productSketchFloor = 4096

// New returns the policy called name: "" or "adaptive" is the product
// policy; Names lists the others (baselines for the simulator).
func New(name string, cfg Config) (Policy, error) {
	if name == "" {
		name = "adaptive"
	}
	mk, ok := constructors[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownPolicy, name)
	}
	if cfg.Capacity < 0 {
		return nil, fmt.Errorf("policy: negative capacity %d", cfg.Capacity)
	}
	return mk(cfg), nil
}

// Names returns every name New accepts, sorted; the product policy first.
func Names() []string {
	names := make([]string, 0, len(constructors))
	for n := range constructors {
		if n != "adaptive" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return append([]string{"adaptive"}, names...)
}
