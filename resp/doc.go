// Package resp reads and frames the Redis serialization protocol (RESP2 and
// RESP3) on both sides of the proxy: client requests (Reader) and upstream
// replies (ScanReply).
//
// It is its own leaf package because three owners need the wire format and
// may not import each other: the proxy (client side), store/redis (upstream
// side) and, later, the write-back journal.
//
// # Why not redcon's reader
//
// github.com/tidwall/redcon stays the project's RESP server library: replies
// are encoded with its Append* functions. Its request Reader is replaced here,
// as STYLE.md allows, for three measured or observable reasons:
//
//   - it allocates per command (a copy of the raw command, the Args slice and
//     a marks slice); this Reader allocates nothing per command once its
//     buffers have grown to the working size;
//   - it grows its buffer to whatever a client claims, so one connection can
//     make the process buffer a 600MiB bulk string; this Reader refuses a bulk
//     length above MaxBulkLen as soon as the length line arrives, before any
//     payload is buffered, and grows only as payload actually arrives;
//   - it differs from redis-server 7.0.15 on the wire: it rejects "*0" and
//     negative counts (Redis skips them), checks the CRLF after a bulk (Redis
//     skips two bytes unchecked), and its inline splitting is not Redis's
//     sdssplitargs (hex escapes, single quotes). Error texts and the close
//     after a protocol error here match redis-server byte for byte; the
//     golden cases in reader_test.go were taken from a live 7.0.15.
//
// # Replies
//
// ScanReply finds the end of one complete reply in a buffer without decoding
// it, iteratively (a counter of outstanding elements, no recursion), so a
// deeply nested reply costs no stack. The proxy relays the exact bytes, which
// is how replies stay byte-identical: go-redis's typed replies cannot tell a
// status reply from a bulk string.
package resp
