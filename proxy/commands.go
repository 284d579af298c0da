package proxy

//go:generate go run ./internal/gencommands -addr ${REDIS_ADDR} -out commands_gen.go

import (
	"strings"

	"github.com/respcache/respcache/resp"
)

// CommandFlags are the flags COMMAND reports for a command.
type CommandFlags uint32

// Command flags, as redis-server names them.
const (
	FlagWrite CommandFlags = 1 << iota
	FlagReadonly
	FlagDenyoom
	FlagModule
	FlagAdmin
	FlagPubsub
	FlagNoscript
	FlagBlocking
	FlagLoading
	FlagStale
	FlagSkipMonitor
	FlagSkipSlowlog
	FlagAsking
	FlagFast
	FlagNoAuth
	FlagMayReplicate
	FlagSentinel
	FlagOnlySentinel
	FlagNoMandatoryKeys
	FlagProtected
	FlagMovablekeys
	FlagNoMulti
	FlagAllowBusy
	FlagNoAsyncLoading
)

// KeyFlags are the flags of a key specification.
type KeyFlags uint16

// Key-spec flags, as redis-server names them.
const (
	KeyRo KeyFlags = 1 << iota
	KeyRw
	KeyOw
	KeyRm
	KeyAccess
	KeyUpdate
	KeyInsert
	KeyDelete
	KeyNotKey
	KeyIncomplete
	KeyVariableFlags
)

// KeySpec says where a command's keys are, as in COMMAND INFO's
// key_specifications: a begin-search step (an index, or a keyword searched
// from StartFrom) followed by a find-keys step (a range, or a count read
// from the arguments).
type KeySpec struct {
	Flags KeyFlags

	BeginIndex   int
	BeginKeyword string
	StartFrom    int
	BeginUnknown bool

	LastKey, KeyStep, Limit int
	KeyNum                  bool
	KeyNumIdx, FirstKey     int
	FindUnknown             bool
}

// Command is one entry of the command table.
type Command struct {
	Name  string // lower case; "parent|sub" is not used, subcommands nest
	Arity int    // Redis's arity: >0 exact, <0 at least -Arity
	Flags CommandFlags
	// FirstKey, LastKey and KeyStep are the legacy key positions.
	FirstKey, LastKey, KeyStep int
	KeySpecs                   []KeySpec
	Subcommands                []*Command

	// read says how the local cache answers the command (cached.go).
	read readKind
	// idx numbers the command for per-server state (telemetry.go).
	idx int
	// spanName is the name of its spans: upper case, a subcommand after a
	// space ("CONFIG GET"), as Redis users and OpenTelemetry's Redis
	// conventions spell commands.
	spanName string
}

// Has reports whether all of f are set.
func (c *Command) Has(f CommandFlags) bool { return c.Flags&f == f }

// commandTable maps lower-case names to commands.
var commandTable = func() map[string]*Command {
	m := make(map[string]*Command, len(commandList))
	for _, c := range commandList {
		m[c.Name] = c
	}
	return m
}()

// lookupCommand finds the command named by args[0] and, for a container
// command (CONFIG, CLIENT, ...), the subcommand in args[1]. It allocates
// nothing for names up to 32 bytes. It returns nil for an unknown command;
// for an unknown subcommand it returns the container.
func lookupCommand(args [][]byte) *Command {
	if len(args) == 0 {
		return nil
	}
	c := lookupName(commandTable, args[0])
	if c == nil || len(c.Subcommands) == 0 || len(args) < 2 {
		return c
	}
	var buf [32]byte
	sub := lowerInto(buf[:0], args[1])
	for _, s := range c.Subcommands {
		// Subcommand names are stored as "parent|sub".
		if i := strings.IndexByte(s.Name, '|'); i >= 0 && s.Name[i+1:] == string(sub) {
			return s
		}
	}
	return c
}

func lookupName(m map[string]*Command, name []byte) *Command {
	var buf [32]byte
	if len(name) > len(buf) {
		return m[strings.ToLower(string(name))]
	}
	return m[string(lowerInto(buf[:0], name))] // the conversion in a map index does not allocate
}

func lowerInto(dst, s []byte) []byte {
	for _, c := range s {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// isName reports whether arg equals name, ignoring ASCII case on both sides
// (key-spec keywords are stored upper-case, command names lower-case).
func isName(arg []byte, name string) bool {
	if len(arg) != len(name) {
		return false
	}
	for i := 0; i < len(arg); i++ {
		a, n := arg[i], name[i]
		if a >= 'A' && a <= 'Z' {
			a += 'a' - 'A'
		}
		if n >= 'A' && n <= 'Z' {
			n += 'a' - 'A'
		}
		if a != n {
			return false
		}
	}
	return true
}

// arityOK checks args against the command's arity.
func (c *Command) arityOK(n int) bool {
	if c.Arity >= 0 {
		return n == c.Arity
	}
	return n >= -c.Arity
}

// appendKeyPositions appends the argument indexes of the keys of args, as
// redis-server's getKeysUsingKeySpecs finds them. A spec whose keys cannot
// be found (a missing keyword, a bad count) contributes none; the command
// itself then replies with its usual error.
//
// SORT and MIGRATE have key specs redis-server cannot use (SORT's STORE key
// has an unknown begin-search step, MIGRATE's KEYS spec is incomplete), so
// for them redis-server falls back to its getkeys procedures, and so does
// this (appendSortKeys, appendMigrateKeys).
func (c *Command) appendKeyPositions(dst []int, args [][]byte) []int {
	switch c.Name {
	case "sort":
		return appendSortKeys(dst, args)
	case "migrate":
		return appendMigrateKeys(dst, args)
	}
	argc := len(args)
	for i := range c.KeySpecs {
		s := &c.KeySpecs[i]
		if s.BeginUnknown || s.FindUnknown || s.Flags&KeyNotKey != 0 {
			continue
		}
		first := 0
		if s.BeginKeyword == "" {
			first = s.BeginIndex
		} else {
			start, end := s.StartFrom, argc-1
			if s.StartFrom <= 0 {
				start, end = argc+s.StartFrom, 0
			}
			for j := start; j != end; {
				if j >= argc || j < 1 {
					break
				}
				if isName(args[j], s.BeginKeyword) {
					first = j + 1
					break
				}
				if start <= end {
					j++
				} else {
					j--
				}
			}
			if first == 0 {
				continue
			}
		}
		var last, step int
		if !s.KeyNum {
			step = s.KeyStep
			switch {
			case s.LastKey >= 0:
				last = first + s.LastKey
			case s.Limit == 0:
				last = argc + s.LastKey
			default:
				last = first + ((argc-first)/s.Limit + s.LastKey)
			}
		} else {
			step = s.KeyStep
			if first+s.KeyNumIdx >= argc {
				continue
			}
			n, ok := resp.ParseInt(args[first+s.KeyNumIdx])
			if !ok || n < 0 || n > int64(argc) {
				continue
			}
			first += s.FirstKey
			last = first + int(n) - 1
		}
		if step <= 0 {
			step = 1
		}
		for j := first; j <= last; j += step {
			if j >= argc || j < first {
				break
			}
			dst = append(dst, j)
		}
	}
	return dst
}

// appendSortKeys is redis-server's sortGetKeys: the sorted key, and the key
// after the last STORE, skipping the arguments of LIMIT, GET and BY.
func appendSortKeys(dst []int, args [][]byte) []int {
	dst = append(dst, 1)
	store := 0
	for i := 2; i < len(args); i++ {
		switch {
		case isName(args[i], "limit"):
			i += 2
		case isName(args[i], "get"), isName(args[i], "by"):
			i++
		case isName(args[i], "store") && i+1 < len(args):
			store = i + 1
		}
	}
	if store > 0 {
		dst = append(dst, store)
	}
	return dst
}

// appendMigrateKeys is redis-server's migrateGetKeys: the key argument, or
// with the KEYS option (and an empty key argument) every argument after
// KEYS, skipping the arguments of AUTH and AUTH2 on the way.
func appendMigrateKeys(dst []int, args [][]byte) []int {
	first, num := 3, 1
	for i := 6; i < len(args); i++ {
		if isName(args[i], "keys") {
			if len(args[3]) > 0 {
				return dst // redis-server refuses KEYS with a non-empty key
			}
			first, num = i+1, len(args)-i-1
			break
		}
		switch {
		case isName(args[i], "auth"):
			i++
		case isName(args[i], "auth2"):
			i += 2
		}
	}
	for i := 0; i < num && first+i < len(args); i++ {
		dst = append(dst, first+i)
	}
	return dst
}
