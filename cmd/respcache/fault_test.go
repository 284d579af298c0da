package main

// The fault suite (issue 8): respcache runs as its real binary in front of
// real redis-server, redis-sentinel and Redis Cluster processes, several
// clients put load on it, and a fault happens in the middle: the upstream is
// SIGKILLed, made slow then cut (toxiproxy in between), its invalidation
// link is cut, its master fails over, its slots move. Each scenario then
// checks what clients saw (the exact error texts), that every acknowledged
// write is in Redis (for INCR: at least the acknowledged increments, at
// most those plus the ones whose outcome the client could not know), and
// how long recovery took: from the end of the fault until every writing
// client had a write acknowledged again. Results go to RELIABILITY.md
// through internal/reliability.
//
// CI size by default (the whole suite takes about 90s with -race on two
// shared cores); REDISTEST_LONG=1 runs longer faults with more clients
// and rounds (about 4 minutes).

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respcache/respcache/internal/redistest"
	"github.com/respcache/respcache/internal/reliability"
)

// TestFault runs the fault scenarios as subtests sharing one build of the
// binary (go test -run 'TestFault/cluster-reshard' runs one).
func TestFault(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault suite starts Redis processes and takes minutes; skipped with -short")
	}
	bin := buildBinary(t)
	t.Run("upstream-kill", func(t *testing.T) { faultUpstreamKill(t, bin) })
	t.Run("slow-then-cut", func(t *testing.T) {
		for _, stale := range []bool{false, true} {
			t.Run("serve_stale_on_error="+strconv.FormatBool(stale), func(t *testing.T) { faultSlowThenCut(t, bin, stale) })
		}
	})
	t.Run("tracking-cut", func(t *testing.T) { faultTrackingCut(t, bin) })
	t.Run("sentinel-failover", func(t *testing.T) { faultSentinelFailover(t, bin) })
	t.Run("cluster-reshard", func(t *testing.T) { faultClusterReshard(t, bin) })
	t.Run("wait-after-write", func(t *testing.T) { faultWaitAfterWrite(t, bin) })
	t.Run("slow-upstream-probe", func(t *testing.T) { faultSlowUpstreamProbe(t, bin) })
	t.Run("tracking-reconnect-backoff", func(t *testing.T) { faultTrackingBackoff(t, bin) })
}

// faultUpstreamKill: redis-server (appendonly yes, appendfsync always, so a
// crash keeps every write it acknowledged) is SIGKILLed under load, stays
// down, and is restarted on the same port.
func faultUpstreamKill(t *testing.T, bin string) {
	rs := redistest.Start(t, redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	p := faultStartRespcache(t, bin, "backend:\n  type: redis\n  redis:\n    addrs: ["+rs.Addr()+"]\n")
	faultWaitServing(t, p.addr)
	load := faultStartLoad(faultLoadConfig{
		Addr: p.addr, Prefix: "kill:", Writers: faultSize(4, 8), Pace: time.Millisecond,
	})
	defer load.Stop()
	load.WaitAcked(t, 50, 10*time.Second)
	rounds := faultSize(2, 4)
	down := faultSize(time.Second, 3*time.Second)
	var recoveries []time.Duration
	var trackBack []time.Duration
	for round := 0; round < rounds; round++ {
		phase := fmt.Sprintf("down-%d", round)
		load.SetPhase(phase)
		rs.Kill()
		// Every writer must have met the outage, however long it takes
		// them to notice; then the outage lasts at least down.
		begin := time.Now()
		if !load.WaitErrors(faultWriter, 20*time.Second) {
			t.Fatalf("round %d: not every client saw an error while Redis was down: %v", round, load.Stats(faultWriter, phase))
		}
		faultHold(down - time.Since(begin))
		rs.Restart()
		load.MarkFaultEnd()
		load.SetPhase(fmt.Sprintf("after-%d", round))
		recoveries = append(recoveries, load.WaitRecovered(t, 20*time.Second))
		end := load.FaultEnd()
		redistest.Eventually(t, 15*time.Second, func() bool { return faultTrackingStatus(p.addr) == "up" },
			"tracking_status:up after the restart")
		trackBack = append(trackBack, time.Since(end))
		load.ResetRecovery()
		load.WaitAcked(t, load.Acked()+20, 10*time.Second)
	}
	load.Stop()
	for _, e := range load.ErrorTexts() {
		// What a client may see while its upstream is down: a prompt
		// error reply naming the cause. A hang (client timeout) or a
		// dropped client connection would be a regression.
		if !strings.HasPrefix(e, "-ERR upstream unavailable: ") {
			t.Errorf("clients saw %q while Redis was down; want only -ERR upstream unavailable: ...", e)
		}
	}
	var errLat []time.Duration
	for round := 0; round < rounds; round++ {
		errLat = append(errLat, load.Stats(faultWriter, fmt.Sprintf("down-%d", round)).errLat...)
	}
	errP99 := faultQuantile(errLat, 0.99)
	if errP99 > time.Second {
		t.Errorf("error replies while Redis was down took %v (p99); want prompt errors", errP99)
	}
	ch := faultVerify(t, load, faultDirectGet(t, rs.Addr()))
	worst := faultMaxDur(recoveries)
	faultRecord(t, reliability.Result{
		Scenario: "upstream killed (SIGKILL) and restarted under load",
		Promise: "While the upstream is down every command gets a prompt -ERR upstream unavailable reply (no hang, the client connection stays open); " +
			"no acknowledged write is lost; clients recover by themselves when Redis is back.",
		ClientsSee: load.ErrorTexts(),
		Measured: fmt.Sprintf("%d writers, %d kill rounds of %v; %d SETs acknowledged, %d with unknown outcome; INCR: %d acknowledged, %d unknown; "+
			"errors: %s (error reply p99 %v); recovery per round %v; tracking_status back up %v after the restart",
			load.cfg.Writers, rounds, down, ch.acked, ch.unknownSets, ch.incrAcked, ch.incrUnkn,
			faultSummary(load.Errors()), errP99, recoveries, trackBack),
		Lost:     ch.lost,
		Recovery: worst,
	})
}

// faultMaxDur is the largest of d (0 when empty).
func faultMaxDur(d []time.Duration) time.Duration {
	var m time.Duration
	for _, x := range d {
		m = max(m, x)
	}
	return m
}

// faultSlowThenCut puts toxiproxy between respcache and Redis and, under
// load, makes the upstream slow (200ms latency on every reply, twice
// backend.redis.read_timeout), then hangs it (replies dropped, connections
// kept: a black hole), then takes it down (connections closed, port
// refused), then restores it. Hot keys cached before the fault are read
// all along by other clients: with serve_stale_on_error they keep being
// answered, without it they are not served once the invalidation link is
// known to be down.
func faultSlowThenCut(t *testing.T, bin string, stale bool) {
	const (
		readTimeout = 100 * time.Millisecond
		latency     = 200 * time.Millisecond
		hot         = 16
	)
	rs := redistest.Start(t)
	tp := faultToxiproxy(t, rs.Addr())
	p := faultStartRespcache(t, bin, fmt.Sprintf(
		"backend:\n  type: redis\n  redis:\n    addrs: [%s]\n    read_timeout: %v\ncache:\n  serve_stale_on_error: %v\n",
		tp.Listen, readTimeout, stale))
	faultWaitServing(t, p.addr)
	prefix := fmt.Sprintf("slow-%v:", stale)
	direct := redistest.Dial(t, rs.Addr())
	for i := 0; i < hot; i++ {
		if r := direct.DoString("SET", prefix+"hot:"+strconv.Itoa(i), faultHotValue(i)); r != "+OK\r\n" {
			t.Fatalf("preloading: %q", r)
		}
	}
	load := faultStartLoad(faultLoadConfig{
		Addr: p.addr, Prefix: prefix, Writers: faultSize(3, 6), HotReaders: faultSize(2, 4), HotKeys: hot,
		Pace: time.Millisecond, ClientTimeout: 20 * time.Second,
	})
	defer load.Stop()
	load.WaitAcked(t, 30, 10*time.Second)
	// Every hot key is read dozens of times a second: cached by now, as
	// the hits counter confirms.
	redistest.Eventually(t, 10*time.Second, func() bool {
		m, err := faultInfo(p.addr)
		n, _ := strconv.Atoi(m["cache_hits"])
		return err == nil && n > 50*hot
	}, "hot keys served from the cache")

	// Slow: every reply 200ms late. A slow server is waited for, not
	// declared dead: the read timeout only triggers a PING on a fresh
	// connection, which answers (late).
	load.SetPhase("slow")
	faultAddToxic(t, tp, "slow", "latency", "downstream", fmt.Sprintf(`{"latency":%d}`, latency.Milliseconds()))
	faultHold(faultSize(1500*time.Millisecond, 5*time.Second))
	faultRemoveToxic(t, tp, "slow")
	slowW, slowR := load.Stats(faultWriter, "slow"), load.Stats(faultHotReader, "slow")
	if slowW.errs != 0 || slowR.errs != 0 {
		t.Errorf("errors while the upstream was slow but alive: writers %d, hot readers %d: %v", slowW.errs, slowR.errs, load.Errors())
	}
	if q := faultQuantile(slowW.lat, 0.5); slowW.ok == 0 || q < latency {
		t.Errorf("writes while slow: %d ok, p50 %v; want them to take the injected %v", slowW.ok, q, latency)
	}
	if q := faultQuantile(slowR.lat, 0.5); slowR.ok == 0 || q > 50*time.Millisecond {
		t.Errorf("hot reads while slow: %d ok, p50 %v; want cache hits, unaffected by the slow upstream", slowR.ok, q)
	}

	// Hung: replies dropped, connections open. A lane with a request
	// unanswered for read_timeout probes a fresh connection with PING
	// for up to 6s (redis-server's busy-script window) before failing.
	load.SetPhase("hang")
	hangStart := time.Now()
	watch := faultWatchTracking(t, p.addr)
	faultAddToxic(t, tp, "hang", "timeout", "downstream", `{"timeout":0}`)
	if !load.WaitErrors(faultWriter, 30*time.Second) {
		t.Fatalf("writers did not all get an error within 30s of the upstream hanging: %+v", load.Stats(faultWriter, "hang"))
	}
	hangAllErr := time.Since(hangStart)
	redistest.Eventually(t, 15*time.Second, func() bool { _, ok := watch.Since("down"); return ok },
		"tracking_status:down while the upstream hangs")
	linkDown, _ := watch.Since("down")
	watch.Stop()
	if !stale {
		// Hits are no longer served: hot reads go upstream and fail.
		if !load.WaitErrors(faultHotReader, 30*time.Second) {
			t.Fatalf("hot readers got no error with the link down and serve_stale_on_error off: %+v", load.Stats(faultHotReader, "hang"))
		}
	} else {
		faultHold(time.Second) // hot reads keep being served with the link known down
	}
	hangW, hangR := load.Stats(faultWriter, "hang"), load.Stats(faultHotReader, "hang")

	// Down: connections closed, the port refuses.
	load.SetPhase("down")
	tp.Stop()
	faultRemoveToxic(t, tp, "hang")
	begin := time.Now()
	if !load.WaitErrors(faultWriter, 10*time.Second) {
		t.Fatalf("writers did not all get an error with the upstream down: %+v", load.Stats(faultWriter, "down"))
	}
	faultHold(faultSize(time.Second, 5*time.Second) - time.Since(begin))
	downW, downR := load.Stats(faultWriter, "down"), load.Stats(faultHotReader, "down")

	if err := tp.Start(); err != nil {
		t.Fatalf("toxiproxy back on %s: %v", tp.Listen, err)
	}
	load.MarkFaultEnd()
	load.SetPhase("after")
	rec := load.WaitRecovered(t, 20*time.Second)
	end := load.FaultEnd()
	redistest.Eventually(t, 15*time.Second, func() bool { return faultTrackingStatus(p.addr) == "up" }, "tracking_status:up after the restore")
	trackBack := time.Since(end)
	load.WaitAcked(t, load.Acked()+20, 10*time.Second)
	load.Stop()

	if q := faultQuantile(downW.errLat, 0.99); q > time.Second {
		t.Errorf("error replies with the upstream down took %v (p99); want prompt errors", q)
	}
	if stale {
		if n := hangR.errs + downR.errs; n != 0 || hangR.ok == 0 || downR.ok == 0 {
			t.Errorf("serve_stale_on_error on: hot reads during the outage: %d ok (hang) %d ok (down), %d errors; want every one served",
				hangR.ok, downR.ok, n)
		}
	} else if downR.errs == 0 {
		t.Errorf("serve_stale_on_error off: hot reads with the upstream down were all answered (%d): stale hits served", downR.ok)
	}
	for _, e := range load.ErrorTexts() {
		if !strings.HasPrefix(e, "-ERR upstream unavailable: ") {
			t.Errorf("clients saw %q; want only -ERR upstream unavailable: ...", e)
		}
	}
	ch := faultVerify(t, load, faultDirectGet(t, rs.Addr()))
	promise := "A slow upstream that still answers is waited for (no error, replies as slow as the upstream; cache hits unaffected). " +
		"A hung upstream fails commands with -ERR upstream unavailable after read_timeout plus a PING probe of up to 6s; " +
		"a closed or refusing upstream fails them at once. "
	if stale {
		promise += "With serve_stale_on_error on, cached keys keep being served throughout the outage."
	} else {
		promise += "With serve_stale_on_error off, cached keys stop being served once the invalidation link is known down (3 heartbeats), and reads fail like misses."
	}
	faultRecord(t, reliability.Result{
		Scenario:   fmt.Sprintf("upstream slow (200ms latency) then hung then down, serve_stale_on_error %v", stale),
		Promise:    promise + " No acknowledged write is lost.",
		ClientsSee: load.ErrorTexts(),
		Measured: fmt.Sprintf("read_timeout %v; %d writers, %d hot readers. Slow: write p50 %v p99 %v, %d errors; hot read p50 %v, %d errors. "+
			"Hung: every writer had an error after %v, tracking_status down after %v; writers %d ok %d errors (error reply p50 %v, max %v); hot reads %d ok %d errors. "+
			"Down: writers %d errors (error reply p99 %v); hot reads %d ok %d errors. "+
			"Recovery %v, tracking_status up %v after the restore. %d SETs acknowledged, %d unknown; INCR %d acknowledged, %d unknown; errors: %s",
			readTimeout, load.cfg.Writers, load.cfg.HotReaders,
			faultQuantile(slowW.lat, 0.5), faultQuantile(slowW.lat, 0.99), slowW.errs, faultQuantile(slowR.lat, 0.5), slowR.errs,
			hangAllErr.Round(time.Millisecond), linkDown.Round(time.Millisecond), hangW.ok, hangW.errs, faultQuantile(hangW.errLat, 0.5), faultQuantile(hangW.errLat, 1), hangR.ok, hangR.errs,
			downW.errs, faultQuantile(downW.errLat, 0.99), downR.ok, downR.errs,
			rec, trackBack, ch.acked, ch.unknownSets, ch.incrAcked, ch.incrUnkn, faultSummary(load.Errors())),
		Lost:     ch.lost,
		Recovery: rec,
	})
}

// faultTrackingCut kills only respcache's invalidation link on the Redis
// side (CLIENT KILL ID of the connection with tracking on), several times,
// while another writer changes cached keys directly in Redis and clients
// read them through respcache; then it holds the link down (an ACL denies
// CLIENT TRACKING, so the reconnection fails) to observe the gap. No read
// may return a value older than one Redis acknowledged to the direct
// writer more than faultStaleGrace before the read began, and during the
// held gap the check is exact: a value written directly is read back
// through respcache at once.
func faultTrackingCut(t *testing.T, bin string) {
	rs := redistest.Start(t)
	p := faultStartRespcache(t, bin, "backend:\n  type: redis\n  redis:\n    addrs: ["+rs.Addr()+"]\n")
	faultWaitServing(t, p.addr)
	direct := redistest.Dial(t, rs.Addr())
	redistest.Eventually(t, 10*time.Second, func() bool { return faultTrackingStatus(p.addr) == "up" }, "tracking_status:up")

	load := faultStartLoad(faultLoadConfig{Addr: p.addr, Prefix: "track:", Writers: 2, Pace: 2 * time.Millisecond})
	defer load.Stop()
	vk := newFaultVersioned(t, p.addr, rs.Addr(), "track:v:", 8, faultSize(3, 6))
	defer vk.Stop()
	load.WaitAcked(t, 20, 10*time.Second)
	vk.WaitHits(t, 200)

	// Plain kills: the link comes back by itself.
	kills := faultSize(3, 10)
	var reconnects []time.Duration
	var downSeen int
	for i := 0; i < kills; i++ {
		watch := faultWatchTracking(t, p.addr)
		old := faultKillTracking(t, direct)
		begin := time.Now()
		redistest.Eventually(t, 10*time.Second, func() bool {
			id := faultTrackingID(direct)
			return id != "" && id != old
		}, "a new tracking connection after CLIENT KILL ID %s", old)
		reconnects = append(reconnects, time.Since(begin))
		redistest.Eventually(t, 10*time.Second, func() bool { return faultTrackingStatus(p.addr) == "up" }, "tracking_status:up after the kill")
		watch.Stop()
		if _, ok := watch.Since("down"); ok {
			downSeen++
		}
		faultHold(faultSize(300*time.Millisecond, time.Second))
	}

	// A key cached before the gap, to be changed directly during it.
	c := redistest.Dial(t, p.addr)
	direct.Do("SET", "track:gap", "before")
	for i := 0; i < 3; i++ {
		if got := c.DoString("GET", "track:gap"); got != faultBulk("before") {
			t.Fatalf("GET track:gap = %q", got)
		}
	}
	// Held gap: the ACL refuses CLIENT TRACKING, so the link stays down
	// until it is lifted.
	if r := direct.DoString("ACL", "SETUSER", "default", "-client|tracking"); r != "+OK\r\n" {
		t.Fatalf("ACL SETUSER: %q", r)
	}
	watch := faultWatchTracking(t, p.addr)
	faultKillTracking(t, direct)
	redistest.Eventually(t, 10*time.Second, func() bool { _, ok := watch.Since("down"); return ok },
		"tracking_status:down with the link held down")
	gapDown, _ := watch.Since("down")
	watch.Stop()
	hitsBefore := faultInfoInt(t, p.addr, "cache_hits")
	gapChecks := 0
	for i := 0; i < faultSize(20, 100); i++ {
		v := "during-" + strconv.Itoa(i)
		direct.Do("SET", "track:gap", v)
		if got := c.DoString("GET", "track:gap"); got != faultBulk(v) {
			t.Errorf("GET track:gap through respcache with the link down = %q, want %q (written directly just before)", got, v)
			break
		}
		gapChecks++
	}
	faultHold(faultSize(time.Second, 3*time.Second))
	gapHits := faultInfoInt(t, p.addr, "cache_hits") - hitsBefore
	if gapHits != 0 {
		t.Errorf("%d cache hits served while tracking_status was down (serve_stale_on_error off): stale reads possible", gapHits)
	}
	watch = faultWatchTracking(t, p.addr)
	if r := direct.DoString("ACL", "SETUSER", "default", "+client|tracking"); r != "+OK\r\n" {
		t.Fatalf("ACL SETUSER: %q", r)
	}
	redistest.Eventually(t, 10*time.Second, func() bool { _, ok := watch.Since("up"); return ok }, "tracking_status:up after the ACL is lifted")
	upAfter, _ := watch.Since("up")
	watch.Stop()
	hitsUp := faultInfoInt(t, p.addr, "cache_hits")
	begin := time.Now()
	redistest.Eventually(t, 10*time.Second, func() bool { return faultInfoInt(t, p.addr, "cache_hits") > hitsUp+10 }, "cache hits again")
	hitsBack := upAfter + time.Since(begin)
	load.WaitAcked(t, load.Acked()+20, 10*time.Second)
	vk.Stop()
	load.Stop()

	if e := load.Errors(); len(e) != 0 {
		t.Errorf("clients saw errors while only the invalidation link was cut: %v", e)
	}
	reads, hits, stale := vk.Result()
	if len(stale) != 0 {
		t.Errorf("%d stale reads, e.g. %v", len(stale), stale[:min(5, len(stale))])
	}
	ch := faultVerify(t, load, faultDirectGet(t, rs.Addr()))
	faultRecord(t, reliability.Result{
		Scenario: "invalidation link (CLIENT TRACKING connection) killed on the Redis side",
		Promise: "Clients see no error; no stale value is served: while the link is down tracking_status is down and reads bypass the cache; " +
			"the link reconnects by itself and hits resume.",
		ClientsSee: nil,
		Measured: fmt.Sprintf("%d plain kills: new tracking connection after %v (tracking_status:down observed by a 20ms INFO poll in %d of them); "+
			"held gap: tracking_status down %v after the kill, %d direct-write-then-read checks exact, %d cache hits during the gap; "+
			"after the ACL was lifted tracking_status up in %v, hits again after %v. Versioned keys: %d reads checked against the direct writer "+
			"(grace %v; %d cache hits in all), %d stale. Load: %d SETs acknowledged; INCR %d acknowledged.",
			kills, reconnects, downSeen, gapDown.Round(time.Millisecond), gapChecks, gapHits, upAfter.Round(time.Millisecond), hitsBack.Round(time.Millisecond),
			reads, faultStaleGrace, hits, len(stale), ch.acked, ch.incrAcked),
		Lost:     ch.lost,
		Recovery: hitsBack,
	})
}

// faultStaleGrace is how old a direct write must be before every read
// through respcache is required to see it: invalidations travel
// asynchronously (Redis sends the push as it acknowledges the write), so a
// read racing the push may still be answered from the cache. A link cut
// that lost an invalidation would serve the old value for ever, so the
// grace does not hide that.
const faultStaleGrace = 200 * time.Millisecond

// faultVersioned changes keys directly in Redis (each SET to a larger
// number) and reads them through respcache from several goroutines,
// requiring each read to be at least the version Redis acknowledged
// faultStaleGrace before the read began.
type faultVersioned struct {
	stop chan struct{}
	wg   sync.WaitGroup
	addr string // respcache
	pfx  string
	n    int

	mu    sync.Mutex // guards hist, reads, stale (which also holds writer and reader failures)
	hist  [][]faultAck
	reads int
	stale []string
}

type faultAck struct {
	at time.Time
	v  int64
}

// newFaultVersioned sets keys prefix0..prefix<keys-1> to 0 directly in
// Redis, then starts the direct writer (one SET every 20ms, round robin)
// and readers goroutines reading through respcache at addr.
func newFaultVersioned(t *testing.T, addr, redisAddr, prefix string, keys, readers int) *faultVersioned {
	t.Helper()
	w := &faultVersioned{stop: make(chan struct{}), addr: addr, pfx: prefix, n: keys, hist: make([][]faultAck, keys)}
	dc, err := redistest.DialRaw(redisAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < keys; i++ {
		if _, err := dc.Do("SET", prefix+strconv.Itoa(i), "0"); err != nil {
			t.Fatal(err)
		}
		w.hist[i] = []faultAck{{time.Now(), 0}}
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer dc.Close()
		for v := int64(1); ; v++ {
			select {
			case <-w.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			i := int(v) % keys
			r, err := dc.Do("SET", prefix+strconv.Itoa(i), strconv.FormatInt(v, 10))
			if err != nil || string(r) != "+OK\r\n" {
				w.mu.Lock()
				w.stale = append(w.stale, fmt.Sprintf("the direct writer failed: %q %v", r, err))
				w.mu.Unlock()
				return
			}
			w.mu.Lock()
			w.hist[i] = append(w.hist[i], faultAck{time.Now(), v})
			w.mu.Unlock()
		}
	}()
	for r := 0; r < readers; r++ {
		w.wg.Add(1)
		go w.reader(r)
	}
	return w
}

// floor is the version of key i that every read starting at start must
// see at least.
func (w *faultVersioned) floor(i int, start time.Time) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.hist[i]
	for j := len(h) - 1; j >= 0; j-- {
		if h[j].at.Before(start.Add(-faultStaleGrace)) {
			return h[j].v
		}
	}
	return 0
}

// reader reads the keys through respcache in turn until Stop, checking
// each value against floor.
func (w *faultVersioned) reader(id int) {
	defer w.wg.Done()
	c, err := redistest.DialRaw(w.addr, 5*time.Second)
	if err != nil {
		w.mu.Lock()
		w.stale = append(w.stale, "reader could not connect: "+err.Error())
		w.mu.Unlock()
		return
	}
	defer c.Close()
	for seq := 0; ; seq++ {
		select {
		case <-w.stop:
			return
		case <-time.After(time.Millisecond):
		}
		i := (seq*7 + id) % w.n
		start := time.Now()
		floor := w.floor(i, start)
		r, err := c.Do("GET", w.pfx+strconv.Itoa(i))
		if err != nil {
			w.mu.Lock()
			w.stale = append(w.stale, "read error: "+err.Error())
			w.mu.Unlock()
			return
		}
		s := string(r)
		var v int64 = -1
		if j := strings.Index(s, "\r\n"); s[0] == '$' && j > 0 {
			v, _ = strconv.ParseInt(strings.TrimSuffix(s[j+2:], "\r\n"), 10, 64)
		}
		w.mu.Lock()
		w.reads++
		if v < floor {
			w.stale = append(w.stale, fmt.Sprintf("GET %s%d = %q at %s, but %d was acknowledged more than %v before the read",
				w.pfx, i, r, start.Format("15:04:05.000"), floor, faultStaleGrace))
		}
		w.mu.Unlock()
	}
}

// WaitHits waits until respcache reports n cache hits in total: the
// versioned keys are being served from the cache, so a stale read is
// possible at all.
func (w *faultVersioned) WaitHits(t *testing.T, n int) {
	t.Helper()
	redistest.Eventually(t, 10*time.Second, func() bool { return faultInfoInt(t, w.addr, "cache_hits") >= int64(n) }, "%d cache hits", n)
}

// Stop ends the writer and readers; safe to call twice.
func (w *faultVersioned) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

// Result returns the reads checked, respcache's cache hits at the end
// (all clients) and the stale reads found.
func (w *faultVersioned) Result() (reads int, hits int64, stale []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	h, _ := faultInfo(w.addr)
	hits, _ = strconv.ParseInt(h["cache_hits"], 10, 64)
	return w.reads, hits, slices.Clone(w.stale)
}

// faultInfoInt is one integer field of INFO respcache; it fails the test
// when INFO cannot be read.
func faultInfoInt(t *testing.T, addr, field string) int64 {
	m, err := faultInfo(addr)
	if err != nil {
		t.Fatalf("INFO respcache: %v", err)
	}
	v, err := strconv.ParseInt(m[field], 10, 64)
	if err != nil {
		t.Fatalf("INFO respcache %s = %q", field, m[field])
	}
	return v
}

// faultTrackingID returns the id of the connection that has CLIENT
// TRACKING on (respcache's invalidation link), or "".
func faultTrackingID(direct *redistest.Conn) string {
	for _, line := range strings.Split(direct.DoString("CLIENT", "LIST"), "\n") {
		id, tracking := "", false
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id = v
			}
			if v, ok := strings.CutPrefix(f, "flags="); ok {
				tracking = strings.Contains(v, "t")
			}
		}
		if tracking {
			return id
		}
	}
	return ""
}

// faultKillTracking kills the tracking connection by its id and returns
// the id.
func faultKillTracking(t *testing.T, direct *redistest.Conn) string {
	t.Helper()
	var id string
	redistest.Eventually(t, 10*time.Second, func() bool { id = faultTrackingID(direct); return id != "" }, "a tracking connection in CLIENT LIST")
	if r := direct.DoString("CLIENT", "KILL", "ID", id); r != ":1\r\n" {
		t.Fatalf("CLIENT KILL ID %s: %q", id, r)
	}
	return id
}

// faultWaitAfterWrite checks that WAIT through respcache waits for the
// client's own earlier write, as it does on Redis: with the replica
// stopped, SET then WAIT 1 300 must answer :0 after 300ms. The Sentinel
// scenario counts a write as acknowledged only once WAIT confirmed it, so
// this is what makes that scenario's check fair.
func faultWaitAfterWrite(t *testing.T, bin string) {
	master := redistest.Start(t)
	replica := redistest.Start(t, redistest.WithArgs("--replicaof", "127.0.0.1", strconv.Itoa(master.Port())))
	direct := redistest.Dial(t, master.Addr())
	redistest.Eventually(t, 10*time.Second, func() bool {
		return strings.Contains(direct.DoString("INFO", "replication"), "connected_slaves:1")
	}, "the replica attached")
	redistest.Eventually(t, 10*time.Second, func() bool {
		direct.Do("SET", "sync", "1")
		return direct.DoString("WAIT", "1", "100") == ":1\r\n"
	}, "the replica in sync")
	p := faultStartRespcache(t, bin, "backend:\n  type: redis\n  redis:\n    addrs: ["+master.Addr()+"]\n")
	faultWaitServing(t, p.addr)
	c := redistest.Dial(t, p.addr)
	replica.Pause()
	defer replica.Resume()
	// Redis's own answer, the reference: the write cannot be replicated.
	direct.Do("SET", "wait:direct", "v")
	if got := direct.DoString("WAIT", "1", "300"); got != ":0\r\n" {
		t.Fatalf("control: WAIT on redis-server directly with the replica stopped = %q, want :0", got)
	}
	c.Do("SET", "wait:proxied", "v")
	if got := c.DoString("WAIT", "1", "300"); got != ":0\r\n" {
		t.Errorf("WAIT through respcache with the replica stopped = %q, want :0 (redis-server's answer): the client's write is not replicated", got)
	}
}

// faultSentinelFailover runs respcache with topology sentinel in front of a
// master, a replica and three redis-sentinel processes, puts write load on
// it and fails the master over with SENTINEL FAILOVER (and, in the long
// variant, then SIGKILLs the new master and restarts it as a replica).
// Replication is asynchronous, so a write the old master acknowledged but
// had not yet sent to the replica can vanish in any failover, with or
// without respcache; the writers therefore follow each write with WAIT 1
// and count it as acknowledged only when WAIT confirms the replica has it
// (the others have an unknown outcome). Those confirmed writes must all
// survive.
func faultSentinelFailover(t *testing.T, bin string) {
	s := redistest.StartSentinel(t)
	p := faultStartRespcache(t, bin, fmt.Sprintf(
		"backend:\n  type: redis\n  redis:\n    topology: sentinel\n    master_name: %s\n    addrs: [%s]\n",
		redistest.SentinelMaster, strings.Join(s.SentinelAddrs(), ", ")))
	faultWaitServing(t, p.addr)
	load := faultStartLoad(faultLoadConfig{
		Addr: p.addr, Prefix: "sentinel:", Writers: faultSize(4, 8), Pace: 2 * time.Millisecond,
		// A writer blocked in WAIT when the fault ends sends its next
		// write only after it returns, so the timeout is kept short: it
		// bounds what the recovery time includes of the client's own wait.
		Wait: true, WaitTimeout: 250 * time.Millisecond,
	})
	defer load.Stop()
	load.WaitAcked(t, 30, 15*time.Second)

	type round struct {
		how             string
		failover, recov time.Duration
		errs            int
	}
	var rounds []round
	// replicated says whether a replica is left after the fault, so that
	// WAIT 1 can confirm writes again.
	run := func(how string, fault func() string, replicated bool) {
		load.SetPhase(how)
		begin := time.Now()
		newMaster := fault()
		took := time.Since(begin)
		load.MarkFaultEnd()
		load.SetPhase("after " + how)
		rec := load.WaitRecovered(t, 30*time.Second)
		redistest.Eventually(t, 20*time.Second, func() bool { return faultTrackingStatus(p.addr) == "up" }, "tracking_status:up on the new master %s", newMaster)
		errs := load.Stats(faultWriter, how).errs + load.Stats(faultWriter, "after "+how).errs
		rounds = append(rounds, round{how: how, failover: took, recov: rec, errs: errs})
		load.ResetRecovery()
		if replicated {
			load.WaitAcked(t, load.Acked()+20, 30*time.Second)
		}
	}
	run("SENTINEL FAILOVER", s.Failover, true)
	if faultLong() {
		// The killed master stays down: restarted, it would come back
		// empty (the setup has no persistence), and a Sentinel that
		// briefly thinks the new master down (down-after-milliseconds is
		// 500 on a loaded machine) may promote it and wipe the data set,
		// as a run here showed; Redis's documentation warns against
		// restarting a master without persistence for that reason. Writes
		// after the kill have no replica to confirm them (unknown
		// outcome); those confirmed before it must survive.
		run("SIGKILL of the master", func() string {
			old := s.MasterAddr()
			s.KillMaster()
			return s.WaitMasterChange(old)
		}, false)
	}
	load.Stop()
	for _, e := range load.ErrorTexts() {
		if !strings.HasPrefix(e, "-ERR upstream unavailable: ") && !strings.HasPrefix(e, "-READONLY ") {
			t.Errorf("clients saw %q during the failover; want -ERR upstream unavailable: ... (or Redis's -READONLY from the demoted master)", e)
		}
	}
	master := s.MasterAddr()
	ch := faultVerify(t, load, faultDirectGet(t, master))
	var parts []string
	var worst time.Duration
	for _, r := range rounds {
		parts = append(parts, fmt.Sprintf("%s: new master agreed by the sentinels after %v, %d errors, recovery %v", r.how, r.failover.Round(time.Millisecond), r.errs, r.recov))
		worst = max(worst, r.recov)
	}
	faultRecord(t, reliability.Result{
		Scenario: "Sentinel failover under load",
		Promise: "respcache follows the master Sentinel names; during the switch clients get -ERR upstream unavailable errors; " +
			"no write confirmed by WAIT 1 is lost; clients recover by themselves.",
		ClientsSee: load.ErrorTexts(),
		Measured: fmt.Sprintf("%d writers, each SET/INCR followed by WAIT 1 250 (a write counts as acknowledged only when WAIT answers 1); %s. "+
			"%d SETs acknowledged, %d unknown; INCR %d acknowledged, %d unknown; errors: %s",
			load.cfg.Writers, strings.Join(parts, "; "), ch.acked, ch.unknownSets, ch.incrAcked, ch.incrUnkn, faultSummary(load.Errors())),
		Lost:     ch.lost,
		Recovery: worst,
	})
}

// faultClusterReshard runs respcache with topology cluster in front of a
// 3-master Redis Cluster and, under load whose keys sit in a few hash
// slots, migrates those slots to other masters the way redis-cli --cluster
// reshard does: the slot is marked MIGRATING/IMPORTING, its keys move in
// small batches while clients keep writing (the source answers -ASK for
// keys already moved), then the slot is assigned to its new master (the
// old one answers -MOVED). respcache follows both redirections itself:
// clients must see no error at all.
func faultClusterReshard(t *testing.T, bin string) {
	c := redistest.StartCluster(t, 3, 0)
	p := faultStartRespcache(t, bin, fmt.Sprintf(
		"backend:\n  type: redis\n  redis:\n    topology: cluster\n    addrs: [%s]\n", strings.Join(c.MasterAddrs(), ", ")))
	faultWaitServing(t, p.addr)
	tags := faultSize(4, 8)
	load := faultStartLoad(faultLoadConfig{
		Addr: p.addr, Prefix: "reshard:", Tags: tags, Writers: faultSize(4, 8), HotReaders: 0, Pace: time.Millisecond,
	})
	defer load.Stop()
	load.WaitAcked(t, faultSize(300, 2000), 30*time.Second)
	masters := c.MasterAddrs()
	rounds := faultSize(1, 3)
	moved, movedKeys := 0, 0
	begin := time.Now()
	load.SetPhase("reshard")
	for round := 0; round < rounds; round++ {
		for i := 0; i < tags; i++ {
			slot := c.KeySlot(faultTag(i))
			from := c.SlotOwner(slot)
			to := masters[(slices.Index(masters, from)+1)%len(masters)]
			m := c.BeginMigration(slot, to)
			// Move the keys a few at a time, so that clients meet the slot
			// half moved (-ASK) for a while, then the rest at once (the
			// writers keep adding keys to the other slots faster than
			// small batches would drain them).
			for b := 0; b < faultSize(10, 30); b++ {
				r, err := faultDo(from, 5*time.Second, "CLUSTER", "GETKEYSINSLOT", strconv.Itoa(slot), "10")
				if err != nil {
					t.Fatalf("CLUSTER GETKEYSINSLOT %d on %s: %v", slot, from, err)
				}
				keys := faultArrayOfBulks(r)
				if len(keys) == 0 {
					break
				}
				m.MoveKeys(keys...)
				movedKeys += len(keys)
				faultHold(30 * time.Millisecond)
			}
			m.MoveAll()
			m.Finish()
			moved++
		}
	}
	reshard := time.Since(begin)
	load.SetPhase("after")
	// The redirections really happened: the masters answered -ASK and
	// -MOVED (to respcache, which followed them).
	redirects := map[string]int{}
	for _, a := range masters {
		r, err := faultDo(a, 5*time.Second, "INFO", "errorstats")
		if err != nil {
			t.Fatalf("INFO errorstats on %s: %v", a, err)
		}
		for k, v := range parseInfo(string(r)) {
			if kind, ok := strings.CutPrefix(k, "errorstat_"); ok {
				n, _ := strconv.Atoi(strings.TrimPrefix(v, "count="))
				redirects[kind] += n
			}
		}
	}
	if redirects["ASK"] == 0 || redirects["MOVED"] == 0 {
		t.Errorf("the masters answered %v: the migration did not exercise both -ASK and -MOVED", redirects)
	}
	load.WaitAcked(t, load.Acked()+50, 15*time.Second)
	load.Stop()
	if e := load.Errors(); len(e) != 0 {
		t.Errorf("clients saw errors while slots moved: %v", e)
	}
	before, during := load.Stats(faultWriter, "before"), load.Stats(faultWriter, "reshard")
	if during.ok == 0 {
		t.Fatalf("no command completed while the slots moved")
	}
	ch := faultVerify(t, load, faultDirectGet(t, masters[0]))
	faultRecord(t, reliability.Result{
		Scenario: "Redis Cluster resharding (MOVED/ASK) under load",
		Promise:  "respcache follows -MOVED and -ASK itself: clients see no error while slots holding their keys move between masters; nothing is lost.",
		Measured: fmt.Sprintf("3 masters; %d writers on keys in %d hash slots; %d slot migrations (each: up to %d batches of 10 keys 30ms apart, %d keys moved so, then the rest at once) in %v; "+
			"the masters answered %d -ASK and %d -MOVED, all followed by respcache; %d commands during the migrations, 0 errors; latency p50/p99 before %v/%v, during %v/%v. %d SETs acknowledged; INCR %d acknowledged.",
			load.cfg.Writers, tags, moved, faultSize(10, 30), movedKeys, reshard.Round(time.Millisecond),
			redirects["ASK"], redirects["MOVED"], during.ok, faultQuantile(before.lat, 0.5), faultQuantile(before.lat, 0.99), faultQuantile(during.lat, 0.5), faultQuantile(during.lat, 0.99),
			ch.acked, ch.incrAcked),
		Lost: ch.lost,
	})
}

// faultArrayOfBulks returns the elements of a RESP array of bulk strings
// (no CRLF inside elements, as with key names the suite writes).
func faultArrayOfBulks(r []byte) []string {
	lines := strings.Split(strings.TrimSuffix(string(r), "\r\n"), "\r\n")
	var out []string
	for i := 2; i < len(lines); i += 2 {
		out = append(out, lines[i])
	}
	return out
}

// faultSlowUpstreamProbe measures what an upstream slower than
// backend.redis.read_timeout (but alive) costs each command: it should be
// the upstream's own latency (it was twice that while the liveness probe
// ran in the reader's line, before store/redis Lane.probe).
func faultSlowUpstreamProbe(t *testing.T, bin string) {
	const (
		readTimeout = 100 * time.Millisecond
		latency     = 200 * time.Millisecond
		n           = 10
	)
	rs := redistest.Start(t)
	tp := faultToxiproxy(t, rs.Addr())
	p := faultStartRespcache(t, bin, fmt.Sprintf("backend:\n  type: redis\n  redis:\n    addrs: [%s]\n    read_timeout: %v\n", tp.Listen, readTimeout))
	faultWaitServing(t, p.addr)
	c := redistest.Dial(t, p.addr)
	direct := redistest.Dial(t, rs.Addr())
	conns := func() int64 {
		v, _ := strconv.ParseInt(parseInfo(direct.DoString("INFO", "stats"))["total_connections_received"], 10, 64)
		return v
	}
	faultAddToxic(t, tp, "slow", "latency", "downstream", fmt.Sprintf(`{"latency":%d}`, latency.Milliseconds()))
	before := conns()
	var lat []time.Duration
	for i := 0; i < n; i++ {
		begin := time.Now()
		if r := c.DoString("SET", "probe:"+strconv.Itoa(i), "v"); r != "+OK\r\n" {
			t.Fatalf("SET: %q", r)
		}
		lat = append(lat, time.Since(begin))
	}
	opened := conns() - before
	t.Logf("%d SETs with %v upstream latency and read_timeout %v: latencies %v; %d new upstream connections", n, latency, readTimeout, lat, opened)
	if q := faultQuantile(lat, 0.5); q > latency*3/2 {
		t.Errorf("SET p50 %v with an upstream latency of %v: the read-timeout probe adds its own round trip to every reply", q, latency)
	}
	// A probe that found the server alive holds for a second: at most one
	// new connection per second of slowness (plus the first).
	var slow time.Duration
	for _, d := range lat {
		slow += d
	}
	if allowed := int64(slow/time.Second) + 1; opened > allowed {
		t.Errorf("%d new upstream connections for %d slow SETs over %v (allowed %d): the read-timeout probe dials one per slow reply",
			opened, n, slow.Round(time.Millisecond), allowed)
	}
}

// faultTrackingBackoff kills the invalidation link several times, each
// time after it has been up and healthy for several heartbeats: each
// reconnection should take about the first backoff step (50ms), not grow
// with the number of earlier cuts (it did before Tracker.run reset its
// backoff after a link that was up).
func faultTrackingBackoff(t *testing.T, bin string) {
	rs := redistest.Start(t)
	p := faultStartRespcache(t, bin, "backend:\n  type: redis\n  redis:\n    addrs: ["+rs.Addr()+"]\n")
	faultWaitServing(t, p.addr)
	direct := redistest.Dial(t, rs.Addr())
	var took []time.Duration
	for i := 0; i < 6; i++ {
		redistest.Eventually(t, 10*time.Second, func() bool { return faultTrackingStatus(p.addr) == "up" }, "tracking_status:up")
		faultHold(2 * time.Second) // a healthy link: several heartbeats answered
		old := faultKillTracking(t, direct)
		begin := time.Now()
		redistest.Eventually(t, 10*time.Second, func() bool {
			id := faultTrackingID(direct)
			return id != "" && id != old
		}, "a new tracking connection")
		took = append(took, time.Since(begin))
	}
	t.Logf("reconnections after each cut: %v", took)
	if last := took[len(took)-1]; last > 300*time.Millisecond {
		t.Errorf("the 6th cut of a healthy invalidation link took %v to reconnect (all: %v); want about the first backoff step, as the first cut (%v)",
			last, took, took[0])
	}
}
