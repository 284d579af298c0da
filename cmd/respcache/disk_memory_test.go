package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respcache/respcache/internal/redistest"
)

// The small version of bench/disk.sh's memory check, sized for CI: a data
// set ten times the cache quota goes through respcache on its disk store,
// is read back with a Zipf and a uniform load, and the process's peak RSS
// must stay within cache quota + block cache + memtable + 64MiB.
const (
	memTestQuota      = 16 << 20
	memTestBlockCache = 8 << 20
	memTestMemtable   = 8 << 20
	// memTestSlack covers what no setting bounds: the Go runtime and heap,
	// the binary's resident text, pebble's index and filter blocks outside
	// the block cache, connection buffers.
	memTestSlack     = 64 << 20
	memTestValueSize = 4096
	memTestKeys      = 10 * memTestQuota / memTestValueSize // 160MiB of values
	memTestClients   = 4
	memTestPipeline  = 64
	// memTestReads is the number of GETs of each read phase, all clients
	// together; memTestReadTime caps a phase's time on a loaded machine
	// (a phase that hits the cap still checks every value it read).
	memTestReads    = 40000
	memTestReadTime = 10 * time.Second
)

// TestDiskStoreMemoryBound is the memory acceptance check of the disk store
// (the full-size run is bench/disk.sh): RSS is read from /proc every 100ms
// for the whole run and the kernel's VmHWM at the end; the larger is the
// peak. Every value read back is checked byte for byte, so a cache that
// stayed small by losing data fails too.
func TestDiskStoreMemoryBound(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads VmRSS and VmHWM from /proc/PID/status (Linux only)")
	}
	if testing.Short() {
		t.Skip("writes 160MiB through respcache; skipped with -short")
	}
	begin := time.Now()
	bin := buildBinary(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "respcache.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(
		"listen: %s\nbackend:\n  type: disk\n  disk:\n    dir: %s\n    fsync: everysec\n    block_cache: %d\n    memtable: %d\ncache:\n  max_memory: %d\n",
		addr, filepath.Join(dir, "data"), memTestBlockCache, memTestMemtable, memTestQuota)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfg)
	// No GOMEMLIMIT: the bound must hold with the runtime's defaults. The
	// admin server listens on a free port, as in production.
	cmd.Env = append(withoutEnv(os.Environ(), "GOMEMLIMIT"), "RESPCACHE_ADMIN_LISTEN=127.0.0.1:0")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("respcache log:\n%s", logs.String())
		}
	})
	sampler := startRSSSampler(cmd.Process.Pid, 100*time.Millisecond)
	defer sampler.stop()
	redistest.Eventually(t, 15*time.Second, func() bool {
		c, err := redistest.DialRaw(addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "respcache on the disk store at %s", addr)
	idle, err := readVmKiB(cmd.Process.Pid, "VmRSS:")
	if err != nil {
		t.Fatal(err)
	}

	phases := []struct {
		name string
		run  func(c *redistest.RawConn, client int, deadline time.Time) (int, error)
	}{
		{"write", func(c *redistest.RawConn, client int, _ time.Time) (int, error) {
			return memTestWrite(c, client)
		}},
		{"zipf reads", func(c *redistest.RawConn, client int, deadline time.Time) (int, error) {
			// s=1.01 (math/rand's Zipf needs s > 1) over every key: a hot
			// head the cache holds and a long tail it cannot.
			rng := rand.New(rand.NewPCG(uint64(client), 1))
			z := rand.NewZipf(rng, 1.01, 1, memTestKeys-1)
			return memTestRead(c, z.Uint64, deadline)
		}},
		{"uniform reads", func(c *redistest.RawConn, client int, deadline time.Time) (int, error) {
			rng := rand.New(rand.NewPCG(uint64(client), 2))
			return memTestRead(c, func() uint64 { return rng.Uint64N(memTestKeys) }, deadline)
		}},
	}
	for _, ph := range phases {
		start := time.Now()
		n, err := memTestParallel(addr, ph.run, start.Add(memTestReadTime))
		if err != nil {
			t.Fatalf("%s: %v", ph.name, err)
		}
		t.Logf("%s: %d commands in %v, peak RSS so far %.1f MiB", ph.name, n, time.Since(start).Round(time.Millisecond), float64(sampler.peakKiB())/1024)
	}

	c := redistest.Dial(t, addr)
	if got, want := c.DoString("DBSIZE"), fmt.Sprintf(":%d\r\n", memTestKeys); got != want {
		t.Errorf("DBSIZE = %q, want %q", got, want)
	}
	info := parseInfo(c.DoString("INFO", "respcache"))
	used, err := strconv.ParseInt(info["cache_used_memory"], 10, 64)
	if err != nil {
		t.Fatalf("INFO respcache: cache_used_memory %q: %v", info["cache_used_memory"], err)
	}
	if used > memTestQuota || info["cache_evictions"] == "0" {
		t.Errorf("cache_used_memory %d (quota %d), cache_evictions %s: the cache did not run at its quota",
			used, memTestQuota, info["cache_evictions"])
	}

	sampler.stop()
	hwm, err := readVmKiB(cmd.Process.Pid, "VmHWM:")
	if err != nil {
		t.Fatal(err)
	}
	peak := max(hwm, sampler.peakKiB()) << 10
	const bound = memTestQuota + memTestBlockCache + memTestMemtable + memTestSlack
	t.Logf("%d keys x %d B = %d MiB written; RSS when ready %.1f MiB, peak %.1f MiB (VmHWM %.1f MiB, %d samples); bound %d MiB; cache_used_memory %.1f MiB, %s evictions; %v in all",
		memTestKeys, memTestValueSize, memTestKeys*memTestValueSize>>20, float64(idle)/1024, float64(peak)/(1<<20),
		float64(hwm)/1024, sampler.count(), bound>>20, float64(used)/(1<<20), info["cache_evictions"], time.Since(begin).Round(time.Millisecond))
	if peak > bound {
		t.Errorf("peak RSS %.1f MiB is over the bound %d MiB (cache.max_memory %d + block_cache %d + memtable %d + %d MiB)",
			float64(peak)/(1<<20), bound>>20, memTestQuota>>20, memTestBlockCache>>20, memTestMemtable>>20, memTestSlack>>20)
	}
}

// memTestValue is key i's value: its number repeated, so a reply carrying
// another key's value or a torn one does not compare equal.
func memTestValue(i uint64) []byte {
	return bytes.Repeat(fmt.Appendf(nil, "v%07d", i), memTestValueSize/8)
}

func memTestKey(i uint64) string { return "mem:" + strconv.FormatUint(i, 10) }

// memTestWrite SETs the keys striped onto client, memTestPipeline commands
// per round trip, and returns how many it wrote.
func memTestWrite(c *redistest.RawConn, client int) (int, error) {
	var batch []byte
	n, written := 0, 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		if err := c.SendRaw(batch); err != nil {
			return err
		}
		for ; n > 0; n-- {
			reply, err := c.ReadReply()
			if err != nil {
				return err
			}
			if string(reply) != "+OK\r\n" {
				return fmt.Errorf("SET: %q", reply)
			}
			written++
		}
		batch = batch[:0]
		return nil
	}
	for i := uint64(client); i < memTestKeys; i += memTestClients {
		batch = append(batch, redistest.EncodeCommand("SET", memTestKey(i), string(memTestValue(i)))...)
		if n++; n == memTestPipeline {
			if err := flush(); err != nil {
				return written, err
			}
		}
	}
	err := flush()
	return written, err
}

// memTestRead sends this client's share of memTestReads GETs of the keys
// next draws, pipelined, until done or past deadline, checks every value,
// and returns how many it read.
func memTestRead(c *redistest.RawConn, next func() uint64, deadline time.Time) (int, error) {
	keys := make([]uint64, 0, memTestPipeline)
	var batch []byte
	done := 0
	for ; done < memTestReads/memTestClients && time.Now().Before(deadline); done += memTestPipeline {
		keys, batch = keys[:0], batch[:0]
		for range memTestPipeline {
			k := next()
			keys = append(keys, k)
			batch = append(batch, redistest.EncodeCommand("GET", memTestKey(k))...)
		}
		if err := c.SendRaw(batch); err != nil {
			return done, err
		}
		for _, k := range keys {
			reply, err := c.ReadReply()
			if err != nil {
				return done, err
			}
			want := fmt.Appendf(nil, "$%d\r\n%s\r\n", memTestValueSize, memTestValue(k))
			if !bytes.Equal(reply, want) {
				return done, fmt.Errorf("GET %s: %.40q..., want %.40q...", memTestKey(k), reply, want)
			}
		}
	}
	return done, nil
}

// memTestParallel runs fn on memTestClients connections at once and returns
// the sum of their counts and their errors joined.
func memTestParallel(addr string, fn func(c *redistest.RawConn, client int, deadline time.Time) (int, error), deadline time.Time) (int, error) {
	var wg sync.WaitGroup
	errs := make([]error, memTestClients)
	counts := make([]int, memTestClients)
	for i := range memTestClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := redistest.DialRaw(addr, 5*time.Second)
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			c.SetReadTimeout(30 * time.Second)
			counts[i], errs[i] = fn(c, i, deadline)
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range counts {
		total += n
	}
	return total, errors.Join(errs...)
}

// rssSampler reads a process's VmRSS at a fixed period from a goroutine
// until stop, keeping the largest value.
type rssSampler struct {
	pid  int
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	mu      sync.Mutex // guards peak and samples
	peak    int64      // KiB
	samples int
}

func startRSSSampler(pid int, period time.Duration) *rssSampler {
	s := &rssSampler{pid: pid, done: make(chan struct{})}
	s.sample()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-tick.C:
				s.sample()
			}
		}
	}()
	return s
}

func (s *rssSampler) sample() {
	rss, err := readVmKiB(s.pid, "VmRSS:")
	if err != nil {
		return // the process is gone; the test notices on its own
	}
	s.mu.Lock()
	s.peak = max(s.peak, rss)
	s.samples++
	s.mu.Unlock()
}

func (s *rssSampler) peakKiB() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

func (s *rssSampler) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.samples
}

// stop ends the sampling and waits for the goroutine; safe to call twice.
func (s *rssSampler) stop() {
	s.once.Do(func() { close(s.done) })
	s.wg.Wait()
}

// readVmKiB returns the field ("VmRSS:", "VmHWM:") of /proc/PID/status in
// KiB.
func readVmKiB(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kib, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
			return strconv.ParseInt(kib, 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("/proc/%d/status has no %s", pid, field)
}

// parseInfo maps the fields of an INFO bulk-string reply.
func parseInfo(reply string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(reply, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m
}

func withoutEnv(env []string, name string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}
