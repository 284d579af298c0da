// Package proxy is respcache's RESP front end: it accepts clients, keeps
// each connection's state (database, authentication, RESP version, name,
// transaction, subscription), decides for every command where it runs, and
// writes replies back in order.
//
// # Byte fidelity
//
// A reply that passes through respcache is the reply Redis sent, byte for
// byte, in RESP2 and RESP3. go-redis's typed replies cannot give that: a
// status reply and a bulk string both decode to a Go string, RESP3
// attributes are dropped, and doubles and big numbers are re-formatted. So
// the data path never decodes: requests are forwarded as the client's own
// RESP bytes (inline requests re-encoded as multibulk), and replies are
// framed by resp.ScanReply and copied through. go-redis stays on the
// control plane (store/redis: Sentinel and cluster slot discovery).
// Commands answered locally (below) are encoded with redcon's Append
// functions and match redis-server 7.0.15's bytes, checked by the
// differential test in diff_test.go.
//
// # The connection loop
//
// github.com/tidwall/redcon is the RESP server library, but its request
// reader is replaced by resp.Reader (reasons and numbers in package resp):
// each connection's goroutine reads a batch of pipelined commands (at most
// maxBatch), dispatches each into a reply slot, flushes the upstream lanes
// it touched once, waits for the replies, and writes the batch's replies in
// order with one write. A batch therefore costs one read and one write
// syscall on the client side however deep the pipeline.
//
// # Where a command runs
//
// In redis-server's order, a command is first checked for being known, its
// arity, authentication (auth.password: NOAUTH, WRONGPASS) and
// limits.deny_commands (NOPERM); unauthenticated commands never reach the
// upstream, so those errors are written here. Then:
//
//   - connection commands are answered locally: AUTH, HELLO, SELECT,
//     QUIT, RESET, CLIENT SETNAME/GETNAME/ID/INFO/LIST/REPLY/UNBLOCK, and
//     (P|S)UNSUBSCRIBE from a client with no subscription;
//   - stateful commands take a pinned upstream connection (pinned.go):
//     MULTI and WATCH until EXEC/DISCARD/UNWATCH, blocking commands for
//     their duration, the subscribe family, MONITOR and CLIENT TRACKING for
//     the rest of the connection;
//   - in a Cluster, keyspace-wide commands fan out to every master and
//     their replies are merged (fanout.go), and multi-key commands whose
//     keys span slots get CROSSSLOT;
//   - cacheable reads are answered from the local cache, or filled
//     (cached.go, below);
//   - everything else, including commands respcache does not know, goes to
//     the shared lane of the node serving its keys, and the upstream's
//     reply is the reply; writes update or drop the local copies when their
//     reply arrives.
//
// With the embedded disk store as the backend (store.go) there are no lanes
// or pinned connections: each client has its own store connection, and
// every command that is not a connection command runs on it in the
// session's goroutine; the store's reply bytes are the reply.
//
// # The read cache
//
// cached.go has the mechanism and its races; in short: a hit is rendered
// from the cached value in the session goroutine (strings and whole hashes,
// in Redis's reply shapes for RESP2 and RESP3). A miss sends MULTI, GET or
// HGETALL, PTTL (and OBJECT ENCODING for hashes) and EXEC on the client's
// own lane, so it keeps its place in the pipeline, and value and TTL are one
// snapshot; concurrent misses of a key share one fill (cache.StartFill).
// Once a command that may change data is queued in a batch, later reads of
// the batch go upstream instead of overtaking it. A write takes the key's
// version before it is sent and stores its result only if no invalidation
// or other write came meanwhile (cache.SetIfUnchanged); the client's reply
// is written after that, so a client always reads its own writes. The
// invalidation link (store/redis Track: CLIENT TRACKING BCAST per master)
// drops keys other writers change; while it is down reads bypass the cache
// unless serve-stale is on. INFO respcache (info.go) reports the counters.
//
// The command table (commands_gen.go) is generated from redis-server
// 7.0.15's COMMAND output by internal/gencommands: flags, arity and key
// specifications, from which key positions are found as redis-server's
// getKeysUsingKeySpecs finds them.
//
// # Limits
//
// limits.max_clients refuses further clients with Redis's error;
// limits.idle_timeout closes idle ones; limits.proto_max_bulk_len refuses a
// bulk string before any of it is buffered; a batch whose replies exceed
// limits.client_output_buffer closes its client. A protocol error ends only
// the connection that sent it.
package proxy
