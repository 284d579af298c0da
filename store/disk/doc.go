// Package disk is respcache's embedded, persistent, Redis-compatible
// command engine, used when no upstream Redis is configured. It executes
// Redis commands against a pebble (github.com/cockroachdb/pebble/v2)
// database and produces the reply bytes redis-server 7.0.15 would, in RESP2
// or RESP3. The proxy keeps connection-level commands (AUTH, HELLO, CLIENT,
// QUIT, RESET) and hands everything else to Conn.Do.
//
// # On-disk layout (layout version 1)
//
// Every record key starts with a one-byte prefix naming its key space:
//
//	'm' db(1) hash64(key)(8) key          -> meta record
//	'x' expireAt(8) db(1) key             -> empty: the TTL index
//	'e' gen(8) member                     -> element value
//	'z' gen(8) sortableFloat(score)(8) member -> empty: zset score index
//	's' name                              -> store-wide records ("dbmap")
//
// db is the physical database; logical databases (SELECT) map onto
// physical ones through the "dbmap" record, so SWAPDB swaps two bytes
// instead of rewriting two keyspaces. hash64 is FNV-1a of the key: meta
// records are stored in hash order, which makes a SCAN cursor a plain
// position (the hash to resume from: every key present for the whole scan
// is returned, with no server-side cursor state) and RANDOMKEY a seek to a
// random hash.
//
// A meta record is version(1)=1 type(1) expireAt(8, unix ms, 0 = none)
// gen(8) count(8) payload. Strings keep their value in the payload, so GET
// is one point read. Collections keep their elements under 'e' gen: hash
// field -> insertion number(8) value (the next number is the hash's meta
// payload; HGETALL and friends list fields in insertion order, as Redis does
// for small hashes); set member -> empty; zset member -> 8-byte sortable score,
// plus 'z' gen score member -> empty for range queries by score; list items
// under member = index with the sign bit flipped (so indexes sort and LPUSH
// grows below 0), with head/tail in the list's meta payload. count is the
// number of elements (HLEN, SCARD, ZCARD, LLEN are O(1)).
//
// The generation gen is handed out from a store-wide counter, so a new key
// never sees elements of an older key of the same name. Deleting or
// overwriting a collection of more than 16 elements writes one pebble range
// tombstone over its generation: O(1) for any size, the space is reclaimed
// by compaction in the background. Smaller collections get point deletes,
// so that churn of small hashes does not pile up range tombstones that
// every read would have to step over. RENAME and MOVE move only the meta record (elements are
// not keyed by name or db). Generations are not persisted: at Open the
// counter restarts above the highest live one; reusing the generation of a
// deleted collection is safe because its range tombstone has a lower
// sequence number than anything written afterwards.
//
// # Expiry
//
// A key with a TTL has an entry in the TTL index, ordered by deadline. The
// active expiry goroutine reads the due prefix of that index every 100ms
// and deletes those keys (under their locks, rechecking the meta record),
// never scanning the keyspace. Every command also checks the deadline in
// the meta record it reads (lazy expiry): an expired key is invisible to
// every command, including EXISTS, SCAN, KEYS, RANDOMKEY, DBSIZE and INFO
// keyspace; DBSIZE subtracts the due entries of the index from the per-db
// counter, so it is exact without a scan.
//
// # Concurrency and lock order
//
// Each command declares its keys (command table: first/last/step or a
// keys function). The dispatcher takes, in this order:
//
//  1. Store.global: shared by every command; exclusive by commands that
//     span the keyspace or several dbs (FLUSHDB, FLUSHALL, SWAPDB, MOVE,
//     COPY) and by an EXEC containing one. It guards the db map.
//  2. the key stripes (1024 RWMutexes chosen by hash of db and key), in
//     ascending stripe order, exclusive for writing commands, shared for
//     reads; an EXEC takes the stripes of every queued command and every
//     watched key.
//  3. Store.countMu (leaf): shared around each batch commit and its counter
//     update, exclusive while DBSIZE/INFO read the counters and the due part
//     of the TTL index, so that they never see one without the other.
//  4. Store.watchMu (leaf): the WATCH registry, taken briefly after commit.
//
// A writing command runs on an indexed pebble batch (it reads its own
// writes) and commits it before releasing its locks; MULTI/EXEC runs all
// queued commands on one batch under the union of their locks, so a
// transaction is atomic for other Conns and for crash recovery. Reads use
// the DB directly under shared locks.
//
// WATCH registers (db, key) -> Conn in Store.watchers. A commit that
// modified a key marks every Conn watching it dirty; EXEC of a dirty Conn,
// or of one whose watched key expired since WATCH, answers a null array,
// as Redis 7.0 does. The registration takes the key's stripe, so a
// concurrent writer either commits before it or sees it.
//
// # Durability
//
// Options.Fsync "always" commits every batch with pebble.Sync before Do
// returns: pebble's commit pipeline groups concurrent commits into one WAL
// write and sync (group commit). "everysec" commits without sync and a
// goroutine syncs the WAL each second; "no" leaves it to the OS. Open
// replays the WAL after a crash. CONFIG SET appendfsync switches policy at
// run time.
//
// # Known differences from redis-server 7.0.15
//
//   - HGETALL/HKEYS/HVALS/HSCAN list fields in insertion order whatever the
//     size (Redis: hash-table order once a hash outgrows its listpack).
//   - HSCAN returns the whole hash in one reply with cursor 0, as Redis does
//     for small (listpack) hashes, whatever the size.
//   - SCAN returns exactly COUNT keys per call (before MATCH/TYPE filtering)
//     in hash order; Redis returns about COUNT.
//   - INFO has fewer fields than Redis; INFO keyspace's avg_ttl is an
//     estimate from the 100 nearest deadlines.
//   - INCRBYFLOAT/HINCRBYFLOAT emulate the x87 80-bit long double Redis uses
//     (64-bit mantissa with math/big), so results and formatting match on
//     amd64; exponents beyond ±16384 are handled approximately.
//   - Glob patterns nest at most 10000 '*' deep.
package disk
