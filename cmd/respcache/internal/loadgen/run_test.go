package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respcache/respcache/internal/redistest"
	"github.com/respcache/respcache/resp"
)

// infoFields returns the name:value lines of INFO section on c.
func infoFields(t *testing.T, c *redistest.Conn, section string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, line := range strings.Split(string(bulkPayload(c.Do("INFO", section))), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m
}

// commandCalls returns the calls= count per command from INFO commandstats.
func commandCalls(t *testing.T, c *redistest.Conn) map[string]int64 {
	t.Helper()
	calls := map[string]int64{}
	for k, v := range infoFields(t, c, "commandstats") {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		for _, kv := range strings.Split(v, ",") {
			if n, ok := strings.CutPrefix(kv, "calls="); ok {
				calls[name], _ = strconv.ParseInt(n, 10, 64)
			}
		}
	}
	return calls
}

func infoInt(t *testing.T, c *redistest.Conn, section, field string) int64 {
	t.Helper()
	v, ok := infoFields(t, c, section)[field]
	if !ok {
		t.Fatalf("INFO %s has no %s", section, field)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustRun(t *testing.T, o Options) *Result {
	t.Helper()
	res, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(res.ConnectionErrors) > 0 {
		t.Fatalf("broken connections: %v", res.ConnectionErrors)
	}
	return res
}

func commandResult(t *testing.T, res *Result, name string) CommandResult {
	t.Helper()
	for _, c := range res.Commands {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s in result %+v", name, res.Commands)
	return CommandResult{}
}

// TestRunSendsExactlyRequests is the brief's acceptance case: --requests
// 20000 --clients 4 --pipeline 8 must make redis-server execute exactly
// 20000 GET+SET, in the asked read ratio, and the result must say so.
func TestRunSendsExactlyRequests(t *testing.T) {
	srv := redistest.Start(t)
	admin := redistest.Dial(t, srv.Addr())
	res := mustRun(t, Options{Addr: srv.Addr(), Requests: 20000, Clients: 4, Pipeline: 8, ReadRatio: 0.9, Keys: 1000, Seed: 7})
	calls := commandCalls(t, admin)
	if got := calls["get"] + calls["set"]; got != 20000 {
		t.Fatalf("server executed %d GET + %d SET = %d, want 20000", calls["get"], calls["set"], got)
	}
	get, set := commandResult(t, res, "GET"), commandResult(t, res, "SET")
	if get.Requests != calls["get"] || set.Requests != calls["set"] || res.Requests != 20000 {
		t.Fatalf("result counts GET %d SET %d total %d; server GET %d SET %d", get.Requests, set.Requests, res.Requests, calls["get"], calls["set"])
	}
	// Binomial sd of the read fraction is sqrt(0.09/20000) = 0.0021.
	if ratio := float64(calls["get"]) / 20000; math.Abs(ratio-0.9) > 0.015 {
		t.Fatalf("read ratio %.4f, want 0.9 ± 0.015", ratio)
	}
	if res.Errors != 0 || len(res.ErrorTexts) != 0 {
		t.Fatalf("errors: %d %v", res.Errors, res.ErrorTexts)
	}
	if res.Latency.P50 <= 0 || res.Latency.P50 > res.Latency.P99 || res.Latency.P99 > res.Latency.Max {
		t.Fatalf("latency percentiles out of order: %+v", res.Latency)
	}
	if res.OpsPerSec <= 0 || res.Seconds <= 0 {
		t.Fatalf("throughput %v over %v s", res.OpsPerSec, res.Seconds)
	}
}

func TestRunFill(t *testing.T) {
	for _, tc := range []struct {
		name     string
		commands string
		keys     uint64
		values   SizeRange
		check    func(t *testing.T, c *redistest.Conn)
	}{
		{"strings", "get,mget:4", 5000, SizeRange{}, func(t *testing.T, c *redistest.Conn) {
			if v := bulkPayload(c.Do("GET", "key:4999")); len(v) != 100 {
				t.Fatalf("GET key:4999 = %d bytes, want 100", len(v))
			}
		}},
		{"hashes", "hget,hgetall", 300, SizeRange{}, func(t *testing.T, c *redistest.Conn) {
			if got := c.DoString("HLEN", "key:299"); got != ":10\r\n" {
				t.Fatalf("HLEN key:299 = %q, want :10", got)
			}
		}},
		// 300KB values: fill batches are cut at fillBatchBytes.
		{"large values", "get", 40, SizeRange{300_000, 300_000}, func(t *testing.T, c *redistest.Conn) {
			if got := c.DoString("STRLEN", "key:39"); got != ":300000\r\n" {
				t.Fatalf("STRLEN key:39 = %q", got)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := redistest.Start(t)
			admin := redistest.Dial(t, srv.Addr())
			cmds, err := ParseCommands(tc.commands)
			if err != nil {
				t.Fatal(err)
			}
			res := mustRun(t, Options{Addr: srv.Addr(), Requests: 3000, Clients: 3, Pipeline: 4, Keys: tc.keys, Commands: cmds, ReadRatio: 1, Fill: true, ValueSize: tc.values})
			if got := admin.DoString("DBSIZE"); got != fmt.Sprintf(":%d\r\n", tc.keys) {
				t.Fatalf("DBSIZE = %q after filling %d keys", got, tc.keys)
			}
			if res.Fill == nil || res.Fill.Keys != tc.keys || res.Fill.Errors != 0 {
				t.Fatalf("fill result %+v", res.Fill)
			}
			// Reads after a fill all find their key.
			if misses := infoInt(t, admin, "stats", "keyspace_misses"); misses != 0 {
				t.Fatalf("%d keyspace misses after the fill", misses)
			}
			if res.Errors != 0 || res.Requests != 3000 {
				t.Fatalf("measured %d requests, %d errors", res.Requests, res.Errors)
			}
			tc.check(t, admin)
		})
	}
}

func TestRunAuth(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPassword("s3cret"))
	t.Run("no password: NOAUTH counted", func(t *testing.T) {
		res := mustRun(t, Options{Addr: srv.Addr(), Requests: 1000, Clients: 2, Pipeline: 5, ReadRatio: 0.5})
		want := []ErrorCount{{Text: "NOAUTH Authentication required.", Count: 1000}}
		if res.Errors != 1000 || fmt.Sprint(res.ErrorTexts) != fmt.Sprint(want) {
			t.Fatalf("errors %d %v, want 1000 %v", res.Errors, res.ErrorTexts, want)
		}
		for _, c := range res.Commands {
			if c.Errors != c.Requests {
				t.Fatalf("%s: %d errors of %d", c.Name, c.Errors, c.Requests)
			}
		}
		var text bytes.Buffer
		if err := res.WriteText(&text); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text.String(), "1000  NOAUTH Authentication required.") {
			t.Fatalf("text report does not list the error:\n%s", text.String())
		}
	})
	t.Run("password", func(t *testing.T) {
		res := mustRun(t, Options{Addr: srv.Addr(), Password: "s3cret", Requests: 1000, Clients: 2, ReadRatio: 0.5})
		if res.Errors != 0 {
			t.Fatalf("errors: %v", res.ErrorTexts)
		}
	})
	t.Run("wrong password fails the start", func(t *testing.T) {
		_, err := Run(context.Background(), Options{Addr: srv.Addr(), Password: "nope", Requests: 10})
		if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), "WRONGPASS") {
			t.Fatalf("Run = %v, want ErrHandshake with WRONGPASS", err)
		}
	})
}

func TestRunRESP3AndDB(t *testing.T) {
	srv := redistest.Start(t)
	admin := redistest.Dial(t, srv.Addr())
	cmds, _ := ParseCommands("get,mget:3,set")
	res := mustRun(t, Options{Addr: srv.Addr(), RESP: 3, DB: 5, Keys: 100, Fill: true, Requests: 2000, Clients: 2, Pipeline: 3, Commands: cmds, ReadRatio: 0.8})
	if res.Errors != 0 || res.Requests != 2000 {
		t.Fatalf("%d requests, errors %v", res.Requests, res.ErrorTexts)
	}
	if got := admin.DoString("DBSIZE"); got != ":0\r\n" {
		t.Fatalf("db 0 has %q keys", got)
	}
	admin.Do("SELECT", "5")
	if got := admin.DoString("DBSIZE"); got != ":100\r\n" {
		t.Fatalf("db 5 DBSIZE = %q, want 100", got)
	}
	if n := infoInt(t, admin, "clients", "connected_clients"); n != 1 {
		t.Fatalf("%d clients still connected after Run", n)
	}
}

func TestRunDuration(t *testing.T) {
	srv := redistest.Start(t)
	res := mustRun(t, Options{Addr: srv.Addr(), Duration: 300 * time.Millisecond, Warmup: 100 * time.Millisecond, Clients: 3, ReadRatio: 0.9})
	if res.Seconds < 0.3 || res.Seconds > 5 {
		t.Fatalf("measured for %.3f s, want about 0.3", res.Seconds)
	}
	if res.Requests == 0 || res.Interrupted {
		t.Fatalf("requests %d, interrupted %v", res.Requests, res.Interrupted)
	}
}

// TestRunInterruptHungServer cancels the context while the server is
// stopped (SIGSTOP): Run must come back within the grace period with the
// partial result, not wait for the server or the timeout.
func TestRunInterruptHungServer(t *testing.T) {
	srv := redistest.Start(t)
	admin := redistest.Dial(t, srv.Addr())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type out struct {
		res *Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := Run(ctx, Options{Addr: srv.Addr(), Duration: time.Minute, Clients: 4, Pipeline: 2, ReadRatio: 0.9, Timeout: 30 * time.Second})
		done <- out{res, err}
	}()
	redistest.Eventually(t, 10*time.Second, func() bool {
		return commandCalls(t, admin)["get"] > 1000
	}, "the load to start")
	srv.Pause()
	t.Cleanup(srv.Resume)
	cancel()
	start := time.Now()
	select {
	case o := <-done:
		if o.err != nil {
			t.Fatal(o.err)
		}
		if !o.res.Interrupted || o.res.Requests < 1000 {
			t.Fatalf("interrupted %v after %d requests", o.res.Interrupted, o.res.Requests)
		}
		if len(o.res.ConnectionErrors) != 0 {
			t.Fatalf("the interrupt was reported as broken connections: %v", o.res.ConnectionErrors)
		}
		if d := time.Since(start); d > stopGrace+5*time.Second { // generous: CI machines are shared
			t.Fatalf("Run took %v to return after the cancel", d)
		}
	case <-time.After(stopGrace + 10*time.Second):
		t.Fatal("Run did not return after the cancel")
	}
}

func TestRunServerDies(t *testing.T) {
	srv := redistest.Start(t)
	admin := redistest.Dial(t, srv.Addr())
	done := make(chan *Result, 1)
	go func() {
		res, err := Run(context.Background(), Options{Addr: srv.Addr(), Duration: time.Minute, Clients: 3, ReadRatio: 0.9, Timeout: 30 * time.Second})
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	redistest.Eventually(t, 10*time.Second, func() bool {
		return commandCalls(t, admin)["get"] > 1000
	}, "the load to start")
	admin.Close()
	srv.Kill()
	select {
	case res := <-done:
		if res == nil {
			return
		}
		var n int64
		for _, e := range res.ConnectionErrors {
			n += e.Count
		}
		if n != 3 || res.Interrupted {
			t.Fatalf("connection errors %v (interrupted %v), want all 3 clients broken", res.ConnectionErrors, res.Interrupted)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the server died")
	}
}

// fakeCache is a RESP server that answers like respcache would for the
// hit-ratio path: GET of a key whose number is even is a hit, odd a miss,
// and INFO respcache reports the counters (from a non-zero start, as a
// server that has been up a while). It records what each INFO reported.
type fakeCache struct {
	ln           net.Listener
	hits, misses atomic.Int64
	mu           sync.Mutex   // guards infos
	infos        []CacheStats // what each INFO answered, in order
	wg           sync.WaitGroup
}

func startFakeCache(t *testing.T) *fakeCache {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeCache{ln: ln}
	f.hits.Store(1000)
	f.misses.Store(500)
	f.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Go(func() { f.serve(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

func (f *fakeCache) serve(c net.Conn) {
	defer c.Close()
	rd := resp.NewReader(c)
	var out []byte
	for {
		cmds, err := rd.ReadBatch(0)
		if err != nil {
			return
		}
		out = out[:0]
		for _, cmd := range cmds {
			switch strings.ToUpper(string(cmd.Args[0])) {
			case "GET":
				k := cmd.Args[1]
				if (k[len(k)-1]-'0')%2 == 0 {
					f.hits.Add(1)
					out = append(out, "$1\r\nv\r\n"...)
				} else {
					f.misses.Add(1)
					out = append(out, "$-1\r\n"...)
				}
			case "INFO":
				s := CacheStats{Hits: f.hits.Load(), Misses: f.misses.Load()}
				f.mu.Lock()
				f.infos = append(f.infos, s)
				f.mu.Unlock()
				text := fmt.Sprintf("# Respcache\r\ncache_hits:%d\r\ncache_misses:%d\r\ncache_items:7\r\n", s.Hits, s.Misses)
				out = fmt.Appendf(out, "$%d\r\n%s\r\n", len(text), text)
			default:
				out = append(out, "-ERR unknown command\r\n"...)
			}
		}
		if _, err := c.Write(out); err != nil {
			return
		}
	}
}

// TestRunHitRatio checks the delta of INFO respcache: the counters before
// the measurement (after the warmup) are subtracted from those after it.
func TestRunHitRatio(t *testing.T) {
	f := startFakeCache(t)
	cmds, _ := ParseCommands("get")
	res := mustRun(t, Options{Addr: f.ln.Addr().String(), Commands: cmds, Warmup: 50 * time.Millisecond, Requests: 5000, Clients: 2, Pipeline: 4, Keys: 1000, Dist: DistUniform})
	f.mu.Lock()
	infos := append([]CacheStats(nil), f.infos...)
	f.mu.Unlock()
	if len(infos) != 2 {
		t.Fatalf("%d INFO calls, want 2 (before and after)", len(infos))
	}
	if infos[0].Hits+infos[0].Misses <= 1500 {
		t.Fatalf("first INFO %+v came before the warmup's GETs", infos[0])
	}
	want := &CacheResult{Hits: infos[1].Hits - infos[0].Hits, Misses: infos[1].Misses - infos[0].Misses}
	want.HitRatio = float64(want.Hits) / float64(want.Hits+want.Misses)
	if res.Cache == nil || *res.Cache != *want {
		t.Fatalf("cache result %+v, want %+v", res.Cache, want)
	}
	if want.Hits+want.Misses != 5000 {
		t.Fatalf("the measurement made %d lookups, want 5000", want.Hits+want.Misses)
	}
	// Uniform keys: half are even; 5000 draws put the ratio in 0.5 ± 0.04
	// (5.6 sd).
	if math.Abs(res.Cache.HitRatio-0.5) > 0.04 {
		t.Fatalf("hit ratio %.3f", res.Cache.HitRatio)
	}
	var text bytes.Buffer
	res.WriteText(&text)
	if !strings.Contains(text.String(), "cache hit ratio: ") {
		t.Fatalf("no hit ratio in the text report:\n%s", text.String())
	}
}

// TestRunNoHitRatioFromRedis: redis-server answers INFO respcache with an
// empty text, so there is no hit ratio.
func TestRunNoHitRatioFromRedis(t *testing.T) {
	srv := redistest.Start(t)
	res := mustRun(t, Options{Addr: srv.Addr(), Requests: 100, Clients: 1, ReadRatio: 1})
	if res.Cache != nil {
		t.Fatalf("hit ratio %+v from redis-server", res.Cache)
	}
}

func TestRunInvalidOptions(t *testing.T) {
	for _, o := range []Options{
		{Requests: 10, Duration: time.Second},
		{RESP: 4},
		{Clients: -1},
		{ReadRatio: 1.5},
		{ZipfS: -1},
		{Dist: "pareto"},
		{ValueSize: SizeRange{10, 5}},
		{Commands: []Command{}},
	} {
		if _, err := Run(context.Background(), o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("Run(%+v) = %v, want ErrInvalidOptions", o, err)
		}
	}
}

// TestPhaseClaimIsExact: concurrent claims add up to exactly the budget,
// whatever the batch size does to the last claim.
func TestPhaseClaimIsExact(t *testing.T) {
	for _, tc := range []struct{ budget, p int64 }{{1003, 8}, {7, 16}, {64, 16}, {1, 1}} {
		ph := &phase{limited: true}
		ph.budget.Store(tc.budget)
		var total atomic.Int64
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					n := ph.claim(tc.p)
					if n == 0 {
						return
					}
					if n < 0 || n > tc.p {
						t.Errorf("claimed %d with p %d", n, tc.p)
					}
					total.Add(n)
				}
			})
		}
		wg.Wait()
		if total.Load() != tc.budget {
			t.Errorf("budget %d, p %d: claimed %d", tc.budget, tc.p, total.Load())
		}
	}
}

// TestLoopRecordsEveryReply checks the batched recording: every reply
// counted is in its command's histogram exactly once.
func TestLoopRecordsEveryReply(t *testing.T) {
	f := startFakeCache(t)
	cmds, _ := ParseCommands("get,mget:2")
	for _, p := range []int{1, 3, 16} {
		o := Options{Addr: f.ln.Addr().String(), Commands: cmds, ReadRatio: 1, Pipeline: p, Keys: 10}
		o.EnsureDefaults()
		c, err := dial(context.Background(), &o)
		if err != nil {
			t.Fatal(err)
		}
		z, _ := NewZipf(o.Keys, o.ZipfS)
		cl := newClient(0, c, newGenerator(&o, z, ptr(NewScramble(o.Keys)), newValue(&o), 0), &o, 3)
		ph := &phase{limited: true}
		ph.budget.Store(1001)
		cl.loop(ph)
		c.close()
		var total int64
		for i, st := range cl.stats {
			if st.hist.TotalCount() != st.count {
				t.Errorf("p=%d %s: %d replies, %d latencies", p, cmds[i].Name(), st.count, st.hist.TotalCount())
			}
			total += st.count
		}
		if total != 1001 || cl.failed != nil {
			t.Errorf("p=%d: %d replies, failed %v", p, total, cl.failed)
		}
	}
}
