package proxy

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respcache/respcache/internal/redistest"
	"github.com/respcache/respcache/store/redis"
)

// failoverBound is how long writes through the proxy may fail after the
// sentinels have promoted a new master.
const failoverBound = 15 * time.Second

func startSentinelProxy(t *testing.T) (*redistest.Sentinel, *testProxy) {
	t.Helper()
	s := redistest.StartSentinel(t)
	p := startProxy(t, Config{}, redis.Config{Topology: redis.Sentinel, Addrs: s.SentinelAddrs(), MasterName: redistest.SentinelMaster})
	c := redistest.Dial(t, p.Addr)
	redistest.Eventually(t, 10*time.Second, func() bool {
		return c.DoString("SET", "boot", "1") == "+OK\r\n"
	}, "the proxy to reach the master")
	return s, p
}

// writer runs SET/GET through the proxy in a goroutine until stopped and
// classifies every reply.
type writer struct {
	ok, unavailable atomic.Int64
	mu              sync.Mutex
	bad             []string     // replies that are neither right nor "upstream unavailable"
	lastOK          atomic.Int64 // unix nanos of the last good round trip
	maxGap          atomic.Int64 // longest time between two good round trips, nanos
	stop            chan struct{}
	done            chan struct{}
}

func startWriter(t *testing.T, addr string) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	rc, err := redistest.DialRaw(addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		defer rc.Close()
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			k, v := fmt.Sprintf("w:%d", i%20), fmt.Sprint(i)
			check := func(cmd string, r []byte, err error, want string) bool {
				switch {
				case err != nil:
					w.note(fmt.Sprintf("%s: %v", cmd, err))
				case string(r) == want:
					return true
				case strings.HasPrefix(string(r), "-ERR upstream unavailable: "):
					w.unavailable.Add(1)
				default:
					w.note(fmt.Sprintf("%s: %q, want %q", cmd, r, want))
				}
				return false
			}
			r, err := rc.Do("SET", k, v)
			if !check("SET", r, err, "+OK\r\n") {
				time.Sleep(5 * time.Millisecond) // pacing, not waiting for a condition
				continue
			}
			r, err = rc.Do("GET", k)
			if check("GET", r, err, bulk(v)) {
				w.ok.Add(1)
				now := time.Now().UnixNano()
				if prev := w.lastOK.Swap(now); prev != 0 && now-prev > w.maxGap.Load() {
					w.maxGap.Store(now - prev)
				}
			}
		}
	}()
	return w
}

func (w *writer) note(s string) {
	w.mu.Lock()
	if len(w.bad) < 10 {
		w.bad = append(w.bad, s)
	}
	w.mu.Unlock()
}

func (w *writer) finish(t *testing.T) {
	t.Helper()
	close(w.stop)
	<-w.done
	gap := time.Duration(w.maxGap.Load())
	t.Logf("writer: %d good round trips, %d upstream-unavailable replies; longest outage seen by the client %v",
		w.ok.Load(), w.unavailable.Load(), gap.Round(time.Millisecond))
	if len(w.bad) > 0 {
		t.Fatalf("client saw replies other than the right one or upstream unavailable: %q", w.bad)
	}
	if gap >= failoverBound {
		t.Fatalf("the client could not write for %v (bound %v)", gap, failoverBound)
	}
}

// checkRecovered waits until a write through the proxy succeeds after the
// new master is known, logs how long that took, and checks the write
// landed on the new master.
func checkRecovered(t *testing.T, p *testProxy, newMaster string, since time.Time, what string) {
	t.Helper()
	c := redistest.Dial(t, p.Addr)
	key := "after:" + what
	var last string
	redistest.Eventually(t, failoverBound, func() bool {
		last = c.DoString("SET", key, newMaster)
		if last != "+OK\r\n" && !strings.HasPrefix(last, "-ERR upstream unavailable: ") {
			t.Fatalf("SET during %s: %q", what, last)
		}
		return last == "+OK\r\n"
	}, "a write through the proxy after %s (last reply %q)", what, last)
	t.Logf("%s: writes through the proxy succeed %v after the new master was announced", what, time.Since(since).Round(time.Millisecond))
	if got := redistest.Dial(t, newMaster).DoString("GET", key); got != bulk(newMaster) {
		t.Fatalf("the write is not on the new master %s: %q", newMaster, got)
	}
	if got := c.DoString("GET", key); got != bulk(newMaster) {
		t.Fatalf("GET through the proxy: %q", got)
	}
}

func TestSentinelFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: Sentinel failover")
	}
	s, p := startSentinelProxy(t)
	c := redistest.Dial(t, p.Addr)
	if got := c.DoString("SET", "k", "v"); got != "+OK\r\n" {
		t.Fatalf("SET: %q", got)
	}
	if got := c.DoString("GET", "k"); got != "$1\r\nv\r\n" {
		t.Fatalf("GET: %q", got)
	}
	old := s.MasterAddr()
	w := startWriter(t, p.Addr)
	start := time.Now()
	newMaster := s.Failover()
	t.Logf("sentinel failover %s -> %s took %v", old, newMaster, time.Since(start).Round(time.Millisecond))
	checkRecovered(t, p, newMaster, time.Now(), "failover")
	// After recovery the writer keeps succeeding: no READONLY from the old
	// master, which is a replica now.
	n := w.ok.Load()
	redistest.Eventually(t, 5*time.Second, func() bool { return w.ok.Load() > n+20 }, "the writer to make progress after failover")
	w.finish(t)
	if got := c.DoString("GET", "k"); got != "$1\r\nv\r\n" {
		t.Fatalf("GET after failover: %q", got)
	}
}

func TestSentinelKillMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: Sentinel failover after a master crash")
	}
	s, p := startSentinelProxy(t)
	w := startWriter(t, p.Addr)
	redistest.Eventually(t, 5*time.Second, func() bool { return w.ok.Load() > 20 }, "the writer to make progress")
	old := s.KillMaster()
	start := time.Now()
	newMaster := s.WaitMasterChange(old.Addr())
	t.Logf("master %s killed; sentinels promoted %s after %v", old.Addr(), newMaster, time.Since(start).Round(time.Millisecond))
	checkRecovered(t, p, newMaster, time.Now(), "master crash")
	n := w.ok.Load()
	redistest.Eventually(t, 5*time.Second, func() bool { return w.ok.Load() > n+20 }, "the writer to make progress after the crash")
	w.finish(t)
}
