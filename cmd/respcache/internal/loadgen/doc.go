// Package loadgen is the load generator behind `respcache bench`: it drives
// any server that speaks RESP (redis-server, twemproxy, respcache) with a
// configurable read/write mix over a Zipf or uniform keyspace and measures
// throughput, latency percentiles per command, error replies and, when the
// server is a respcache, its cache hit ratio over the measurement.
//
// It is its own package, under cmd/respcache because nothing else may
// import it, for the reason sim lives next to the cache: the numbers in
// BENCHMARKS.md must come from code that is tested like the rest, and a
// load generator has enough mechanism (sampling, framing, merging
// histograms, stopping cleanly) to need its own tests.
//
// # The loop
//
// Run opens one control connection (for INFO) and Options.Clients load
// connections, each owned by one goroutine. A client builds Options.Pipeline
// commands into one buffer, writes it with one syscall, then reads until it
// has as many replies. Commands are encoded straight into the buffer from
// pre-encoded verb headers (no go-redis, no per-command allocation: see
// TestGeneratorNoAllocs); replies are framed in place with
// resp.ReplyScanner, never decoded, and only their first byte is looked at
// (error or not; RESP3 pushes are skipped). The latency of a command is
// from just before its batch was written to the return of the read that
// completed its reply, so pipelined commands share a start and queueing
// behind the batch counts, as it does for a real pipelining client.
//
// Every client records into its own HdrHistograms (one per command of the
// mix, 1µs to 60s, 3 significant digits; 2 digits when there are more than
// 256 client×command histograms, to bound memory at ~20KB each instead of
// ~140KB) and its own counters. Nothing is shared in the loop but a phase's
// stop flag (one load per batch) and, with Requests, the count of commands
// left, from which clients claim one batch at a time (one atomic add per
// batch). Claiming, rather than fixed per-client shares, keeps every client
// busy until the end: with fixed shares the run ends on a tail of the
// clients the server happened to serve slower, at a lower load than asked
// for, which cost a 200000-request -P 16 run a third of its throughput.
// Histograms and counters are
// merged after the phase, when the goroutines have returned.
//
// A run has up to three phases over the same connections: fill (every key
// written once, pipelined DefaultFillBatch deep, keys striped over the
// clients), warmup (the workload, discarded), measurement (Requests
// commands, or Duration). INFO respcache is read just before
// and just after the measurement; the hit ratio is the ratio of the deltas
// of cache_hits and cache_misses. A server without that section (redis-
// server answers with an empty text, twemproxy refuses INFO) gets no hit
// ratio, which is not an error.
//
// # Keys
//
// Key numbers are [0, Keys), named KeyPrefix + decimal number. The Zipf
// sampler (zipf.go) uses rejection-inversion, which works for every s > 0
// unlike math/rand's Zipf (s > 1 only). It draws ranks, rank 0 the hottest;
// Scramble maps ranks to key numbers with a fixed bijection, so the hot
// keys are spread over the key space instead of being key:0, key:1, ….
//
// # Stopping
//
// A phase ends when its duration elapses or its requests are sent (clients
// finish their batch), when every connection has broken, or when the
// context is canceled (SIGINT): then the stop flag is set and every load
// connection's deadline is cut to a second ahead, so a batch waiting on a
// server that stopped answering returns instead of waiting out
// Options.Timeout. Run still returns the measurement so far, marked
// Interrupted. Deadlines are otherwise refreshed only when 10% of the
// timeout has passed, since setting one re-arms a runtime timer.
//
// # Measured speed
//
// The requirement is that the generator is not the bottleneck: on the
// 2-core development machine it must drive a redis-server at least as hard
// as redis-benchmark does with the same GET workload, clients and pipeline.
// CPU time per command is the robust measure on a shared machine: for 10^6
// GETs, 50 clients, it used 8.8-9.7 CPU-s at -P 1 where redis-benchmark
// used 10.7-10.9 (it makes five epoll_ctl calls per command), and 0.70-0.72
// CPU-s at -P 16 against 0.71-0.77. Throughput medians are in the bench
// report; run to run they vary by ±20% with the machine's other load. The
// loop's own work is ~100ns of command generation per command (Zipf draw
// ~40ns, key formatting) and one histogram update per batch; the rest is
// the write and read syscalls.
package loadgen
