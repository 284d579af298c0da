package proxy

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respcache/respcache/cache"
	"github.com/respcache/respcache/internal/redistest"
	"github.com/respcache/respcache/resp"
	"github.com/respcache/respcache/store/disk"
	"github.com/respcache/respcache/store/journal"
	"github.com/respcache/respcache/store/redis"
	"github.com/respcache/respcache/telemetry"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// wbProxy is a write-back proxy for a test.
type wbProxy struct {
	*testProxy
	dir string
	j   *journal.Journal
}

type wbOptions struct {
	maxDirty  int64
	bpTimeout time.Duration
	fsync     string
	interval  time.Duration
	dir       string
	readTO    time.Duration
	tracing   *telemetry.Tracing
}

// startWriteBack starts a write-back proxy in front of upstream.
func startWriteBack(t testing.TB, upstream string, o wbOptions) *wbProxy {
	t.Helper()
	if o.dir == "" {
		o.dir = t.TempDir()
	}
	j, err := journal.Open(context.Background(), journal.Options{Dir: o.dir, Fsync: o.fsync})
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-in first-out: the journal closes after the proxy.
	t.Cleanup(func() { j.Close() })
	c, err := cache.New(cache.Config{MaxMemory: 64 << 20, MaxDirty: o.maxDirty, BackpressureTimeout: o.bpTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	p := startProxy(t, Config{
		Cache:     CacheConfig{Cache: c},
		WriteBack: &WriteBackConfig{Journal: j, FlushInterval: o.interval, FlushTimeout: 2 * time.Second},
		Telemetry: Telemetry{Tracing: o.tracing},
	}, redis.Config{Addrs: []string{upstream}, ReadTimeout: o.readTO, DialTimeout: time.Second})
	// Hash writes are written back once the upstream's listpack limits are
	// known (read at startup); until then they are written through.
	redistest.Eventually(t, 5*time.Second, func() bool {
		_, _, ok := p.up.HashListpackLimits()
		return ok
	}, "hash listpack limits known")
	return &wbProxy{testProxy: p, dir: o.dir, j: j}
}

// wbStep is a command (space-separated) and its exact reply.
type wbStep struct{ args, want string }

// wbExpect runs steps on c and stops the test at the first reply that
// differs; what names the side in the message.
func wbExpect(t *testing.T, c *redistest.Conn, what string, steps []wbStep) {
	t.Helper()
	for _, step := range steps {
		if got := string(c.Do(strings.Fields(step.args)...)); got != step.want {
			t.Fatalf("%s%s = %q, want %q", what, step.args, got, step.want)
		}
	}
}

// keyspace renders every key of db 9 of a redis-server with its type and
// content, sorted, for comparing two servers' states: strings and lists
// exactly, hashes in order when Redis keeps them in order (listpack) and
// sorted otherwise, sorted sets with scores, sets by size (SPOP and
// SRANDMEMBER differ between servers), expiry as present or not.
func keyspace(t testing.TB, addr string) string {
	t.Helper()
	c := redistest.Dial(t, addr)
	defer c.Close()
	c.Do("SELECT", redistest.DiffDB)
	strs := func(r []byte) []string {
		elems, _, _ := resp.Elements(r, nil)
		var out []string
		for _, e := range elems {
			v, _ := resp.StringValue(e)
			out = append(out, string(v))
		}
		return out
	}
	keys := strs(c.Do("KEYS", "*"))
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		typ := strings.TrimSpace(strings.TrimPrefix(c.DoString("TYPE", k), "+"))
		var content any
		switch typ {
		case "string":
			v, _ := resp.StringValue(c.Do("GET", k))
			content = string(v)
		case "hash":
			pairs := strs(c.Do("HGETALL", k))
			if enc, _ := resp.StringValue(c.Do("OBJECT", "ENCODING", k)); string(enc) != "listpack" {
				var joined []string
				for i := 0; i+1 < len(pairs); i += 2 {
					joined = append(joined, pairs[i]+"="+pairs[i+1])
				}
				sort.Strings(joined)
				pairs = joined
			}
			content = pairs
		case "list":
			content = strs(c.Do("LRANGE", k, "0", "-1"))
		case "zset":
			content = strs(c.Do("ZRANGE", k, "0", "-1", "WITHSCORES"))
		case "set":
			content = c.DoString("SCARD", k)
		}
		ttl := "none"
		if r := c.DoString("PTTL", k); !strings.HasPrefix(r, ":-") {
			ttl = "some" // the two servers ran at slightly different times
		}
		fmt.Fprintf(&b, "%q %s %q %s\n", k, typ, content, ttl)
	}
	return b.String()
}

// TestWriteBackDifferential runs the differential corpora through a
// write-back proxy: every reply must be byte-identical to redis-server's
// (the string and hash writes are answered by respcache itself, everything
// else after the dirty keys it depends on were flushed), and after a drain
// the backend must hold exactly what the reference server holds.
func TestWriteBackDifferential(t *testing.T) {
	files := redistest.CorpusFiles(t)
	more, _ := filepath.Glob("../store/disk/testdata/diff/*.txt")
	files = append(files, more...)
	ref := redistest.Start(t)
	up := redistest.Start(t)
	p := startWriteBack(t, up.Addr(), wbOptions{})
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		if strings.Contains(f, "store/disk") {
			name = "disk-" + name
		}
		t.Run(name, func(t *testing.T) {
			redistest.RunDiff(t, f, ref.Addr(), p.Addr, redistest.WithViaServer(up.Addr()),
				// A flushed string is written with SET: Redis encodes a
				// short one embstr where APPEND or SETRANGE left it raw
				// (documented in README, write-back).
				redistest.WithShapeOnly(func(args []string) bool {
					return len(args) >= 2 && strings.EqualFold(args[0], "object") && strings.EqualFold(args[1], "encoding")
				}))
			if t.Failed() {
				return // the two servers stopped at different points
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := p.srv.DrainWriteBack(ctx); err != nil {
				t.Fatalf("drain: %v", err)
			}
			if a, b := keyspace(t, ref.Addr()), keyspace(t, up.Addr()); a != b {
				t.Errorf("after the drain the backend differs from redis-server:\n--- redis-server\n%s--- backend\n%s", a, b)
			}
		})
	}
	if ws := p.srv.WriteBackStats(); ws.Flushed == 0 {
		t.Errorf("nothing was written back: %+v", ws)
	}
}

// TestWriteBackLocal checks that string and hash writes are acknowledged
// locally (the backend sees them only after the flush), that a client reads
// its own writes through any command, and that INFO reports the state.
func TestWriteBackLocal(t *testing.T) {
	up := redistest.Start(t)
	p := startWriteBack(t, up.Addr(), wbOptions{interval: time.Hour})
	c := redistest.Dial(t, p.Addr)
	direct := redistest.Dial(t, up.Addr())
	wbExpect(t, c, "", []wbStep{
		{"SET a 1", "+OK\r\n"},
		{"INCRBY a 41", ":42\r\n"},
		{"HSET h f1 v1 f2 v2", ":2\r\n"},
		{"HINCRBY h n 5", ":5\r\n"},
		{"GET a", "$2\r\n42\r\n"},
		{"HGETALL h", "*6\r\n$2\r\nf1\r\n$2\r\nv1\r\n$2\r\nf2\r\n$2\r\nv2\r\n$1\r\nn\r\n$1\r\n5\r\n"},
	})
	if got := string(direct.Do("EXISTS", "a", "h")); got != ":0\r\n" {
		t.Fatalf("the backend has the keys before any flush (flush_interval 1h): EXISTS = %q", got)
	}
	info := string(c.Do("INFO", "respcache"))
	if !strings.Contains(info, "dirty_keys:2\r\n") || strings.Contains(info, "journal_bytes:0\r\n") {
		t.Fatalf("INFO respcache does not show the dirty state:\n%s", info)
	}
	// A command the cache does not answer sees the writes: respcache
	// flushes the keys it names first.
	if got := string(c.Do("OBJECT", "ENCODING", "a")); got != "$3\r\nint\r\n" {
		t.Fatalf("OBJECT ENCODING a = %q", got)
	}
	if got := string(direct.Do("GET", "a")); got != "$2\r\n42\r\n" {
		t.Fatalf("the backend's a after OBJECT ENCODING through respcache = %q", got)
	}
	// A keyless read of the keyspace sees everything.
	if got := string(c.Do("DBSIZE")); got != ":2\r\n" {
		t.Fatalf("DBSIZE = %q", got)
	}
	if got := string(direct.Do("HGET", "h", "n")); got != "$1\r\n5\r\n" {
		t.Fatalf("the backend's h.n after DBSIZE = %q", got)
	}
}

// TestWriteBackOutage stops the backend while writers push: writes stay
// acknowledged until max_dirty, then fail with the backpressure error; when
// the backend is back everything acknowledged lands.
func TestWriteBackOutage(t *testing.T) {
	up := redistest.Start(t, redistest.WithArgs("--appendonly", "no"))
	p := startWriteBack(t, up.Addr(), wbOptions{maxDirty: 256 << 10, bpTimeout: 200 * time.Millisecond, readTO: 500 * time.Millisecond})
	up.Stop()
	c := redistest.Dial(t, p.Addr)
	value := strings.Repeat("v", 1000)
	acked := map[string]bool{}
	var bpErr string
	for i := 0; i < 1000 && bpErr == ""; i++ {
		k := "k" + strconv.Itoa(i)
		r := string(c.Do("SET", k, value))
		switch {
		case r == "+OK\r\n":
			acked[k] = true
		case strings.HasPrefix(r, "-"):
			bpErr = r
		}
	}
	want := "-" + errBackpressure + "\r\n"
	if bpErr != want {
		t.Fatalf("with the backend down, after %d acknowledged writes: %q, want %q", len(acked), bpErr, want)
	}
	if len(acked) < 200 || len(acked) > 270 {
		t.Fatalf("%d writes of ~1KB acknowledged before backpressure with max_dirty 256KiB", len(acked))
	}
	// Reads of acknowledged writes are served while the backend is down.
	if got := string(c.Do("STRLEN", "k0")); got != ":1000\r\n" {
		t.Fatalf("STRLEN k0 while the backend is down = %q", got)
	}
	up.Restart()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := p.srv.DrainWriteBack(ctx); err != nil {
		t.Fatalf("drain after the backend came back: %v", err)
	}
	t.Logf("%d acknowledged writes flushed %v after the backend came back", len(acked), time.Since(start))
	d := redistest.Dial(t, up.Addr())
	for k := range acked {
		if got := string(d.Do("STRLEN", k)); got != ":1000\r\n" {
			t.Fatalf("acknowledged %s lost: STRLEN = %q", k, got)
		}
	}
	// And writes are accepted again.
	if got := string(c.Do("SET", "after", "1")); got != "+OK\r\n" {
		t.Fatalf("SET after recovery = %q", got)
	}
}

// TestWriteBackReplay stops respcache without a drain (Close, as a crash
// leaves things), starts a new one on the same journal with the backend
// down at first, and checks that the replayed state is served and flushed.
func TestWriteBackReplay(t *testing.T) {
	up := redistest.Start(t)
	dir := t.TempDir()
	p := startWriteBack(t, up.Addr(), wbOptions{dir: dir, interval: time.Hour})
	c := redistest.Dial(t, p.Addr)
	c.Do("SET", "s", "x")
	c.Do("INCR", "n")
	c.Do("INCR", "n")
	c.Do("HSET", "h", "a", "1", "b", "2")
	c.Do("SET", "gone", "1")
	c.Do("DEL", "gone")
	c.Do("SET", "ttl", "1", "PX", "600000")
	c.Close()
	p.srv.Close()
	p.j.Close()
	if got := string(redistest.Dial(t, up.Addr()).Do("DBSIZE")); got != ":0\r\n" {
		t.Fatalf("backend DBSIZE before replay = %q", got)
	}
	q := startWriteBack(t, up.Addr(), wbOptions{dir: dir})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := q.srv.DrainWriteBack(ctx); err != nil {
		t.Fatal(err)
	}
	d := redistest.Dial(t, up.Addr())
	wbExpect(t, d, "backend ", []wbStep{
		{"GET s", "$1\r\nx\r\n"},
		{"GET n", "$1\r\n2\r\n"},
		{"HGETALL h", "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n"},
		{"EXISTS gone", ":0\r\n"},
	})
	if pttl, _ := strconv.Atoi(strings.Trim(string(d.Do("PTTL", "ttl")), ":\r\n")); pttl < 590000 {
		t.Errorf("backend PTTL ttl = %d, want about 600000", pttl)
	}
	if st := q.j.Stats(); st.ConfirmedSeq != st.LastSeq {
		t.Errorf("journal not confirmed after the drain: %+v", st)
	}
}

// TestWriteBackConcurrentIncr has many clients INCR a few keys through
// write-back while the flusher runs; every increment must land once.
func TestWriteBackConcurrentIncr(t *testing.T) {
	up := redistest.Start(t)
	p := startWriteBack(t, up.Addr(), wbOptions{interval: time.Millisecond})
	const clients, per = 8, 300
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := redistest.DialRaw(p.Addr, 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for n := 0; n < per; n++ {
				k := "c" + strconv.Itoa(n%3)
				var r []byte
				if n%10 == 0 {
					// Interleave a write-through command on the same key.
					r, err = c.Do("OBJECT", "ENCODING", k)
				} else {
					r, err = c.Do("INCR", k)
				}
				if err != nil || bytes.HasPrefix(r, []byte("-")) {
					t.Errorf("client %d: %q %v", i, r, err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.srv.DrainWriteBack(ctx); err != nil {
		t.Fatal(err)
	}
	d := redistest.Dial(t, up.Addr())
	total := 0
	for k := 0; k < 3; k++ {
		v, _ := resp.StringValue(d.Do("GET", "c"+strconv.Itoa(k)))
		n, _ := strconv.Atoi(string(v))
		total += n
	}
	if want := clients * per * 9 / 10; total != want {
		t.Fatalf("backend holds %d increments, want %d", total, want)
	}
}

// TestWriteBackSpans checks the write-back spans: the journal append is a
// child of the sampled write's span, and the flush batch that carries the
// write is a root span linked to it.
func TestWriteBackSpans(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr, err := telemetry.NewTracingWithExporter(context.Background(), telemetry.TraceConfig{SampleRatio: 1}, nil, exp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Shutdown(context.Background()) })
	up := redistest.Start(t)
	p := startWriteBack(t, up.Addr(), wbOptions{tracing: tr})
	conn := redistest.Dial(t, p.Addr)
	if got := conn.DoString("SET", "traced", "1"); got != "+OK\r\n" {
		t.Fatalf("SET = %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.srv.DrainWriteBack(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tr.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	var set, appendSp, flush *tracetest.SpanStub
	spans := exp.GetSpans()
	for i := range spans {
		switch s := &spans[i]; s.Name {
		case "SET":
			set = s
		case telemetry.SpanJournalAppend:
			appendSp = s
		case telemetry.SpanFlush:
			flush = s
		}
	}
	if set == nil || appendSp == nil || flush == nil {
		names := []string{}
		for _, s := range spans {
			names = append(names, s.Name)
		}
		t.Fatalf("want set, %s and %s spans, got %v", telemetry.SpanJournalAppend, telemetry.SpanFlush, names)
	}
	if appendSp.Parent.SpanID() != set.SpanContext.SpanID() {
		t.Errorf("journal append span's parent %v, want the SET span %v", appendSp.Parent.SpanID(), set.SpanContext.SpanID())
	}
	if flush.Parent.IsValid() {
		t.Errorf("flush span has a parent: %v", flush.Parent)
	}
	linked := false
	for _, l := range flush.Links {
		linked = linked || l.SpanContext.SpanID() == set.SpanContext.SpanID()
	}
	if !linked {
		t.Errorf("flush span links %v, want the SET span %v", flush.Links, set.SpanContext.SpanID())
	}
}

// TestWriteBackDiskDifferential runs the embedded store's differential
// scripts through respcache with write-back in front of the disk store:
// string writes are answered locally and flushed into the store, the rest
// after the dirty keys they may see; replies must be redis-server's.
func TestWriteBackDiskDifferential(t *testing.T) {
	files, _ := filepath.Glob("../store/disk/testdata/diff/*.txt")
	more, _ := filepath.Glob("../store/disk/testdata/*_*.txt")
	files = append(files, more...)
	rs := redistest.Start(t)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			st, err := disk.Open(disk.Options{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			j, err := journal.Open(context.Background(), journal.Options{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { j.Close() })
			c, err := cache.New(cache.Config{MaxMemory: 16 << 20})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			p := startProxyWith(t, Config{Store: diskStore{st}, Cache: CacheConfig{Cache: c},
				WriteBack: &WriteBackConfig{Journal: j}}, nil)
			redistest.RunDiff(t, f, rs.Addr(), p.Addr,
				redistest.WithShapeOnly(func(args []string) bool {
					return len(args) >= 2 && strings.EqualFold(args[0], "object") && strings.EqualFold(args[1], "encoding")
				}))
			if p.srv.WriteBackStats().Flushed == 0 && strings.Contains(f, "strings") {
				t.Errorf("nothing was written back")
			}
		})
	}
}
