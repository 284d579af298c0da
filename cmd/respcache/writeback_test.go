package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/respcache/respcache/internal/redistest"
	"github.com/respcache/respcache/internal/reliability"
	"github.com/respcache/respcache/resp"
)

// wbInstance runs the respcache binary in write-back mode in front of a
// redis-server.
type wbInstance struct {
	t    *testing.T
	bin  string
	cfg  string
	addr string
	cmd  *exec.Cmd
}

func newWBInstance(t *testing.T, upstream, fsync, extra string) *wbInstance {
	dir := t.TempDir()
	w := &wbInstance{t: t, bin: buildBinary(t), cfg: filepath.Join(dir, "respcache.yaml"), addr: freeAddr(t)}
	conf := fmt.Sprintf("listen: %s\nadmin_listen: \"\"\nshutdown_timeout: 20s\nbackend:\n  type: redis\n  redis:\n    addrs: [%s]\n"+
		"write:\n  mode: write-back\n  journal_dir: %s\n  fsync: %s\n%s", w.addr, upstream, filepath.Join(dir, "journal"), fsync, extra)
	if err := os.WriteFile(w.cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// setJournalDir rewrites the config's write.journal_dir.
func (w *wbInstance) setJournalDir(dir string) {
	w.t.Helper()
	b, err := os.ReadFile(w.cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "  journal_dir: ") {
			lines[i] = "  journal_dir: " + dir
		}
	}
	if err := os.WriteFile(w.cfg, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		w.t.Fatal(err)
	}
}

func (w *wbInstance) start() {
	w.t.Helper()
	w.cmd = exec.Command(w.bin, "--config", w.cfg)
	w.cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	var stderr bytes.Buffer
	w.cmd.Stderr = &stderr
	if err := w.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	redistest.Eventually(w.t, 15*time.Second, func() bool {
		c, err := redistest.DialRaw(w.addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "respcache up")
}

func (w *wbInstance) kill() {
	w.cmd.Process.Signal(syscall.SIGKILL)
	w.cmd.Wait()
}

// stop sends SIGTERM (shutdown drains the journal) and waits.
func (w *wbInstance) stop() {
	w.t.Helper()
	w.cmd.Process.Signal(syscall.SIGTERM)
	if err := w.cmd.Wait(); err != nil {
		w.t.Fatalf("respcache exited with %v", err)
	}
}

// TestFaultWriteBackKill9 is the write-back crash test: writers issue INCR and
// SET through respcache (write.fsync always) while respcache is SIGKILLed
// at random moments and restarted, 20 times. After the final drain the
// backend must hold every acknowledged write, and each counter must have
// been incremented at most once per INCR whose reply was lost (replay
// applies states, so a write is never applied twice).
func TestFaultWriteBackKill9(t *testing.T) {
	up := redistest.Start(t)
	w := newWBInstance(t, up.Addr(), "always", "")
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	const incrClients, setClients = 3, 2
	var mu sync.Mutex
	ackedIncr := make([]int, incrClients)   // per counter
	unknownIncr := make([]int, incrClients) // sent, reply lost
	acked := map[string]string{}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < rounds; round++ {
		w.start()
		var wg sync.WaitGroup
		for c := 0; c < incrClients+setClients; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				conn, err := redistest.DialRaw(w.addr, 5*time.Second)
				if err != nil {
					return
				}
				defer conn.Close()
				for i := 0; ; i++ {
					if c < incrClients {
						key := "cnt" + strconv.Itoa(c)
						mu.Lock()
						unknownIncr[c]++
						mu.Unlock()
						reply, err := conn.Do("INCR", key)
						if err != nil {
							return // killed: this INCR's outcome is unknown
						}
						n, ok := resp.IntValue(reply)
						mu.Lock()
						unknownIncr[c]--
						ackedIncr[c]++
						want := ackedIncr[c]
						mu.Unlock()
						// The reply itself must count every acknowledged
						// increment (and maybe lost-reply ones).
						if !ok || n < int64(want) {
							t.Errorf("INCR %s = %q, want >= %d", key, reply, want)
							return
						}
						continue
					}
					key := fmt.Sprintf("s%d:%d:%d", c, round, i)
					val := fmt.Sprintf("v%d-%d", round, i)
					reply, err := conn.Do("SET", key, val)
					if err != nil {
						return
					}
					if string(reply) != "+OK\r\n" {
						t.Errorf("SET: %q", reply)
						return
					}
					mu.Lock()
					acked[key] = val
					mu.Unlock()
				}
			}(c)
		}
		time.Sleep(time.Duration(30+rng.IntN(200)) * time.Millisecond)
		w.kill()
		wg.Wait()
		if t.Failed() {
			return
		}
	}
	// Restart once more and drain by SIGTERM.
	w.start()
	w.stop()
	d := redistest.Dial(t, up.Addr())
	for key, val := range acked {
		if got := d.DoString("GET", key); got != fmt.Sprintf("$%d\r\n%s\r\n", len(val), val) {
			t.Fatalf("acknowledged SET %s %s lost: GET = %q", key, val, got)
		}
	}
	for c := 0; c < incrClients; c++ {
		v, _ := resp.StringValue(d.Do("GET", "cnt"+strconv.Itoa(c)))
		n, _ := strconv.Atoi(string(v))
		if n < ackedIncr[c] || n > ackedIncr[c]+unknownIncr[c] {
			t.Fatalf("cnt%d = %d after %d acknowledged INCRs and %d with lost replies", c, n, ackedIncr[c], unknownIncr[c])
		}
	}
	t.Logf("%d SIGKILLs: %d acknowledged SETs and %v acknowledged INCRs all in the backend (%v INCRs with lost replies)",
		rounds, len(acked), ackedIncr, unknownIncr)
	reliability.Record(t, reliability.Result{
		Suite:    "fault",
		Scenario: "respcache SIGKILL during write-back",
		Promise: "With write.fsync always, every acknowledged write-back write survives a SIGKILL of respcache: the journal is replayed on restart and flushed; " +
			"a write whose reply was lost is applied at most once (records are states, replay is idempotent).",
		ClientsSee: []string{"writers: connection reset at the kill; on reconnect every acknowledged write is visible"},
		Measured: fmt.Sprintf("%d SIGKILLs at random moments (30-230ms into each run) with 3 INCR and 2 SET writers; after the final drain redis-server holds all %d acknowledged SETs, "+
			"and each counter equals its acknowledged INCRs plus at most its INCRs with lost replies (acknowledged %v, lost replies %v)",
			rounds, len(acked), ackedIncr, unknownIncr),
		Lost: 0,
	})
}

// wbPushSets has clients SET 4 KiB values to new keys (prefix, client,
// sequence) through addr for d; seen gets every reply, serialized, with
// the time it arrived.
func wbPushSets(t *testing.T, addr string, clients int, prefix string, d time.Duration, seen func(key string, reply []byte, at time.Time)) {
	t.Helper()
	value := strings.Repeat("x", 4096)
	var mu sync.Mutex
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			conn, err := redistest.DialRaw(addr, 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			for i := 0; time.Now().Before(deadline); i++ {
				key := fmt.Sprintf("%s%d:%d", prefix, c, i)
				reply, err := conn.Do("SET", key, value)
				if err != nil {
					t.Errorf("SET: %v", err)
					return
				}
				mu.Lock()
				seen(key, reply, time.Now())
				mu.Unlock()
			}
		}(c)
	}
	wg.Wait()
}

// TestWriteBackMemoryBound stops the backend while writers push new keys
// through write-back: writes are acknowledged until write.max_dirty, then
// fail with the backpressure error, and respcache's RSS stays within
// cache.max_memory + write.max_dirty + a fixed overhead. When the backend
// is back, everything acknowledged lands.
func TestWriteBackMemoryBound(t *testing.T) {
	up := redistest.Start(t)
	const quotaMiB, dirtyMiB, overheadMiB = 64, 32, 64
	w := newWBInstance(t, up.Addr(), "everysec", fmt.Sprintf("  max_dirty: %dMiB\n  backpressure_timeout: 100ms\ncache:\n  max_memory: %dMiB\n", dirtyMiB, quotaMiB))
	w.start()
	defer w.kill()
	up.Stop()
	rss := startRSSSampler(w.cmd.Process.Pid, 20*time.Millisecond)
	acked := map[string]bool{}
	var bpErrors int
	wbPushSets(t, w.addr, 8, "m", 4*time.Second, func(key string, reply []byte, _ time.Time) {
		switch {
		case string(reply) == "+OK\r\n":
			acked[key] = true
		case strings.HasPrefix(string(reply), "-ERR write-back backpressure"):
			bpErrors++
		default:
			t.Errorf("SET: %q", reply)
		}
	})
	rss.stop()
	peak := rss.peakKiB()
	bound := int64(quotaMiB+dirtyMiB+overheadMiB) << 10
	t.Logf("backend down: %d writes of 4KiB acknowledged, %d refused by backpressure; peak RSS %d MiB (bound %d MiB = max_memory %d + max_dirty %d + %d)",
		len(acked), bpErrors, peak>>10, bound>>10, quotaMiB, dirtyMiB, overheadMiB)
	if bpErrors == 0 {
		t.Fatal("no backpressure with the backend down")
	}
	if n := len(acked) * 4096; n > (dirtyMiB+1)<<20 {
		t.Fatalf("%d MiB acknowledged while the backend was down, max_dirty %d MiB", n>>20, dirtyMiB)
	}
	if peak > bound {
		t.Fatalf("peak RSS %d KiB over the bound %d KiB", peak, bound)
	}
	up.Restart()
	w.stop()
	d := redistest.Dial(t, up.Addr())
	for key := range acked {
		if got := d.DoString("STRLEN", key); got != ":4096\r\n" {
			t.Fatalf("acknowledged %s lost after the backend came back: STRLEN = %q", key, got)
		}
	}
}
