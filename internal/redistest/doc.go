// Package redistest is the test support every respcache test that needs a
// real Redis uses: real redis-server, Redis Cluster and Sentinel processes on
// free 127.0.0.1 ports, a raw RESP client that returns reply bytes exactly as
// they arrived, a poll-until helper, a plain TCP relay, and the differential
// test that proves a proxy relays Redis replies byte for byte.
//
// It is imported only from _test.go files; it uses the standard library only
// and shares no code with the proxy, so that the two cannot share a bug.
//
// # Servers
//
// Start runs redis-server with its own t.TempDir(), no persistence
// (save "", appendonly no) and DEBUG enabled, waits until PING answers and
// stops it in t.Cleanup. Ports come from the kernel (listen on port 0, close,
// hand the port to redis-server); another process can take the port in
// between, so a server that exits with "Address already in use" is retried
// on a new port. Kill (SIGKILL), Stop (SIGTERM), Restart (same port and
// directory) and Pause/Resume (SIGSTOP/SIGCONT, for hung-upstream tests)
// drive the process. StartCluster and StartSentinel build on Start.
//
// When redis-server (or redis-sentinel) is not on PATH, tests skip with the
// reason, unless REDISTEST_REQUIRE_REDIS=1 (set by CI), which makes it a
// failure, so that CI can never pass by skipping.
//
// # Raw client
//
// Conn sends commands as RESP arrays of bulk strings and returns each reply
// as the raw bytes of exactly one frame (see ReadFrame): RESP2 and RESP3
// types, nested aggregates, and attributes, which are returned together with
// the value they decorate. Pushes are frames of their own. Every read has a
// deadline (DefaultReadTimeout) and a read that times out fails the test
// saying what was awaited, from where, for how long.
//
// # Differential test
//
// A script in testdata/diff is run twice in lockstep: against a redis-server
// directly, and through the thing under test in front of a second, identical
// redis-server. Replies are compared byte for byte (RunDiff, RunDiffCorpus).
// TestDiffCorpusRelay runs the corpus through StartRelay, a relay that cannot
// change a byte, so any difference it finds is nondeterminism in the corpus;
// that is what makes the corpus fit to judge the proxy.
//
// Script syntax, one item per line:
//
//	# comment                  blank lines and lines starting with # are ignored
//	resp: 2|3|both             optional header (default both): protocol versions to run;
//	                           in RESP3 runs every connection starts with HELLO 3
//	SET k "a b\r\n\x00"        a command on connection 1, quoted as redis-cli does
//	                           ("..." with \n \r \t \b \a \" \\ \xHH; '...' with \' only);
//	                           its reply is read and compared
//	@2 GET k                   the same on connection 2 (connections 1..16)
//	@2& BLPOP q 5              send on connection 2 without reading the reply
//	@2 <                       read one pending reply (or push) on connection 2 and compare
//	<                          the same on connection 1
//	~SRANDMEMBER s 2           compare only the Shape of the reply (also ~< and @2 ~...)
//	!blocked 1                 wait until each server has exactly 1 blocked client
//
// Shape is for replies that legitimately differ between two servers: times,
// client ids and addresses, random members, idle times, and orders that come
// from Redis's randomly seeded hash tables (members of non-integer sets, big
// hashes, several function libraries, COMMAND output). It keeps types,
// aggregate sizes and error codes, with aggregate elements sorted.
//
// Before each script the runner opens the connections, sends HELLO 3 on each
// (RESP3 runs; compared by shape since the reply carries the client id) and
// SELECT 9 on each, then FLUSHALL, SCRIPT FLUSH and FUNCTION FLUSH on
// connection 1; all these replies are compared too. A script that changes
// server configuration must restore it: the servers serve all scripts of a run.
//
// Set REDISTEST_DIFF_VERBOSE=1 to log every command with its reply.
package redistest
