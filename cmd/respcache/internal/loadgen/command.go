package loadgen

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is a command the load generator can send.
type Kind uint8

// Command kinds. Reads: Get, MGet, HGet, HGetAll, Exists. Writes: Set, MSet,
// HSet, Del.
const (
	Get     Kind = iota // GET key
	Set                 // SET key value
	MGet                // MGET key… (Command.Keys keys)
	MSet                // MSET key value… (Command.Keys pairs)
	HGet                // HGET key field
	HSet                // HSET key field value
	HGetAll             // HGETALL key
	Exists              // EXISTS key
	Del                 // DEL key
	numKinds
)

// HashFields is the number of fields of each hash: HGET and HSET pick a
// field f0…f9 uniformly, and the fill writes all of them.
const HashFields = 10

type kindInfo struct {
	name    string // as typed in --commands
	verb    string // as sent
	write   bool
	hash    bool // works on hash keys
	str     bool // works on string keys
	multi   bool // takes :N
	argsPer int  // arguments per key after the verb: 1 (key) or 2 (key value)
}

var kinds = [numKinds]kindInfo{
	Get:     {name: "get", verb: "GET", str: true, argsPer: 1},
	Set:     {name: "set", verb: "SET", write: true, str: true, argsPer: 2},
	MGet:    {name: "mget", verb: "MGET", str: true, multi: true, argsPer: 1},
	MSet:    {name: "mset", verb: "MSET", write: true, str: true, multi: true, argsPer: 2},
	HGet:    {name: "hget", verb: "HGET", hash: true, argsPer: 2},
	HSet:    {name: "hset", verb: "HSET", write: true, hash: true, argsPer: 3},
	HGetAll: {name: "hgetall", verb: "HGETALL", hash: true, argsPer: 1},
	Exists:  {name: "exists", verb: "EXISTS", argsPer: 1},
	Del:     {name: "del", verb: "DEL", write: true, argsPer: 1},
}

// Command is one entry of the mix.
type Command struct {
	Kind Kind
	// Keys is the number of keys of an MGET or MSET (>= 1); 1 for the
	// others.
	Keys int
}

// Name is the command as reports show it: "GET", "MGET:10".
func (c Command) Name() string {
	n := kinds[c.Kind].verb
	if kinds[c.Kind].multi {
		n += ":" + strconv.Itoa(c.Keys)
	}
	return n
}

// IsWrite reports whether the command modifies data (it is drawn with
// probability 1 - ReadRatio).
func (c Command) IsWrite() bool { return kinds[c.Kind].write }

// usesHashes reports whether the mix's keys are hashes.
func usesHashes(cmds []Command) bool {
	for _, c := range cmds {
		if kinds[c.Kind].hash {
			return true
		}
	}
	return false
}

// ParseCommands parses a mix such as "get,set", "hget,hset", "mget:10" or
// "get,mget:10,set": comma-separated names (case ignored) of get, set,
// mget:N, mset:N, hget, hset, hgetall, exists, del; N (1 to 10000, default
// 1) is the number of keys of an mget/mset. A command is drawn by first
// choosing reads (probability ReadRatio) or writes, then one of that group
// uniformly. A name may appear once.
func ParseCommands(spec string) ([]Command, error) {
	var cmds []Command
	seen := map[string]bool{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		name, arg, hasArg := strings.Cut(item, ":")
		k, ok := kindByName(name)
		if !ok {
			return nil, fmt.Errorf("%w: unknown command %q in %q (known: %s)", ErrInvalidOptions, name, spec, knownNames())
		}
		c := Command{Kind: k, Keys: 1}
		if hasArg {
			if !kinds[k].multi {
				return nil, fmt.Errorf("%w: %s takes no :N", ErrInvalidOptions, name)
			}
			n, err := strconv.Atoi(arg)
			if err != nil || n < 1 || n > 10000 {
				return nil, fmt.Errorf("%w: %q: key count must be 1 to 10000", ErrInvalidOptions, item)
			}
			c.Keys = n
		}
		if seen[c.Name()] {
			return nil, fmt.Errorf("%w: %s listed twice", ErrInvalidOptions, c.Name())
		}
		seen[c.Name()] = true
		cmds = append(cmds, c)
	}
	if err := validateMix(cmds); err != nil {
		return nil, err
	}
	return cmds, nil
}

// validateMix refuses empty mixes and mixes whose commands would collide on
// key types (HGET on a key SET wrote answers WRONGTYPE).
func validateMix(cmds []Command) error {
	if len(cmds) == 0 {
		return fmt.Errorf("%w: empty command mix", ErrInvalidOptions)
	}
	var str, hash string
	for _, c := range cmds {
		if c.Kind >= numKinds {
			return fmt.Errorf("%w: unknown command kind %d", ErrInvalidOptions, c.Kind)
		}
		if c.Keys < 1 || (!kinds[c.Kind].multi && c.Keys != 1) {
			return fmt.Errorf("%w: %s with %d keys", ErrInvalidOptions, kinds[c.Kind].verb, c.Keys)
		}
		if kinds[c.Kind].str {
			str = c.Name()
		}
		if kinds[c.Kind].hash {
			hash = c.Name()
		}
	}
	if str != "" && hash != "" {
		return fmt.Errorf("%w: %s works on strings and %s on hashes: they would share keys", ErrInvalidOptions, str, hash)
	}
	return nil
}

func kindByName(name string) (Kind, bool) {
	for k, ki := range kinds {
		if ki.name == name {
			return Kind(k), true
		}
	}
	return 0, false
}

func knownNames() string {
	names := make([]string, 0, numKinds)
	for _, ki := range kinds {
		n := ki.name
		if ki.multi {
			n += ":N"
		}
		names = append(names, n)
	}
	return strings.Join(names, ", ")
}

// SizeRange is an inclusive range of sizes in bytes; Min == Max is a fixed
// size.
type SizeRange struct {
	Min, Max int
}

// String returns "100" or "64-1024", the form ParseSizeRange reads.
func (r SizeRange) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(r.Min)
	}
	return strconv.Itoa(r.Min) + "-" + strconv.Itoa(r.Max)
}

// ParseSizeRange parses "100" (every value 100 bytes) or "64-1024" (sizes
// uniform in [64, 1024]). Sizes are bytes, 0 to MaxValueSize; the maximum
// must be at least 1, since the zero SizeRange means the default in Options.
func ParseSizeRange(s string) (SizeRange, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "-")
	if !isRange {
		hi = lo
	}
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil || a < 0 || b < a || b < 1 || b > MaxValueSize {
		return SizeRange{}, fmt.Errorf("%w: value size %q: want N or MIN-MAX bytes with 0 <= MIN <= MAX <= %d and MAX >= 1", ErrInvalidOptions, s, MaxValueSize)
	}
	return SizeRange{Min: a, Max: b}, nil
}
