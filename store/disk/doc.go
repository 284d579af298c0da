// Package disk is respcache's embedded, persistent, Redis-compatible
// command engine, used when no upstream Redis is configured. It executes
// Redis commands against a pebble (github.com/cockroachdb/pebble/v2)
// database and produces the reply bytes redis-server 7.0.15 would, in RESP2
// or RESP3. The proxy keeps connection-level commands (AUTH, HELLO, CLIENT,
// QUIT, RESET) and hands everything else to Conn.Do.
//
// # On-disk layout (layout version 1)
//
// Every record key starts with a one-byte prefix naming its key space;
// integers are big-endian, fixed width (bytes in parentheses):
//
//	'm' db(1) hash64(key)(8) key                 -> meta record or dead marker
//	'x' expireAt(8) db(1) key                    -> empty: the TTL index
//	'e' gen(8) member                            -> element value
//	'z' gen(8) sortableFloat(score)(8) member    -> empty: zset score index
//	's' "dbmap"                                  -> logical db -> physical db, one byte each
//
// db is the physical database; logical databases (SELECT) map onto
// physical ones through the "dbmap" record, so SWAPDB swaps two bytes
// instead of rewriting two keyspaces. hash64 is FNV-1a of the key: meta
// records are stored in hash order, which makes a SCAN cursor a plain
// position (the hash to resume from: every key present for the whole scan
// is returned, with no server-side cursor state) and RANDOMKEY a seek to a
// random hash. expireAt is unix milliseconds.
//
// A meta record is
//
//	version(1)=1 type(1) expireAt(8) gen(8) count(8) payload
//
// with type 1 string, 2 hash, 3 list, 4 set, 5 zset; expireAt in unix ms,
// 0 = no expiry; gen 0 for strings; count the number of elements (0 for
// strings; HLEN, SCARD, ZCARD, LLEN are O(1)). The payload is
//
//	string  the value (GET is one point read)
//	hash    nextSeq(8): the insertion number of the next new field (empty = 0)
//	list    head(8) tail(8), signed: the items are the indexes [head, tail)
//	set     empty
//	zset    lo(8) hi(8), in sortableFloat space: every score-index entry
//	        of the zset lies in [lo, hi) (empty zset: lo = 2^64-1, hi = 0;
//	        a payload of another length means no bound)
//
// A dead marker is the two-byte value version(1)=1 type(1)=0: the key was
// deleted (see Deletes). Collections keep their elements under 'e' gen:
//
//	hash  field             -> seq(8) value: seq is the field's insertion
//	                           number, so HGETALL and friends list fields
//	                           in insertion order, as Redis does for small
//	                           hashes
//	list  index(8)          -> item: index i with its sign bit flipped, so
//	                           indexes sort and LPUSH grows below 0
//	set   member            -> empty
//	zset  member            -> sortableFloat(score)(8), plus the score index
//	                           'z' gen score member -> empty for ranges
//
// sortableFloat(f) is the IEEE 754 bits of f with the sign bit set for
// f >= 0 and all bits inverted for f < 0, so the bytes sort in numeric
// order; -0 is stored as +0.
//
// The generation gen is handed out from a store-wide counter, so a new key
// never sees elements of an older key of the same name. Deleting or
// overwriting a collection of more than 16 elements writes one pebble range
// tombstone over its generation: O(1) for any size, the space is reclaimed
// by compaction in the background. Smaller collections get point deletes,
// so that churn of small hashes does not pile up range tombstones that
// every read would have to step over. RENAME and MOVE move only the meta
// record (elements are not keyed by name or db). Generations are not persisted: at Open the
// counter restarts above the highest live one; reusing the generation of a
// deleted collection is safe because its range tombstone has a lower
// sequence number than anything written afterwards.
//
// # Deletes
//
// Deleting a key (DEL, expiry, a pop of the last element, RENAME/MOVE of
// the source) does not write a pebble tombstone over its meta record but
// overwrites it with a dead marker, a value every reader treats as absent.
// Pebble answers a lookup whose newest version is a value with one seek,
// but one whose newest version is a tombstone only after stepping over
// every older version of the key still in the memtable: a key deleted and
// re-created in a loop (a queue that empties on every pop, SET NX / DEL
// locks) made each lookup O(cycles since the last flush). The markers are
// queued in memory (Store.dead) and a collector goroutine replaces each by
// a real delete once its key's history has left the memtable (3 memtable
// flushes since the marker was last written) or after 30s without a
// rewrite; a key that is still being churned keeps its marker. Markers
// found at Open (a crash or Close before collection) are queued again.
//
// Measured with BenchmarkChurn (2 vCPUs shared with other jobs, so best of
// 4 runs; 64 MiB memtable, Fsync no; cycles/s after the given number of
// earlier cycles of the same key):
//
//	                          1k      10k      50k cycles
//	RPUSH q + LPOP q  before  5.3k    0.77k    -
//	                  after   79k     59k      75k
//	SET NX + DEL      before  6.7k    1.2k     -
//	                  after   76k     257k     288k
//	HSET h f + HDEL   before  6.5k    1.1k     -
//	                  after   71k     75k      58k
//
// Before at 50k cycles was not run (quadratic: minutes). The numbers
// after are noisy; what is left of a trend comes from the memtable's size
// (every seek is O(log n) over a larger skiplist), not from the key's
// history: the benchmark's lookup-steps metric (pebble iterator steps to
// look the key up; 2 per earlier cycle before) is 0 at every history, and
// TestChurnLookupCost checks it. With the 4 MiB memtable of the tests,
// BenchmarkListQueueEmpty went from 6.5k (1k cycles) and 2.3k (10k) to
// 70-83k at both.
//
// Element churn inside a live collection (SADD s m / SREM s m while s
// keeps other members, HSET/HDEL of one field of a bigger hash, ZADD/ZREM
// of one member) still deletes elements with pebble tombstones and slows
// down the same way until the next flush (SADD+SREM of one member: 12.8k
// cycles/s after 1k cycles, 2.8k after 10k).
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
//  5. Store.deadMu (leaf): the queue of dead markers, taken after commit
//     (still under the command's stripes) and by the collector, which
//     otherwise locks like a writing command (global shared, then the
//     stripes of the keys it collects).
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
//   - HGETALL/HKEYS/HVALS list fields in insertion order whatever the size
//     (Redis: hash-table order once a hash outgrows its listpack).
//   - HSCAN/SSCAN/ZSCAN answer in one reply with cursor 0 up to 128 fields
//     or members (512 for a set), as Redis does for its compact encodings,
//     and page bigger collections COUNT elements at a time in member byte
//     order, with a stateless cursor (the next member's first 8 bytes; see
//     scan.go). Redis decides by encoding, so a set of strings or a hash or
//     zset with values over 64 bytes is paged by Redis at smaller sizes; a
//     page is extended past COUNT to finish a run of members sharing their
//     first 8 bytes.
//   - SCAN returns exactly COUNT keys per call (before MATCH/TYPE filtering)
//     in hash order; Redis returns about COUNT.
//   - INFO has fewer fields than Redis; INFO keyspace's avg_ttl is an
//     estimate from the 100 nearest deadlines.
//   - INCRBYFLOAT/HINCRBYFLOAT emulate the x87 80-bit long double Redis uses
//     (64-bit mantissa with math/big), so results and formatting match on
//     amd64; exponents beyond ±16384 are handled approximately.
//   - Glob patterns nest at most 10000 '*' deep.
package disk
