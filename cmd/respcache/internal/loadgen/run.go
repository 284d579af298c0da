package loadgen

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds, in nanoseconds: 1µs resolution floor, 60s ceiling
// (slower replies are recorded as 60s).
const (
	histLowest  = 1_000
	histHighest = 60_000_000_000
)

// maxDistinctErrors bounds the distinct error texts a client remembers;
// further texts are counted as "other". A server answering every command
// with a unique message (one that quotes the key) would otherwise grow the
// map per request.
const maxDistinctErrors = 64

// fillBatchBytes caps the bytes of one fill batch (at least one command
// is always sent).
const fillBatchBytes = 1 << 20

// stopGrace is how long in-flight batches get to finish after the context
// is canceled before their connections' deadlines cut them off.
const stopGrace = time.Second

// Run connects Options.Clients connections to Options.Addr, optionally fills
// the keyspace, warms up, measures and returns the result. Canceling ctx
// (SIGINT) ends the current phase: in-flight batches get up to a second to
// finish, and the result is what was measured so far, with Interrupted set.
// The returned error is for runs that could not start (invalid options,
// refused connections or handshakes); once running, failures are counted in
// the Result.
func Run(ctx context.Context, opts Options) (*Result, error) {
	o := opts
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	zipf, err := NewZipf(o.Keys, o.ZipfS)
	if err != nil {
		return nil, err
	}
	scramble := NewScramble(o.Keys)
	value := newValue(&o)

	ctrl, err := dial(ctx, &o)
	if err != nil {
		return nil, err
	}
	defer ctrl.close()
	clients := make([]*client, o.Clients)
	defer func() {
		for _, cl := range clients {
			if cl != nil {
				cl.c.close()
			}
		}
	}()
	sigFigs := 3
	if o.Clients*len(o.Commands) > 256 {
		// 3 significant digits cost ~140KB per histogram; above 256 of
		// them, 2 digits (~20KB, 1% precision) keep memory reasonable.
		sigFigs = 2
	}
	for i := range clients {
		c, err := dial(ctx, &o)
		if err != nil {
			return nil, err
		}
		clients[i] = newClient(i, c, newGenerator(&o, zipf, &scramble, value, i), &o, sigFigs)
	}

	res := &Result{Options: o}
	if o.Fill {
		hashes := usesHashes(o.Commands)
		batch := max(DefaultFillBatch, o.Pipeline)
		elapsed, interrupted := runPhase(ctx, clients, 0, 0, func(cl *client, ph *phase) {
			cl.fill(ph, uint64(len(clients)), o.Keys, batch, hashes)
		})
		res.Fill = &FillResult{Keys: o.Keys, Seconds: elapsed.Seconds()}
		for _, cl := range clients {
			res.Fill.Errors += cl.fillErrors
		}
		res.Fill.ErrorTexts, _ = mergeErrors(clients, o.MaxErrorTexts)
		if interrupted {
			res.Interrupted = true
			res.finish(clients, o.MaxErrorTexts)
			return res, nil
		}
		resetAll(clients)
	}
	if o.Warmup > 0 {
		if _, interrupted := runPhase(ctx, clients, o.Warmup, 0, (*client).loop); interrupted {
			res.Interrupted = true
			resetAll(clients)
			res.finish(clients, o.MaxErrorTexts)
			return res, nil
		}
		resetAll(clients)
	}
	before, infoOK := cacheStats(ctrl)
	elapsed, interrupted := runPhase(ctx, clients, o.Duration, o.Requests, (*client).loop)
	res.Interrupted = interrupted
	res.Seconds = elapsed.Seconds()
	if interrupted {
		// The server may be the reason for the interrupt: do not wait a
		// full timeout for its INFO.
		ctrl.timeout = min(ctrl.timeout, stopGrace)
		ctrl.deadline = time.Time{} // makes the next refresh apply it
	}
	if infoOK {
		if after, ok := cacheStats(ctrl); ok && after.Hits >= before.Hits && after.Misses >= before.Misses {
			res.Cache = &CacheResult{Hits: after.Hits - before.Hits, Misses: after.Misses - before.Misses}
			if n := res.Cache.Hits + res.Cache.Misses; n > 0 {
				res.Cache.HitRatio = float64(res.Cache.Hits) / float64(n)
			}
		}
	}
	res.finish(clients, o.MaxErrorTexts)
	return res, nil
}

// cacheStats asks for INFO respcache on the control connection. Any failure
// (redis-server has no such section, twemproxy refuses INFO or closes the
// connection) means "no hit ratio", never a failed run.
func cacheStats(ctrl *conn) (CacheStats, bool) {
	reply, err := ctrl.do("INFO", "respcache")
	if err != nil {
		return CacheStats{}, false
	}
	if _, isErr := errorText(reply); isErr {
		return CacheStats{}, false
	}
	text := bulkPayload(reply)
	if reply[0] == '=' && len(text) >= 4 {
		text = text[4:] // RESP3 verbatim string: "txt:" then the text
	}
	return ParseCacheStats(text)
}

// phase is the shared state of one phase: the stop flags and the request
// budget, touched once per batch; everything measured stays in each client
// until the phase ends.
type phase struct {
	stop        atomic.Bool // ends the phase: clients finish their batch and return
	interrupted atomic.Bool // the context was canceled
	limited     bool        // budget applies (a --requests measurement)
	// budget is the number of commands not yet claimed. Clients claim a
	// batch at a time from one counter rather than each getting a fixed
	// share, so that they all keep going until the end: with fixed shares
	// the clients the server happened to serve faster finish early, and
	// the run ends on a tail with fewer connections (and less load) than
	// asked for, which costs a short -P 16 run a third of its throughput.
	budget atomic.Int64
}

// claim takes up to p commands from the budget and returns how many it got
// (0: the budget is spent). The claims add up to exactly the budget.
func (ph *phase) claim(p int64) int64 {
	if !ph.limited {
		return p
	}
	before := ph.budget.Add(-p) + p
	if before <= 0 {
		return 0
	}
	return min(p, before)
}

// runPhase runs fn on every live client in its own goroutine until each
// returns, stopping them after d (when > 0), when budget commands have been
// claimed (when > 0), or when ctx is canceled, and returns the wall time and
// whether ctx ended it.
func runPhase(ctx context.Context, clients []*client, d time.Duration, budget int64, fn func(*client, *phase)) (time.Duration, bool) {
	ph := &phase{limited: budget > 0}
	ph.budget.Store(budget)
	if ctx.Err() != nil {
		return 0, true
	}
	var wg sync.WaitGroup
	start := time.Now()
	for _, cl := range clients {
		if cl.failed == nil {
			wg.Go(func() { fn(cl, ph) })
		}
	}
	if d > 0 {
		t := time.AfterFunc(d, func() { ph.stop.Store(true) })
		defer t.Stop()
	}
	hooked := make(chan struct{})
	unhook := context.AfterFunc(ctx, func() {
		defer close(hooked)
		ph.interrupted.Store(true)
		ph.stop.Store(true)
		// Unblock reads from a server that stopped answering; see
		// client.refreshDeadline for the other half of this handshake.
		for _, cl := range clients {
			cl.c.nc.SetDeadline(time.Now().Add(stopGrace))
		}
	})
	wg.Wait()
	elapsed := time.Since(start)
	if !unhook() {
		// The hook ran or is running: let it finish, so that it touches
		// no connection after Run closes them.
		<-hooked
	}
	return elapsed, ph.interrupted.Load()
}

func resetAll(clients []*client) {
	for _, cl := range clients {
		cl.reset()
	}
}

// client is one connection and the goroutine that drives it. Everything in
// it is owned by that goroutine during a phase and read by Run between
// phases (the WaitGroup orders the two).
type client struct {
	id       int
	c        *conn
	gen      *generator
	stats    []kindStats // per Options.Commands index
	errs     map[string]int64
	errOther int64 // errors beyond maxDistinctErrors texts
	failed   error // the connection broke; the client sits out later phases

	pipeline   int
	fillErrors int64
	wbuf       []byte
	batch      []int // command index of each command in the batch in flight
}

type kindStats struct {
	count  int64 // replies received
	errors int64 // of which error replies
	hist   *hdrhistogram.Histogram
}

func newClient(id int, c *conn, gen *generator, o *Options, sigFigs int) *client {
	cl := &client{
		id: id, c: c, gen: gen, pipeline: o.Pipeline,
		errs:  map[string]int64{},
		stats: make([]kindStats, len(o.Commands)),
		batch: make([]int, 0, o.Pipeline),
	}
	for i := range cl.stats {
		cl.stats[i].hist = hdrhistogram.New(histLowest, histHighest, sigFigs)
	}
	return cl
}

func (cl *client) reset() {
	for i := range cl.stats {
		cl.stats[i].count, cl.stats[i].errors = 0, 0
		cl.stats[i].hist.Reset()
	}
	clear(cl.errs)
	cl.errOther = 0
}

// loop is the hot path: build a batch of Pipeline commands into one buffer,
// write it with one syscall, read the replies. The latency of each command
// is from just before the write of its batch to the return of the read that
// completed its reply. Nothing here allocates or takes a lock once the
// buffers have grown; the only shared state is the phase (stop flag and
// request budget), touched once per batch.
func (cl *client) loop(ph *phase) {
	for !ph.stop.Load() {
		n := ph.claim(int64(cl.pipeline))
		if n == 0 {
			return
		}
		cl.wbuf = cl.wbuf[:0]
		cl.batch = cl.batch[:0]
		for range n {
			var j int
			cl.wbuf, j = cl.gen.next(cl.wbuf)
			cl.batch = append(cl.batch, j)
		}
		t0 := time.Now()
		cl.refreshDeadline(t0, ph)
		if _, err := cl.c.nc.Write(cl.wbuf); err != nil {
			cl.fail(err, ph)
			return
		}
		// Replies completed by the same read have the same latency, so a
		// run of them with the same command is recorded with one
		// RecordValues: one call per batch instead of per command.
		runJ, runN, runLat := -1, int64(0), int64(0)
		for _, j := range cl.batch {
			reply, err := cl.c.next()
			if err != nil {
				cl.record(runJ, runLat, runN)
				cl.fail(err, ph)
				return
			}
			st := &cl.stats[j]
			st.count++
			if text, isErr := errorText(reply); isErr {
				st.errors++
				cl.noteError(text)
			}
			lat := min(cl.c.readAt.Sub(t0).Nanoseconds(), histHighest)
			if j == runJ && lat == runLat {
				runN++
				continue
			}
			cl.record(runJ, runLat, runN)
			runJ, runN, runLat = j, 1, lat
		}
		cl.record(runJ, runLat, runN)
	}
}

// record adds n latencies lat (ns) for command j; n = 0 records nothing.
func (cl *client) record(j int, lat, n int64) {
	if n > 0 {
		cl.stats[j].hist.RecordValues(lat, n)
	}
}

// fill writes the keys k ≡ id (mod stride) in pipelined batches.
func (cl *client) fill(ph *phase, stride, keys uint64, batch int, hashes bool) {
	k := uint64(cl.id)
	for k < keys && !ph.stop.Load() {
		cl.wbuf = cl.wbuf[:0]
		n := 0
		// Batches also stop at fillBatchBytes, so large values do not
		// make a huge buffer.
		for ; n < batch && k < keys && len(cl.wbuf) < fillBatchBytes; n++ {
			cl.wbuf = cl.gen.appendFill(cl.wbuf, k, hashes)
			k += stride
		}
		cl.refreshDeadline(time.Now(), ph)
		if _, err := cl.c.nc.Write(cl.wbuf); err != nil {
			cl.fail(err, ph)
			return
		}
		for range n {
			reply, err := cl.c.next()
			if err != nil {
				cl.fail(err, ph)
				return
			}
			if text, isErr := errorText(reply); isErr {
				cl.fillErrors++
				cl.noteError(text)
			}
		}
	}
}

// refreshDeadline is conn.refreshDeadline that cannot undo a stop: the
// context hook stores the stop flag before it shortens the deadline, so if
// the refresh raced with the hook, the flag is visible here and the short
// deadline is put back.
func (cl *client) refreshDeadline(now time.Time, ph *phase) {
	before := cl.c.deadline
	cl.c.refreshDeadline(now)
	if cl.c.deadline != before && ph.interrupted.Load() {
		cl.c.nc.SetDeadline(now.Add(stopGrace))
	}
}

// fail retires a client whose connection broke. When the phase is being
// interrupted the error is the deadline that interrupted it and is not
// reported.
func (cl *client) fail(err error, ph *phase) {
	cl.c.close()
	if ph.interrupted.Load() {
		cl.failed = errInterrupted
		return
	}
	cl.failed = err
}

var errInterrupted = errors.New("loadgen: interrupted")

// noteError counts an error text. The map lookup with a converted []byte
// does not allocate; only a new text does.
func (cl *client) noteError(text []byte) {
	if n, ok := cl.errs[string(text)]; ok {
		cl.errs[string(text)] = n + 1
		return
	}
	if len(cl.errs) >= maxDistinctErrors {
		cl.errOther++
		return
	}
	cl.errs[string(text)] = 1
}
