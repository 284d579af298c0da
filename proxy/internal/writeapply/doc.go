// Package writeapply executes Redis string and hash write commands on a
// local copy of the keys they touch, producing the reply and the new state
// exactly as redis-server 7.0.15 would. It is the core of respcache's
// write-back mode: a write on a cached key is applied locally, journaled and
// acknowledged at once, and flushed to the backend later, so the client must
// see Redis's own reply and the cache must hold Redis's own state.
//
// The package is pure: no I/O, no cache, no journal, no clock. The caller
// looks up the states of the keys a command names (Keys gives their argument
// positions), passes them with the current time to Applier.Apply, and gets
// back the new states, the RESP2 or RESP3 reply bytes and whether anything
// was written. Commands outside the modeled set return ErrNotModeled and go
// to the backend unchanged.
//
// # Mechanism
//
// Each command is a transcription of its Redis 7.0 C implementation, with
// the same order of checks, because which error wins when several apply is
// part of the contract: SET validates its options, then the expire value,
// then GET's type check, then NX/XX; EXPIRE rejects an unknown option
// before it parses the time; INCRBY parses its argument before it looks at
// the key while INCRBYFLOAT looks at the key first; GETEX only validates
// its expire value once the key exists and is a string. Integers follow
// Redis's string2ll (canonical decimal only: "-0", " 1", "+1", "0x10" are
// not integers). Expiry follows lazy expiration: a state whose ExpireAt is
// before now is absent, an absolute time at or before now deletes
// (EXPIREAT, GETEX EXAT/PXAT; EXPIRE with a non-positive time), and arity
// errors name the command in lower case as Redis's fullname does.
//
// INCRBYFLOAT and HINCRBYFLOAT compute in x87 80-bit long double, as Redis
// does on x86-64 Linux, and format with "%.17Lf" with trailing zeros cut (so
// 0.2+0.1 is "0.3" and 1e308 prints all its integer digits). Go has no long
// double, so values are kept exactly in math/big and rounded to nearest-even
// at the extended format's precision and range wherever C rounds: glibc
// strtold's input rules (hex floats, inf, subnormals, ERANGE) and the
// addition. This path allocates; the integer and plain string paths do not.
//
// Hashes keep Redis's listpack order (insertion order, updates in place,
// deletions close the gap). When Redis would convert the hash to a
// hashtable (more than 128 entries or a field/value longer than 64 bytes at
// the default hash-max-listpack-* settings; Applier.ListpackEntries and
// ListpackValue give the server's own) Value.Unordered is set: the
// pairs are still exact but HGETALL order is Redis's hashtable order and
// cannot be reproduced. The caller must then not serve order-dependent
// replies from the copy (DESIGN.md, Consistency).
//
// # Memory
//
// An Applier reuses its buffers: steady-state SET, INCR and HSET on a small
// hash do not allocate (BenchmarkApply). Returned states alias args, the
// input states and the Applier's scratch, valid until the next call; the
// caller copies what it keeps (into its pool, or with Value.Clone).
//
// Cost: field lookup in a hash is a linear scan, as in a Redis listpack;
// an HSET of m fields on a hash of n costs O(m·n), which matters only for
// hashes far beyond the listpack limits (Redis uses a hashtable there).
//
// # Not modeled
//
//   - Non-default server configuration: proto-max-bulk-len other than 512MB,
//     lazyfree, replica (read-only) and loading states. (The hash listpack
//     limits, which decide Unordered, are Applier fields.)
//   - Everything around command execution: AUTH/ACL, OOM (maxmemory), MULTI
//     queueing, CLIENT PAUSE, keyspace notifications, CLIENT TRACKING
//     invalidations; the caller handles them before or after Apply.
//   - Other types: a key holding a list, set, zset or stream is not
//     representable as a Value; the caller must not apply commands to it
//     locally (Redis would reply WRONGTYPE, or DEL/EXPIRE would act on it).
//   - Memory limits: SETRANGE or APPEND up to 512MB are executed as Redis
//     does, allocating the result; callers bound item size before calling.
//   - Clock: now is the caller's; Redis uses its own command-start time.
package writeapply
