package proxy

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respcache/respcache/cache"
	"github.com/respcache/respcache/internal/redistest"
	"github.com/respcache/respcache/store/redis"
)

// startCached starts a proxy with a local cache in front of upstream and
// waits for the invalidation link when it uses one.
func startCached(t testing.TB, upstream string, cc CacheConfig) *testProxy {
	t.Helper()
	c, err := cache.New(cache.Config{MaxMemory: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cc.Cache = c
	if cc.Heartbeat == 0 {
		cc.Heartbeat = 100 * time.Millisecond
	}
	p := startProxy(t, Config{Cache: cc}, redis.Config{Addrs: []string{upstream}})
	if p.srv.cs.tracking {
		redistest.Eventually(t, 5*time.Second, func() bool { return p.srv.cs.linkUp.Load() }, "tracking link up")
	}
	return p
}

// syncLink returns once every invalidation for writes made before it has
// reached the proxy: Redis sends a tracking connection its invalidations in
// the order of the writes, so when a marker key written last is seen
// invalidated, the earlier ones were processed.
func syncLink(t testing.TB, p *testProxy, direct, c *redistest.Conn) {
	t.Helper()
	direct.Do("SET", "__sync", "a")
	redistest.Eventually(t, 5*time.Second, func() bool {
		return c.DoString("GET", "__sync") == "$1\r\na\r\n" && p.srv.cs.c.Contains(0, []byte("__sync"))
	}, "marker cached")
	direct.Do("SET", "__sync", "b")
	redistest.Eventually(t, 5*time.Second, func() bool {
		return c.DoString("GET", "__sync") == "$1\r\nb\r\n"
	}, "marker invalidated")
}

// cmdCalls is the number of calls of a command the server executed.
func cmdCalls(t testing.TB, conn *redistest.Conn, name string) int {
	t.Helper()
	info := string(conn.Do("INFO", "commandstats"))
	i := strings.Index(info, "cmdstat_"+name+":calls=")
	if i < 0 {
		return 0
	}
	rest := info[i+len("cmdstat_"+name+":calls="):]
	n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
	return n
}

// TestCacheDifferential runs the foundation's differential corpus with
// the cache on: every reply byte-identical to redis-server's, RESP2 and
// RESP3, with reads answered locally wherever the cache can.
func TestCacheDifferential(t *testing.T) {
	for _, neg := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprintf("negative_ttl=%v", neg), func(t *testing.T) {
			redistest.RunDiffCorpus(t, func(t testing.TB, upstream string) string {
				return startCached(t, upstream, CacheConfig{NegativeTTL: neg}).Addr
			})
		})
	}
}

func TestCacheHitsStayLocal(t *testing.T) {
	rs := redistest.Start(t)
	p := startCached(t, rs.Addr(), CacheConfig{})
	direct := redistest.Dial(t, rs.Addr())
	c := redistest.Dial(t, p.Addr)
	for _, proto := range []string{"2", "3"} {
		c.Do("HELLO", proto)
		direct.Do("FLUSHALL")
		direct.Do("CONFIG", "RESETSTAT")
		c.Do("SET", "s", "hello", "EX", "100")
		c.Do("HSET", "h", "a", "1", "b", "2", "c", "3")
		// The writes' own invalidations drop the copies when they arrive;
		// wait for them, then one fill each, after which reads stay local.
		syncLink(t, p, direct, c)
		for i := 0; i < 2; i++ {
			c.Do("GET", "s")
			c.Do("HGETALL", "h")
		}
		reads := [][]string{
			{"GET", "s"}, {"STRLEN", "s"}, {"GETRANGE", "s", "1", "-2"}, {"TYPE", "s"}, {"EXISTS", "s", "h", "s"},
			{"MGET", "s", "s"}, {"TTL", "s"}, {"HGET", "h", "b"}, {"HMGET", "h", "a", "zz", "c"}, {"HGETALL", "h"},
			{"HEXISTS", "h", "a"}, {"HLEN", "h"}, {"HKEYS", "h"}, {"HVALS", "h"}, {"HSTRLEN", "h", "c"}, {"TYPE", "h"},
			{"GET", "h"}, {"HGET", "s", "x"},
		}
		direct.Do("HELLO", proto)
		var wants []string
		for _, args := range reads {
			wants = append(wants, direct.DoString(args...))
		}
		direct.Do("CONFIG", "RESETSTAT")
		for i, args := range reads {
			if got := c.DoString(args...); got != wants[i] {
				t.Errorf("RESP%s %v: got %q, redis-server %q", proto, args, got, wants[i])
			}
		}
		info := string(direct.Do("INFO", "commandstats"))
		for _, args := range reads {
			if strings.Contains(info, "cmdstat_"+strings.ToLower(args[0])+":") {
				t.Errorf("RESP%s: %s reached the upstream:\n%s", proto, args[0], info)
			}
		}
		direct.Do("HELLO", "2")
	}
	in := p.srv.Info()
	if in.CacheHits == 0 || in.TrackingStatus != "up" {
		t.Errorf("INFO: %+v", in)
	}
}

func TestCacheReadYourWrites(t *testing.T) {
	rs := redistest.Start(t)
	// Without an invalidation link every staleness would stay: the proxy
	// alone must keep the cache right.
	p := startCached(t, rs.Addr(), CacheConfig{Invalidation: "off", NegativeTTL: time.Hour})
	c := redistest.Dial(t, p.Addr)
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"GET", "k"}, "$-1\r\n"},
		{[]string{"SET", "k", "1"}, "+OK\r\n"},
		{[]string{"GET", "k"}, "$1\r\n1\r\n"},
		{[]string{"INCR", "k"}, ":2\r\n"},
		{[]string{"GET", "k"}, "$1\r\n2\r\n"},
		{[]string{"INCRBYFLOAT", "k", "0.5"}, "$3\r\n2.5\r\n"},
		{[]string{"GET", "k"}, "$3\r\n2.5\r\n"},
		{[]string{"APPEND", "k", "x"}, ":4\r\n"},
		{[]string{"GET", "k"}, "$4\r\n2.5x\r\n"},
		{[]string{"SET", "k", "v", "NX"}, "$-1\r\n"},
		{[]string{"GET", "k"}, "$4\r\n2.5x\r\n"},
		{[]string{"SET", "k", "v", "XX", "PX", "100000"}, "+OK\r\n"},
		{[]string{"GET", "k"}, "$1\r\nv\r\n"},
		{[]string{"SET", "k", "w", "KEEPTTL"}, "+OK\r\n"},
		{[]string{"GET", "k"}, "$1\r\nw\r\n"},
		{[]string{"MSET", "k", "m1", "k2", "m2"}, "+OK\r\n"},
		{[]string{"MGET", "k", "k2"}, "*2\r\n$2\r\nm1\r\n$2\r\nm2\r\n"},
		{[]string{"SET", "k", "old", "GET"}, "$2\r\nm1\r\n"},
		{[]string{"GET", "k"}, "$3\r\nold\r\n"},
		{[]string{"DEL", "k"}, ":1\r\n"},
		{[]string{"GET", "k"}, "$-1\r\n"},
		{[]string{"RENAME", "k2", "k"}, "+OK\r\n"},
		{[]string{"GET", "k2"}, "$-1\r\n"},
		{[]string{"GET", "k"}, "$2\r\nm2\r\n"},
		{[]string{"HSET", "h", "f", "1"}, ":1\r\n"},
		{[]string{"HGET", "h", "f"}, "$1\r\n1\r\n"},
		{[]string{"HINCRBY", "h", "f", "5"}, ":6\r\n"},
		{[]string{"HGET", "h", "f"}, "$1\r\n6\r\n"},
		{[]string{"MULTI"}, "+OK\r\n"},
		{[]string{"SET", "k", "tx"}, "+QUEUED\r\n"},
		{[]string{"HDEL", "h", "f"}, "+QUEUED\r\n"},
		{[]string{"EXEC"}, "*2\r\n+OK\r\n:1\r\n"},
		{[]string{"GET", "k"}, "$2\r\ntx\r\n"},
		{[]string{"HGET", "h", "f"}, "$-1\r\n"},
		{[]string{"EVAL", "redis.call('set', KEYS[1], 'lua') return 1", "1", "k"}, ":1\r\n"},
		{[]string{"GET", "k"}, "$3\r\nlua\r\n"},
		{[]string{"EVAL", "redis.call('set', 'k', 'undeclared') return 1", "0"}, ":1\r\n"},
		{[]string{"GET", "k"}, "$10\r\nundeclared\r\n"},
		{[]string{"COPY", "k", "k3"}, ":1\r\n"},
		{[]string{"GET", "k3"}, "$10\r\nundeclared\r\n"},
		{[]string{"SELECT", "1"}, "+OK\r\n"},
		{[]string{"GET", "k"}, "$-1\r\n"},
		{[]string{"SELECT", "0"}, "+OK\r\n"},
		{[]string{"MOVE", "k", "1"}, ":1\r\n"},
		{[]string{"GET", "k"}, "$-1\r\n"},
		{[]string{"SELECT", "1"}, "+OK\r\n"},
		{[]string{"GET", "k"}, "$10\r\nundeclared\r\n"},
		{[]string{"SWAPDB", "0", "1"}, "+OK\r\n"},
		{[]string{"GET", "k"}, "$-1\r\n"},
		{[]string{"SELECT", "0"}, "+OK\r\n"},
		{[]string{"GET", "k"}, "$10\r\nundeclared\r\n"},
		{[]string{"FLUSHALL"}, "+OK\r\n"},
		{[]string{"GET", "k"}, "$-1\r\n"},
		{[]string{"GET", "k3"}, "$-1\r\n"},
	}
	for i, st := range steps {
		if got := c.DoString(st.args...); got != st.want {
			t.Fatalf("step %d %v: got %q, want %q", i, st.args, got, st.want)
		}
	}
}

// TestCachePipelineOrder sends writes and reads of one key in one pipeline:
// a read after a write must see it even though the key was cached.
func TestCachePipelineOrder(t *testing.T) {
	rs := redistest.Start(t)
	p := startCached(t, rs.Addr(), CacheConfig{Invalidation: "off"})
	c := redistest.Dial(t, p.Addr)
	c.Do("SET", "k", "0")
	c.Do("GET", "k")
	for i := 1; i <= 50; i++ {
		v := strconv.Itoa(i)
		c.Send("GET", "k")
		c.Send("SET", "k", v)
		c.Send("GET", "k")
		c.Send("INCR", "k")
		c.Send("GET", "k")
		prev := strconv.Itoa(i - 1)
		want := []string{
			"$" + strconv.Itoa(len(prev)) + "\r\n" + prev + "\r\n",
			"+OK\r\n",
			"$" + strconv.Itoa(len(v)) + "\r\n" + v + "\r\n",
			":" + strconv.Itoa(i+1) + "\r\n",
			"$" + strconv.Itoa(len(strconv.Itoa(i+1))) + "\r\n" + strconv.Itoa(i+1) + "\r\n",
		}
		for j, w := range want {
			if got := string(c.ReadReply()); got != w {
				t.Fatalf("round %d reply %d: got %q, want %q", i, j, got, w)
			}
		}
		c.Do("SET", "k", v)
	}
}

// TestCacheInvalidationFromOtherWriters measures the stale-read window: a
// writer changes a key directly on redis-server, a reader polls it through
// respcache until it sees the new value.
func TestCacheInvalidationFromOtherWriters(t *testing.T) {
	rs := redistest.Start(t)
	p := startCached(t, rs.Addr(), CacheConfig{})
	direct := redistest.Dial(t, rs.Addr())
	c := redistest.Dial(t, p.Addr)
	const rounds = 300
	var windows []time.Duration
	for i := 0; i < rounds; i++ {
		key := "fresh:" + strconv.Itoa(i%10)
		direct.Do("SET", key, "old")
		redistest.Eventually(t, time.Second, func() bool { return c.DoString("GET", key) == "$3\r\nold\r\n" })
		c.Do("GET", key) // cached now
		start := time.Now()
		direct.Do("SET", key, "new"+strconv.Itoa(i))
		want := fmt.Sprintf("$%d\r\nnew%d\r\n", len("new"+strconv.Itoa(i)), i)
		for c.DoString("GET", key) != want {
			if time.Since(start) > time.Second {
				t.Fatalf("round %d: stale after 1s", i)
			}
		}
		windows = append(windows, time.Since(start))
	}
	sortDurations(windows)
	p99 := windows[len(windows)*99/100]
	t.Logf("stale-read window over %d writes: p50 %v p99 %v max %v", rounds, windows[len(windows)/2], p99, windows[len(windows)-1])
	limit := 10 * time.Millisecond // the goal, on loopback
	if raceEnabled {
		limit = 100 * time.Millisecond
	}
	if p99 > limit {
		t.Errorf("stale-read window p99 %v, want under %v", p99, limit)
	}
}

func sortDurations(d []time.Duration) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j] < d[j-1]; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}

// TestCacheLinkDown cuts the invalidation link while the upstream stays
// reachable (the tracking command is denied by ACL, so the link cannot come
// back): reads must go upstream, never stale; once the link is back the
// cache serves again.
func TestCacheLinkDown(t *testing.T) {
	rs := redistest.Start(t)
	p := startCached(t, rs.Addr(), CacheConfig{})
	direct := redistest.Dial(t, rs.Addr())
	c := redistest.Dial(t, p.Addr)
	direct.Do("SET", "k", "v1")
	// The SET's own invalidation may arrive after the first fill (it comes
	// on another connection) and drop it, and the link may not be up yet
	// right after the start: read until the key is cached.
	redistest.Eventually(t, 5*time.Second, func() bool {
		c.Do("GET", "k")
		return p.srv.cs.c.Contains(0, []byte("k"))
	}, "k cached")
	direct.Do("ACL", "SETUSER", "default", "-client|tracking")
	killTracking(t, direct)
	redistest.Eventually(t, 5*time.Second, func() bool { return !p.srv.cs.linkUp.Load() }, "link seen down")
	if p.srv.Info().TrackingStatus != "down" {
		t.Errorf("tracking_status %q, want down", p.srv.Info().TrackingStatus)
	}
	// A change no invalidation reports: with the link down it must be seen.
	direct.Do("SET", "k", "v2")
	if got := c.DoString("GET", "k"); got != "$2\r\nv2\r\n" {
		t.Errorf("GET with the link down: %q, want the upstream's v2", got)
	}
	direct.Do("ACL", "SETUSER", "default", "+client|tracking")
	redistest.Eventually(t, 5*time.Second, func() bool { return p.srv.cs.linkUp.Load() }, "link back up")
	direct.Do("SET", "k", "v3")
	redistest.Eventually(t, time.Second, func() bool { return c.DoString("GET", "k") == "$2\r\nv3\r\n" })
	// The invalidation of v3 may arrive after a fill stored it; then the
	// next read fills again. Either way hits resume.
	redistest.Eventually(t, 2*time.Second, func() bool {
		before := p.srv.Info().CacheHits
		c.Do("GET", "k")
		return p.srv.Info().CacheHits > before
	}, "cache hits after the link came back")
}

// killTracking closes the upstream's tracking connections (flags t).
func killTracking(t testing.TB, direct *redistest.Conn) {
	t.Helper()
	for _, line := range strings.Split(string(direct.Do("CLIENT", "LIST")), "\n") {
		id := ""
		tracking := false
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id = v
			}
			if v, ok := strings.CutPrefix(f, "flags="); ok {
				tracking = strings.Contains(v, "t")
			}
		}
		if tracking && id != "" {
			direct.Do("CLIENT", "KILL", "ID", id)
		}
	}
}

// TestCacheServeStale stops the upstream: hits keep being answered, misses
// get an error.
func TestCacheServeStale(t *testing.T) {
	rs := redistest.Start(t)
	p := startCached(t, rs.Addr(), CacheConfig{ServeStale: true})
	direct := redistest.Dial(t, rs.Addr())
	c := redistest.Dial(t, p.Addr)
	direct.Do("SET", "k", "v1")
	redistest.Eventually(t, time.Second, func() bool {
		c.Do("GET", "k")
		return p.srv.cs.c.Contains(0, []byte("k"))
	})
	rs.Pause()
	defer rs.Resume()
	redistest.Eventually(t, 10*time.Second, func() bool { return !p.srv.cs.linkUp.Load() }, "link seen down")
	if got := c.DoString("GET", "k"); got != "$2\r\nv1\r\n" {
		t.Errorf("hit while the upstream is down: %q", got)
	}
	c.SetReadTimeout(20 * time.Second)
	if got := c.DoString("GET", "other"); !strings.HasPrefix(got, "-") {
		t.Errorf("miss while the upstream is down: %q, want an error", got)
	}
}

// TestCacheSingleFlight makes 20 clients miss one key at once: the
// upstream sees one read.
func TestCacheSingleFlight(t *testing.T) {
	rs := redistest.Start(t)
	p := startCached(t, rs.Addr(), CacheConfig{})
	direct := redistest.Dial(t, rs.Addr())
	direct.Do("SET", "hot", "value")
	direct.Do("CONFIG", "RESETSTAT")
	direct.Do("CLIENT", "PAUSE", "300", "ALL")
	var wg sync.WaitGroup
	errs := make(chan string, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := redistest.DialRaw(p.Addr, 5*time.Second)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer conn.Close()
			r, err := conn.Do("GET", "hot")
			if err != nil || string(r) != "$5\r\nvalue\r\n" {
				errs <- fmt.Sprintf("%q %v", r, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := cmdCalls(t, direct, "get"); n != 1 {
		t.Errorf("upstream GETs: %d, want 1", n)
	}
}

// TestCacheTTLNeverOutlivesUpstream fills a key with a short TTL: once
// redis-server expired it, respcache must not serve it.
func TestCacheTTLNeverOutlivesUpstream(t *testing.T) {
	rs := redistest.Start(t)
	p := startCached(t, rs.Addr(), CacheConfig{Invalidation: "off"})
	direct := redistest.Dial(t, rs.Addr())
	c := redistest.Dial(t, p.Addr)
	direct.Do("SET", "k", "v", "PX", "300")
	start := time.Now()
	c.Do("GET", "k")
	for {
		got := c.DoString("GET", "k")
		exists := direct.DoString("EXISTS", "k")
		if got == "$-1\r\n" {
			break
		}
		if exists == ":0\r\n" {
			// The upstream no longer has it; a later GET through us must not
			// have it either.
			if again := c.DoString("GET", "k"); again != "$-1\r\n" {
				v, _, ttl, _ := p.srv.cs.c.Get(0, []byte("k"))
				cv, _ := decodeCval(tagString, v)
				t.Fatalf("served %q after the upstream expired the key (expireAt %d now %d ttl %v, direct pttl %q)", again, cv.expireAt, time.Now().UnixMilli(), ttl, direct.DoString("PTTL", "k"))
			}
		}
		if time.Since(start) > 2*time.Second {
			t.Fatal("key still served after 2s")
		}
	}
}

// TestCacheHashInPlace updates small (listpack) hashes in place and drops
// large ones: after every write, HGETALL through respcache must equal the
// upstream's, field order included. The link is off so that the proxy's
// own updates are what the reads see.
func TestCacheHashInPlace(t *testing.T) {
	rs := redistest.Start(t)
	p := startCached(t, rs.Addr(), CacheConfig{Invalidation: "off", NegativeTTL: time.Minute})
	redistest.Eventually(t, 5*time.Second, func() bool {
		_, _, ok := p.up.HashListpackLimits()
		return ok
	}, "listpack limits known")
	c := redistest.Dial(t, p.Addr)
	direct := redistest.Dial(t, rs.Addr())
	big := []string{"HSET", "big"}
	for i := 0; i < 200; i++ {
		big = append(big, "f"+strconv.Itoa(i), "v")
	}
	c.Do(big...) // hashtable-encoded from now on, whatever its size
	for i := 0; i < 195; i++ {
		c.Do("HDEL", "big", "f"+strconv.Itoa(i))
	}
	long := strings.Repeat("x", 100) // over hash-max-listpack-value
	steps := [][]string{
		{"HSET", "h", "a", "1", "b", "2", "c", "3"},
		{"HSET", "h", "b", "20", "d", "4"},
		{"HDEL", "h", "a", "zz"},
		{"HINCRBY", "h", "c", "5"},
		{"HINCRBYFLOAT", "h", "e", "1.5"},
		{"HSETNX", "h", "b", "no"},
		{"HSETNX", "h", "f", "6"},
		{"HMSET", "h", "a", "back", "b", "again"},
		{"HSET", "h", "g", long}, // converts to hashtable
		{"HSET", "h", "h", "1"},
		{"HSET", "big", "f1", "x", "new", "y"},
		{"HDEL", "big", "f196"},
		{"HSET", "n", "x", "1", "y", "2", "x", "3"},
		{"HDEL", "n", "x", "y"},
	}
	directReads := 0
	for _, proto := range []string{"2", "3"} {
		c.Do("HELLO", proto)
		direct.Do("HELLO", proto)
		for _, key := range []string{"h", "big", "n"} {
			c.Do("HGETALL", key) // cache it
		}
		for _, st := range steps {
			c.Do(st...)
			for _, key := range []string{"h", "big", "n"} {
				got, want := c.DoString("HGETALL", key), direct.DoString("HGETALL", key)
				directReads++
				if got != want {
					t.Fatalf("RESP%s after %v: HGETALL %s through respcache %q, redis-server %q", proto, st, key, got, want)
				}
			}
		}
		direct.Do("DEL", "h", "big", "n")
		c.Do("DEL", "h", "big", "n")
		c.Do(big...)
		for i := 0; i < 195; i++ {
			c.Do("HDEL", "big", "f"+strconv.Itoa(i))
		}
	}
	// The small hashes' updates kept their reads local: fills happen for
	// the initial reads and after the writes that had to drop the copy
	// (the conversion of h, every write to big), not after each write.
	direct.Do("HELLO", "2")
	fills := cmdCalls(t, direct, "hgetall") - directReads
	t.Logf("%d HGETALL fills for %d reads", fills, directReads)
	if fills > 2*(3+2+2) {
		t.Errorf("%d HGETALL fills; in-place updates should keep most reads local", fills)
	}
}

// TestCacheClusterTracking: with a 3-master cluster, the invalidation link
// runs on every master, so a write made directly on any node reaches the
// cache.
func TestCacheClusterTracking(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	cl := redistest.StartCluster(t, 3, 0)
	c0, err := cache.New(cache.Config{MaxMemory: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c0.Close()
	p := startProxy(t, Config{Cache: CacheConfig{Cache: c0, Heartbeat: 100 * time.Millisecond}},
		redis.Config{Topology: redis.Cluster, Addrs: cl.MasterAddrs()})
	redistest.Eventually(t, 10*time.Second, func() bool { return p.srv.cs.linkUp.Load() }, "links up on every master")
	c := redistest.Dial(t, p.Addr)
	owners := map[string]bool{}
	for i := 0; i < 30; i++ {
		key := "ck:" + strconv.Itoa(i)
		owner := cl.SlotOwner(cl.KeySlot(key))
		owners[owner] = true
		node := redistest.Dial(t, owner)
		node.Do("SET", key, "old")
		redistest.Eventually(t, time.Second, func() bool { return c.DoString("GET", key) == "$3\r\nold\r\n" })
		c.Do("GET", key)
		node.Do("SET", key, "new")
		redistest.Eventually(t, time.Second, func() bool { return c.DoString("GET", key) == "$3\r\nnew\r\n" },
			"write on "+owner+" seen through respcache")
	}
	if len(owners) != 3 {
		t.Errorf("keys covered %d masters, want 3", len(owners))
	}
	if p.srv.Info().CacheHits == 0 {
		t.Error("no cache hits in cluster mode")
	}
}

// TestCacheNamespaces: a bypass namespace is never served from the cache;
// a namespace's TTL caps how long its keys are held.
func TestCacheNamespaces(t *testing.T) {
	rs := redistest.Start(t)
	c0, err := cache.New(cache.Config{MaxMemory: 16 << 20, Namespaces: []cache.Namespace{
		{Prefix: "live:", Mode: cache.ModeBypass},
		{Prefix: "short:", TTL: 50 * time.Millisecond},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c0.Close()
	p := startProxy(t, Config{Cache: CacheConfig{Cache: c0, Invalidation: "off"}}, redis.Config{Addrs: []string{rs.Addr()}})
	c := redistest.Dial(t, p.Addr)
	direct := redistest.Dial(t, rs.Addr())
	direct.Do("SET", "live:k", "1")
	direct.Do("SET", "short:k", "1")
	for i := 0; i < 3; i++ {
		c.Do("GET", "live:k")
		c.Do("GET", "short:k")
	}
	if p.srv.cs.c.Contains(0, []byte("live:k")) {
		t.Error("a key of a bypass namespace was cached")
	}
	if !p.srv.cs.c.Contains(0, []byte("short:k")) {
		t.Fatal("a key of a cache namespace was not cached")
	}
	// Changed behind respcache's back (no invalidation link): the bypass
	// key shows the change at once, the short-TTL key within its TTL.
	direct.Do("SET", "live:k", "2")
	direct.Do("SET", "short:k", "2")
	if got := c.DoString("GET", "live:k"); got != "$1\r\n2\r\n" {
		t.Errorf("bypass key: %q", got)
	}
	start := time.Now()
	redistest.Eventually(t, 2*time.Second, func() bool { return c.DoString("GET", "short:k") == "$1\r\n2\r\n" }, "short TTL expired")
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("namespace TTL 50ms held the stale value %v", d)
	}
}
