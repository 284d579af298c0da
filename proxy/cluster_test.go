package proxy

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respcache/respcache/internal/redistest"
	"github.com/respcache/respcache/store/redis"
)

// startClusterProxy starts a 3-master cluster and a proxy in front of it,
// and waits until the proxy has the slot map.
func startClusterProxy(t *testing.T) (*redistest.Cluster, *testProxy) {
	t.Helper()
	cl := redistest.StartCluster(t, 3, 0)
	p := startProxy(t, Config{}, redis.Config{Topology: redis.Cluster, Addrs: cl.MasterAddrs()})
	redistest.Eventually(t, 10*time.Second, func() bool {
		_, err := p.up.Route(0)
		return err == nil
	}, "the proxy to learn the slot map")
	return cl, p
}

// keyOn returns a key named prefix+n whose slot is served by master i of
// the cluster as started (equal contiguous ranges).
func keyOn(t *testing.T, prefix string, i, masters int) string {
	t.Helper()
	lo, hi := i*16384/masters, (i+1)*16384/masters-1
	for n := 0; n < 100000; n++ {
		k := prefix + strconv.Itoa(n)
		if s := keySlot([]byte(k)); s >= lo && s <= hi {
			return k
		}
	}
	t.Fatalf("no key for master %d", i)
	return ""
}

// bulkStrings decodes an array of bulk strings (or fails the test).
func bulkStrings(t *testing.T, reply []byte) []string {
	t.Helper()
	v, err := parseStringArray(reply)
	if err != nil {
		t.Fatalf("not an array of bulk strings: %q (%v)", reply, err)
	}
	return v
}

func bulk(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }

func TestClusterKeyspace(t *testing.T) {
	cl, p := startClusterProxy(t)
	c := redistest.Dial(t, p.Addr)

	const n = 300
	want := map[string]bool{}
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("key:%d", i)
		want[k] = true
		if got := c.DoString("SET", k, "v"+k); got != "+OK\r\n" {
			t.Fatalf("SET %s: %q", k, got)
		}
	}
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("key:%d", i)
		if got := c.DoString("GET", k); got != bulk("v"+k) {
			t.Fatalf("GET %s: %q", k, got)
		}
	}
	// The keys really are spread over the masters.
	total := 0
	for _, a := range cl.MasterAddrs() {
		r := redistest.Dial(t, a).DoString("DBSIZE")
		v, _ := strconv.Atoi(strings.TrimSpace(r[1:]))
		if v == 0 {
			t.Errorf("master %s holds no key", a)
		}
		total += v
	}
	if total != n {
		t.Fatalf("masters hold %d keys, want %d", total, n)
	}

	t.Run("CROSSSLOT", func(t *testing.T) {
		if keySlot([]byte("a")) == keySlot([]byte("b")) {
			t.Fatal("test keys share a slot")
		}
		if got := c.DoString("MSET", "a", "1", "b", "2"); got != "-CROSSSLOT Keys in request don't hash to the same slot\r\n" {
			t.Fatalf("MSET across slots: %q", got)
		}
		if got := c.DoString("MSET", "{u1}a", "1", "{u1}b", "2"); got != "+OK\r\n" {
			t.Fatalf("MSET with a hash tag: %q", got)
		}
		if got := c.DoString("MGET", "{u1}a", "{u1}b"); got != "*2\r\n$1\r\n1\r\n$1\r\n2\r\n" {
			t.Fatalf("MGET with a hash tag: %q", got)
		}
		if got := c.DoString("DEL", "{u1}a", "{u1}b"); got != ":2\r\n" {
			t.Fatalf("DEL: %q", got)
		}
	})

	t.Run("DBSIZE", func(t *testing.T) {
		if got := c.DoString("DBSIZE"); got != ":"+strconv.Itoa(n)+"\r\n" {
			t.Fatalf("DBSIZE: %q, want %d", got, n)
		}
	})

	t.Run("KEYS", func(t *testing.T) {
		keys := bulkStrings(t, c.Do("KEYS", "*"))
		if len(keys) != n {
			t.Fatalf("KEYS * returned %d keys, want %d", len(keys), n)
		}
		for _, k := range keys {
			if !want[k] {
				t.Fatalf("KEYS * returned unknown key %q", k)
			}
		}
	})

	t.Run("SCAN", func(t *testing.T) {
		seen := map[string]int{}
		cursor := "0"
		for iter := 0; ; iter++ {
			if iter > 10*n {
				t.Fatal("SCAN does not end")
			}
			r := c.Do("SCAN", cursor, "COUNT", "37")
			// *2\r\n$<n>\r\n<cursor>\r\n*<k>...
			parts := strings.SplitN(string(r), "\r\n", 4)
			if len(parts) < 4 || parts[0] != "*2" {
				t.Fatalf("SCAN %s: %q", cursor, r)
			}
			cursor = parts[2]
			for _, k := range bulkStrings(t, []byte(parts[3])) {
				seen[k]++
			}
			if cursor == "0" {
				break
			}
		}
		if len(seen) != n {
			t.Fatalf("SCAN returned %d distinct keys, want %d", len(seen), n)
		}
		for k, cnt := range seen {
			if !want[k] || cnt != 1 {
				t.Fatalf("SCAN returned %q %d times", k, cnt)
			}
		}
		if got := c.DoString("SCAN", "12345678901"); !strings.HasPrefix(got, "-ERR") {
			t.Fatalf("SCAN with a cursor naming no node: %q", got)
		}
	})

	t.Run("RANDOMKEY", func(t *testing.T) {
		r := c.Do("RANDOMKEY")
		k := strings.SplitN(string(r), "\r\n", 3)
		if len(k) < 2 || !want[k[1]] {
			t.Fatalf("RANDOMKEY: %q", r)
		}
	})

	t.Run("SCRIPT", func(t *testing.T) {
		sha := c.DoString("SCRIPT", "LOAD", "return redis.call('SET', KEYS[1], ARGV[1])")
		sha = strings.SplitN(sha, "\r\n", 3)[1]
		if len(sha) != 40 {
			t.Fatalf("SCRIPT LOAD: %q", sha)
		}
		for i := 0; i < 3; i++ {
			k := keyOn(t, "script:", i, 3)
			if got := c.DoString("EVALSHA", sha, "1", k, "x"); got != "+OK\r\n" {
				t.Fatalf("EVALSHA on master %d (%s): %q", i, k, got)
			}
			if got := c.DoString("GET", k); got != bulk("x") {
				t.Fatalf("GET %s: %q", k, got)
			}
			if got := c.DoString("DEL", k); got != ":1\r\n" {
				t.Fatalf("DEL %s: %q", k, got)
			}
		}
		if got := c.DoString("SCRIPT", "FLUSH"); got != "+OK\r\n" {
			t.Fatalf("SCRIPT FLUSH: %q", got)
		}
		for _, a := range cl.MasterAddrs() {
			if got := redistest.Dial(t, a).DoString("SCRIPT", "EXISTS", sha); got != "*1\r\n:0\r\n" {
				t.Fatalf("script still on %s after SCRIPT FLUSH: %q", a, got)
			}
		}
	})

	t.Run("MULTI", func(t *testing.T) {
		for i := 0; i < 3; i++ {
			tag := "{" + keyOn(t, "tx", i, 3) + "}"
			steps := []struct {
				args []string
				want string
			}{
				{[]string{"MULTI"}, "+OK\r\n"},
				{[]string{"SET", tag + "a", "1"}, "+QUEUED\r\n"},
				{[]string{"INCR", tag + "b"}, "+QUEUED\r\n"},
				{[]string{"GET", tag + "a"}, "+QUEUED\r\n"},
				{[]string{"EXEC"}, "*3\r\n+OK\r\n:1\r\n$1\r\n1\r\n"},
				{[]string{"DEL", tag + "a", tag + "b"}, ":2\r\n"},
			}
			for _, s := range steps {
				if got := c.DoString(s.args...); got != s.want {
					t.Fatalf("master %d: %v: %q, want %q", i, s.args, got, s.want)
				}
			}
		}
	})

	t.Run("SELECT", func(t *testing.T) {
		if got := c.DoString("SELECT", "1"); got != "-ERR SELECT is not allowed in cluster mode\r\n" {
			t.Fatalf("SELECT 1: %q", got)
		}
		if got := c.DoString("SELECT", "0"); got != "+OK\r\n" {
			t.Fatalf("SELECT 0: %q", got)
		}
	})

	t.Run("FLUSHALL", func(t *testing.T) {
		if got := c.DoString("FLUSHALL"); got != "+OK\r\n" {
			t.Fatalf("FLUSHALL: %q", got)
		}
		for _, a := range cl.MasterAddrs() {
			if got := redistest.Dial(t, a).DoString("DBSIZE"); got != ":0\r\n" {
				t.Fatalf("master %s after FLUSHALL: DBSIZE %q", a, got)
			}
		}
		if got := c.DoString("DBSIZE"); got != ":0\r\n" {
			t.Fatalf("DBSIZE after FLUSHALL: %q", got)
		}
		if got := c.DoString("RANDOMKEY"); got != "$-1\r\n" {
			t.Fatalf("RANDOMKEY on an empty cluster: %q", got)
		}
	})
}

// otherMaster returns a master address other than addr.
func otherMaster(cl *redistest.Cluster, addr string) string {
	for _, a := range cl.MasterAddrs() {
		if a != addr {
			return a
		}
	}
	return ""
}

func TestClusterMoved(t *testing.T) {
	cl, p := startClusterProxy(t)
	c := redistest.Dial(t, p.Addr)
	slot := keySlot([]byte("mv"))
	keys := make([]string, 20)
	for i := range keys {
		keys[i] = fmt.Sprintf("{mv}:%d", i)
		if got := c.DoString("SET", keys[i], "v"+strconv.Itoa(i)); got != "+OK\r\n" {
			t.Fatalf("SET: %q", got)
		}
	}
	from := cl.SlotOwner(slot)
	to := otherMaster(cl, from)
	cl.MigrateSlot(slot, to)

	// The proxy's slot map is stale now: the first request gets -MOVED,
	// which the proxy follows; the client sees only the value.
	start := time.Now()
	if got := c.DoString("GET", keys[0]); got != bulk("v0") {
		t.Fatalf("GET after MOVED: %q", got)
	}
	first := time.Since(start)
	for i, k := range keys {
		if got := c.DoString("GET", k); got != bulk("v"+strconv.Itoa(i)) {
			t.Fatalf("GET %s: %q", k, got)
		}
		if got := c.DoString("SET", k, "w"); got != "+OK\r\n" {
			t.Fatalf("SET %s: %q", k, got)
		}
	}
	// The writes landed on the new owner.
	d := redistest.Dial(t, to)
	if got := d.DoString("GET", keys[3]); got != bulk("w") {
		t.Fatalf("GET on the new owner %s: %q", to, got)
	}
	// The slot map follows: requests go straight to the new owner.
	n, err := p.up.Route(slot)
	if err != nil || n.Addr() != to {
		t.Fatalf("proxy routes slot %d to %v (%v), want %s", slot, n.Addr(), err, to)
	}
	t.Logf("MOVED recovery: first request after the migration took %v (one redirect)", first)
}

func TestClusterAsk(t *testing.T) {
	cl, p := startClusterProxy(t)
	c := redistest.Dial(t, p.Addr)
	slot := keySlot([]byte("ask"))
	for _, k := range []string{"{ask}moved", "{ask}stays"} {
		if got := c.DoString("SET", k, k); got != "+OK\r\n" {
			t.Fatalf("SET: %q", got)
		}
	}
	from := cl.SlotOwner(slot)
	to := otherMaster(cl, from)
	m := cl.BeginMigration(slot, to)
	m.MoveKeys("{ask}moved")
	// ASK does not update the slot map, so every GET of the moved key is
	// redirected; the redirect budget is per command, not per connection.
	for i := 0; i < 10; i++ {
		for _, k := range []string{"{ask}moved", "{ask}stays"} {
			if got := c.DoString("GET", k); got != bulk(k) {
				t.Fatalf("GET %s during migration (round %d): %q", k, i, got)
			}
		}
	}
	// A new key of a migrating slot is created on the destination (ASK).
	if got := c.DoString("SET", "{ask}new", "n"); got != "+OK\r\n" {
		t.Fatalf("SET of a new key during migration: %q", got)
	}
	d := redistest.Dial(t, to)
	d.DoString("ASKING")
	if got := d.DoString("GET", "{ask}new"); got != bulk("n") {
		t.Fatalf("new key on the destination: %q", got)
	}
	// ASK does not change the slot map.
	if n, err := p.up.Route(slot); err != nil || n.Addr() != from {
		t.Fatalf("slot %d routed to %v (%v) during migration, want %s", slot, n, err, from)
	}
	m.MoveAll()
	m.Finish()
	for _, k := range []string{"{ask}moved", "{ask}stays"} {
		if got := c.DoString("GET", k); got != bulk(k) {
			t.Fatalf("GET %s after migration: %q", k, got)
		}
	}
}

func TestClusterMigrationUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: slot migrations under load for ~2s")
	}
	// Back-to-back migrations of one slot sometimes never converge in Redis
	// 7.0 (config epochs leave the importing node without the slot), which
	// fails the fixture, not respcache; so this long variant runs only when
	// asked for. TestClusterMoved and TestClusterAsk always run.
	if os.Getenv("REDISTEST_LONG") == "" {
		t.Skip("long variant: set REDISTEST_LONG=1 (repeated slot migrations under load)")
	}
	cl, p := startClusterProxy(t)
	slot := keySlot([]byte("hot"))
	var (
		ops, errs atomic.Int64
		mu        sync.Mutex
		samples   []string
		wg        sync.WaitGroup
		stop      = make(chan struct{})
	)
	fail := func(s string) {
		errs.Add(1)
		mu.Lock()
		if len(samples) < 10 {
			samples = append(samples, s)
		}
		mu.Unlock()
	}
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rc, err := redistest.DialRaw(p.Addr, 5*time.Second)
			if err != nil {
				fail(err.Error())
				return
			}
			defer rc.Close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Half the keys live in the migrating slot.
				k := fmt.Sprintf("{hot}:%d:%d", g, i%50)
				if i%2 == 1 {
					k = fmt.Sprintf("cold:%d:%d", g, i%50)
				}
				v := strconv.Itoa(i)
				r, err := rc.Do("SET", k, v)
				if err != nil || string(r) != "+OK\r\n" {
					fail(fmt.Sprintf("SET %s: %q %v", k, r, err))
					continue
				}
				r, err = rc.Do("GET", k)
				if err != nil || string(r) != bulk(v) {
					fail(fmt.Sprintf("GET %s: %q %v, want %q", k, r, err, v))
				}
				ops.Add(2)
			}
		}()
	}
	start := time.Now()
	moves := 0
	owner := cl.SlotOwner(slot)
	// A handful of migrations, each after the clients have made progress:
	// back-to-back migrations of one slot can leave Redis 7.0's epochs
	// unconverged (a node loses the slot it just imported), which would be
	// a fixture failure, not the proxy's.
	for time.Since(start) < 2*time.Second || moves < 2 {
		n := ops.Load()
		redistest.Eventually(t, 10*time.Second, func() bool { return ops.Load() > n+200 }, "clients to make progress")
		to := otherMaster(cl, owner)
		cl.MigrateSlot(slot, to)
		owner = to
		moves++
	}
	close(stop)
	wg.Wait()
	t.Logf("%d migrations of slot %d in %v; %d operations, %d errors", moves, slot, time.Since(start).Round(time.Millisecond), ops.Load(), errs.Load())
	if errs.Load() > 0 {
		sort.Strings(samples)
		t.Fatalf("%d client-visible errors, e.g. %q", errs.Load(), samples)
	}
	if ops.Load() == 0 {
		t.Fatal("no operation completed")
	}
}
