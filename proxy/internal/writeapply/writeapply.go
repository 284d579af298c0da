package writeapply

import (
	"bytes"
	"errors"
)

// Kind is the type of a key's state.
type Kind uint8

const (
	// Absent means the key does not exist (or has expired).
	Absent Kind = iota
	// String is a Redis string; Value.Str holds its bytes.
	String
	// Hash is a Redis hash; Value.Fields holds its field/value pairs.
	Hash
)

// String returns the name Redis's TYPE command uses ("none", "string", "hash").
func (k Kind) String() string {
	switch k {
	case String:
		return "string"
	case Hash:
		return "hash"
	}
	return "none"
}

// Value is one key's state.
//
// For a Hash, Fields alternates field, value, in the order Redis keeps them
// while the hash is listpack-encoded: insertion order, a changed field stays
// in place, a new field goes to the end. Unordered is set once Redis would
// have converted the hash to a hashtable (more than 128 fields, or a field or
// value longer than 64 bytes, at the default hash-max-listpack-* settings);
// from then on Fields holds the right pairs but Redis's HGETALL order is its
// hashtable's and cannot be predicted, so order-dependent replies must not be
// served from it. Redis never converts back, so Unordered stays set while
// the key lives.
//
// ExpireAt is the absolute expiry in unix milliseconds, 0 for none. As in
// Redis, a key is expired at time now when now > ExpireAt.
type Value struct {
	Kind      Kind
	Str       []byte
	Fields    [][]byte
	ExpireAt  int64
	Unordered bool
}

// expired reports whether v is logically gone at now (Redis keyIsExpired).
func (v *Value) expired(now int64) bool {
	return v.Kind != Absent && v.ExpireAt != 0 && now > v.ExpireAt
}

// Clone returns a deep copy of v that shares no memory with it. Use it to
// keep a state returned by Apply beyond the next call.
func (v Value) Clone() Value {
	c := Value{Kind: v.Kind, ExpireAt: v.ExpireAt, Unordered: v.Unordered}
	switch v.Kind {
	case String:
		c.Str = append([]byte{}, v.Str...)
	case Hash:
		n := 0
		for _, f := range v.Fields {
			n += len(f)
		}
		buf := make([]byte, 0, n)
		c.Fields = make([][]byte, len(v.Fields))
		for i, f := range v.Fields {
			start := len(buf)
			buf = append(buf, f...)
			c.Fields[i] = buf[start:len(buf):len(buf)]
		}
	}
	return c
}

// Equal reports whether a and b hold the same state: same kind, bytes and
// expiry; hash fields compared in order unless either is Unordered, then as
// sets of pairs.
func (a Value) Equal(b Value) bool {
	if a.Kind != b.Kind || a.ExpireAt != b.ExpireAt {
		return false
	}
	switch a.Kind {
	case String:
		return bytes.Equal(a.Str, b.Str)
	case Hash:
		if len(a.Fields) != len(b.Fields) {
			return false
		}
		if !a.Unordered && !b.Unordered {
			for i := range a.Fields {
				if !bytes.Equal(a.Fields[i], b.Fields[i]) {
					return false
				}
			}
			return true
		}
		for i := 0; i+1 < len(a.Fields); i += 2 {
			j := hashFind(b.Fields, a.Fields[i])
			if j < 0 || !bytes.Equal(b.Fields[j+1], a.Fields[i+1]) {
				return false
			}
		}
		return true
	}
	return true
}

// Errors returned by Keys and Apply. A RESP error reply (WRONGTYPE, syntax,
// …) is not an error: it is the reply, with err == nil.
var (
	// ErrNotModeled means the command is not one this package executes; the
	// caller passes it through to the backend.
	ErrNotModeled = errors.New("writeapply: command not modeled")
	// ErrStates means cur does not hold one state per key position of Keys.
	ErrStates = errors.New("writeapply: number of states does not match the command's keys")
)

// Keys returns the argument positions of the keys args touches, in the order
// Apply expects their states. A key named twice (MSET a 1 a 2, DEL a a)
// appears twice. It returns nil, nil when the command has the wrong number of
// arguments (Apply then replies the arity error and touches no key; HSET
// and HMSET with a field but no value still name their key, which Apply
// leaves unchanged while replying the arity error), and
// ErrNotModeled for a command this package does not execute. The returned
// slice is new and owned by the caller; AppendKeys avoids the allocation.
func Keys(args [][]byte) ([]int, error) {
	return AppendKeys(nil, args)
}

// AppendKeys is Keys writing into dst[:0] (growing it if needed) and
// returning the result, for callers that reuse a buffer.
func AppendKeys(dst []int, args [][]byte) ([]int, error) {
	if len(args) == 0 {
		return nil, ErrNotModeled
	}
	cmd := lookup(args[0])
	if cmd == nil {
		return nil, ErrNotModeled
	}
	return cmd.keyPositions(dst, args), nil
}

// keyPositions writes the key positions of args into dst[:0]; nil when the
// arity is wrong.
func (cmd *command) keyPositions(dst []int, args [][]byte) []int {
	if !cmd.arityOK(len(args)) {
		return nil
	}
	switch cmd.keys {
	case keysFirst:
		return append(dst[:0], 1)
	case keysAll:
		dst = dst[:0]
		for i := 1; i < len(args); i++ {
			dst = append(dst, i)
		}
		return dst
	case keysPairs:
		if len(args)%2 == 0 {
			return nil
		}
		dst = dst[:0]
		for i := 1; i < len(args); i += 2 {
			dst = append(dst, i)
		}
		return dst
	}
	return nil
}

// RESP protocol versions for Apply's proto argument.
const (
	RESP2 = 2
	RESP3 = 3
)

// Apply executes one command with a fresh Applier. It allocates; use an
// Applier on a hot path. See Applier.Apply for the contract.
func Apply(now int64, proto int, args [][]byte, cur []Value, dst []byte) (next []Value, reply []byte, changed bool, err error) {
	var a Applier
	return a.Apply(now, proto, args, cur, dst)
}

// Applier executes commands reusing its scratch memory, so that steady-state
// SET, INCR or HSET allocate nothing. The zero value is ready to use. An
// Applier is not safe for concurrent use; use one per goroutine.
type Applier struct {
	// ListpackEntries and ListpackValue are the server's
	// hash-max-listpack-entries and hash-max-listpack-value, which decide
	// Value.Unordered; 0 means Redis's defaults, 128 and 64.
	ListpackEntries, ListpackValue int64

	next   []Value
	canon  []int    // canon[i]: index of the first state naming the same key as state i
	fields [][]byte // scratch for a hash's new field list
	buf    []byte   // scratch for a new string or hash value (INCR, APPEND, HINCRBY, …)
	keys   []int
	x      exec
}

// Apply runs one write command on the states of the keys it touches and
// returns their new states, the reply appended to dst, and whether the
// command wrote: changed is true when Redis would have modified the key
// (and propagated the write), and also when only Value.Unordered was set
// (HSETNX of an existing field with a long value converts the hash in
// Redis without changing its data). When changed is false every state in
// next equals its input, except that expired inputs come back Absent.
//
// args[0] is the command name in any case; args are never modified. cur
// holds one state per position returned by Keys(args), in that order; a
// state whose ExpireAt is before now is treated as absent, as Redis's lazy
// expiry does, and comes back as Absent. now is the time in unix
// milliseconds at which Redis would run the command; proto is RESP2 or RESP3
// (any other value means RESP2) and only changes how nulls are written.
//
// The reply is exactly what redis-server 7.0.15 would send, errors included
// (an error reply is a reply: err is nil). err is ErrNotModeled for a
// command this package does not execute, with nothing appended to dst, and
// ErrStates when len(cur) is wrong.
//
// Ownership: next and the byte slices inside it may alias args, cur and the
// Applier's scratch memory. They stay valid until the next call on this
// Applier and as long as args and cur are not modified. A caller that keeps
// a state must copy it (Value.Clone, or into its own storage), and must not
// pass states that alias this Applier's scratch back in as cur.
func (a *Applier) Apply(now int64, proto int, args [][]byte, cur []Value, dst []byte) (next []Value, reply []byte, changed bool, err error) {
	if len(args) == 0 {
		return nil, dst, false, ErrNotModeled
	}
	cmd := lookup(args[0])
	if cmd == nil {
		return nil, dst, false, ErrNotModeled
	}
	if a.keys == nil {
		a.keys = make([]int, 0, 4)
	}
	keys := cmd.keyPositions(a.keys, args)
	if keys != nil {
		a.keys = keys
	}
	if len(cur) != len(keys) {
		return nil, dst, false, ErrStates
	}
	a.next = append(a.next[:0], cur...)
	for i := range a.next {
		if a.next[i].Kind == Absent || a.next[i].expired(now) {
			a.next[i] = Value{}
		}
	}
	if !cmd.arityOK(len(args)) {
		return a.next, appendArityErr(dst, cmd.name), false, nil
	}
	a.buf = a.buf[:0]
	// exec lives in the Applier: handed to a function value it would
	// otherwise escape and cost an allocation per command.
	x := &a.x
	*x = exec{a: a, cmd: cmd, now: now, proto: proto, args: args, st: a.next, dst: dst}
	if len(keys) > 1 {
		x.dedupe()
	}
	cmd.run(x)
	if len(keys) > 1 {
		for i, c := range a.canon {
			if c != i {
				a.next[i] = a.next[c]
			}
		}
	}
	// SET … EXAT/PXAT in the past stores a key that is already expired;
	// Redis drops it at the next access, so it is absent from here on.
	for i := range a.next {
		if a.next[i].expired(now) {
			a.next[i] = Value{}
		}
	}
	reply, changed = x.dst, x.changed
	*x = exec{} // drop references to the caller's memory
	return a.next, reply, changed, nil
}

// exec is the state of one Apply call, handed to a command's run function.
type exec struct {
	a       *Applier
	cmd     *command
	now     int64
	proto   int
	args    [][]byte
	st      []Value // states, indexed like Keys; duplicates resolved via canon
	dst     []byte
	changed bool
}

// dedupe maps each state to the first state naming the same key, so that a
// command naming a key twice sees its own earlier effect, as in Redis.
func (x *exec) dedupe() {
	a := x.a
	keys := a.keys
	a.canon = a.canon[:0]
	for i, p := range keys {
		c := i
		for j := 0; j < i; j++ {
			if bytes.Equal(x.args[keys[j]], x.args[p]) {
				c = j
				break
			}
		}
		a.canon = append(a.canon, c)
	}
}

// state returns the state for key index i (index into Keys), following
// duplicates to their first occurrence.
func (x *exec) state(i int) *Value {
	if len(x.st) > 1 {
		return &x.st[x.a.canon[i]]
	}
	return &x.st[i]
}

// scratch returns the Applier's value scratch, emptied, for building one new
// value per call.
func (x *exec) scratch() []byte { return x.a.buf[:0] }

// keep records b as the scratch buffer's new contents so its capacity is
// reused by the next call.
func (x *exec) keep(b []byte) []byte {
	x.a.buf = b
	return b
}
