package main

// Helpers of the fault suite (fault_test.go): the respcache process under
// test, the client load that runs while a fault happens and keeps the books
// (every acknowledged write, every error text, recovery times), the check
// of the books against Redis afterwards, and the in-process toxiproxy that
// sits between respcache and redis-server.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"github.com/respcache/respcache/internal/redistest"
	"github.com/respcache/respcache/internal/reliability"
)

// faultLong reports whether the long variants run (REDISTEST_LONG=1): more
// clients, longer faults, more rounds.
func faultLong() bool { return os.Getenv("REDISTEST_LONG") != "" }

// faultSize picks the CI-sized or the long value.
func faultSize[T any](ci, long T) T {
	if faultLong() {
		return long
	}
	return ci
}

// faultLogBuf collects a child process's stderr; the process writes it from
// os/exec's copying goroutine while the test reads it.
type faultLogBuf struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

// Write appends p; it never fails.
func (l *faultLogBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *faultLogBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// faultProc is a respcache process started by a fault test, stopped
// (SIGTERM, then SIGKILL) by t.Cleanup.
type faultProc struct {
	addr string
	cmd  *exec.Cmd
	logs *faultLogBuf
}

// faultStartRespcache writes a config file holding listen, an admin
// listener on a free port and the given YAML (backend and cache sections),
// starts bin with it and waits until the RESP listener accepts.
func faultStartRespcache(t *testing.T, bin, yaml string) *faultProc {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "respcache.yaml")
	body := "listen: " + addr + "\nadmin_listen: 127.0.0.1:0\nlog:\n  level: warn\n" + yaml
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &faultProc{addr: addr, logs: &faultLogBuf{}}
	p.cmd = exec.Command(bin, "--config", cfg)
	p.cmd.Env = append(os.Environ(), "RESPCACHE_ADMIN_LISTEN=127.0.0.1:0")
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("respcache log (last 4KiB):\n%s", faultTail(p.logs.String(), 4096))
		}
	})
	redistest.Eventually(t, 15*time.Second, func() bool {
		c, err := redistest.DialRaw(addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "respcache listening on %s (config:\n%s)", addr, body)
	return p
}

// faultWaitServing waits until a write through respcache succeeds: the
// upstream (or the master a Sentinel names, or the cluster's slot map) is
// known and reachable.
func faultWaitServing(t *testing.T, addr string) {
	t.Helper()
	var last string
	ok := faultPoll(30*time.Second, func() bool {
		r, err := faultDo(addr, 2*time.Second, "SET", "fault:ready", "1")
		last = fmt.Sprintf("%q %v", r, err)
		return err == nil && string(r) == "+OK\r\n"
	})
	if !ok {
		t.Fatalf("respcache on %s never served a write; last reply %s", addr, last)
	}
}

// faultInfo returns the fields of INFO respcache, answered by respcache
// itself (it works while the upstream is down).
func faultInfo(addr string) (map[string]string, error) {
	r, err := faultDo(addr, 5*time.Second, "INFO", "respcache")
	if err != nil {
		return nil, err
	}
	if len(r) == 0 || r[0] != '$' {
		return nil, fmt.Errorf("INFO respcache: %q", r)
	}
	return parseInfo(string(r)), nil
}

// faultTrackingStatus is INFO respcache's tracking_status ("" on error).
func faultTrackingStatus(addr string) string {
	m, err := faultInfo(addr)
	if err != nil {
		return ""
	}
	return m["tracking_status"]
}

// faultDo runs one command on a fresh connection.
func faultDo(addr string, timeout time.Duration, args ...string) ([]byte, error) {
	c, err := redistest.DialRaw(addr, timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetReadTimeout(timeout)
	return c.Do(args...)
}

// faultPoll calls cond every 10ms until it is true (true) or timeout
// passes (false). For goroutines other than the test's and for conditions
// whose failure the caller words itself.
func faultPoll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(redistest.PollInterval)
	}
}

// faultHold keeps a fault in place for d: the point is the duration of the
// fault itself (clients must live through it), not waiting for a condition.
func faultHold(d time.Duration) { <-time.After(d) }

// faultTail returns the last n bytes of s, marked as cut when longer.
func faultTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// Client roles of a faultLoad.
const (
	// faultWriter does SET of a new key, INCR of its counter and GET of a
	// key it wrote before, in turn.
	faultWriter = "writer"
	// faultHotReader reads preloaded hot keys, which stay cached.
	faultHotReader = "hot-reader"
)

// faultLoadConfig describes the client load of a scenario.
type faultLoadConfig struct {
	// Addr is respcache's listener.
	Addr string
	// Prefix starts every key of this load, so scenarios do not mix.
	Prefix string
	// Tags, when above 0, puts the writers' keys into Tags hash slots (hash
	// tags {t0}..{t<Tags-1>} after Prefix), so that moving those slots
	// moves keys under load.
	Tags int
	// Writers and HotReaders are the number of client connections per role.
	Writers, HotReaders int
	// HotKeys is the number of hot keys (Prefix+"hot:<i>", value
	// faultHotValue(i)) the hot readers read; the test preloads them.
	HotKeys int
	// Pace is the pause between two commands of one client: it keeps the
	// load from eating the 2 CPUs that everything shares, and bounds the
	// error spin while the upstream is down.
	Pace time.Duration
	// ClientTimeout bounds each reply wait of a client; a timeout is
	// recorded as an error and the connection is replaced.
	ClientTimeout time.Duration
	// Wait makes a writer's SET and INCR count as acknowledged only once
	// replicated: the write is followed by WAIT 1 <WaitTimeout>, and is
	// acknowledged when WAIT answers :1; otherwise its outcome is unknown.
	Wait        bool
	WaitTimeout time.Duration
}

// faultHotValue is the value of hot key i.
func faultHotValue(i int) string { return "hot-value-" + strconv.Itoa(i) }

// faultStats are one role's results in one phase.
type faultStats struct {
	ok, errs int
	errBy    map[int]bool    // clients that saw an error
	lat      []time.Duration // of successful writes (writers) or reads (hot readers), at most faultMaxLat
	errLat   []time.Duration // of commands answered with an error, at most faultMaxLat
}

const faultMaxLat = 20000

// faultLoad runs the client goroutines of a scenario and keeps the books.
// All its methods are safe for concurrent use.
type faultLoad struct {
	cfg  faultLoadConfig
	stop chan struct{}
	wg   sync.WaitGroup

	// faultEnd is when the fault ended (unix ns; 0: not yet): the first
	// write a writer starts after it and that is answered without error
	// ends that writer's recovery.
	faultEnd atomic.Int64
	phase    atomic.Pointer[string]

	mu          sync.Mutex // guards the fields below
	acked       map[string]string
	unknownSets int
	incrAcked   []int64 // per writer
	incrUnknown []int64 // per writer: INCRs that failed (may or may not have happened)
	errs        map[string]int
	firstOK     []time.Time // per writer: its first write answered without error after faultEnd
	stats       map[string]*faultStats
	violations  []string
}

// faultStartLoad starts the clients; stop them with Stop.
func faultStartLoad(cfg faultLoadConfig) *faultLoad {
	if cfg.ClientTimeout == 0 {
		cfg.ClientTimeout = 15 * time.Second
	}
	if cfg.WaitTimeout == 0 {
		cfg.WaitTimeout = time.Second
	}
	n := cfg.Writers + cfg.HotReaders
	l := &faultLoad{
		cfg:         cfg,
		stop:        make(chan struct{}),
		acked:       map[string]string{},
		incrAcked:   make([]int64, cfg.Writers),
		incrUnknown: make([]int64, cfg.Writers),
		errs:        map[string]int{},
		firstOK:     make([]time.Time, cfg.Writers),
		stats:       map[string]*faultStats{},
	}
	l.SetPhase("before")
	for i := 0; i < n; i++ {
		l.wg.Add(1)
		go l.client(i)
	}
	return l
}

// Stop ends the load and waits for every client.
func (l *faultLoad) Stop() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// SetPhase labels the commands that start from now on.
func (l *faultLoad) SetPhase(p string) { l.phase.Store(&p) }

// MarkFaultEnd starts the recovery clock.
func (l *faultLoad) MarkFaultEnd() { l.faultEnd.Store(time.Now().UnixNano()) }

// FaultEnd is when MarkFaultEnd was called.
func (l *faultLoad) FaultEnd() time.Time { return time.Unix(0, l.faultEnd.Load()) }

// ResetRecovery stops the recovery clock and forgets the clients' first
// successes, for the next round of a fault.
func (l *faultLoad) ResetRecovery() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.faultEnd.Store(0)
	clear(l.firstOK)
}

// WaitRecovered waits until every writer had a write answered without
// error that it started after MarkFaultEnd, and returns the time from the
// fault's end to the last writer's first such answer.
func (l *faultLoad) WaitRecovered(t *testing.T, timeout time.Duration) time.Duration {
	t.Helper()
	ok := faultPoll(timeout, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, f := range l.firstOK {
			if f.IsZero() {
				return false
			}
		}
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	if !ok {
		t.Fatalf("not every writer recovered within %v of the fault's end (first successes %v); errors: %v",
			timeout, l.firstOK, l.errs)
	}
	end := time.Unix(0, l.faultEnd.Load())
	var worst time.Duration
	for _, f := range l.firstOK {
		worst = max(worst, f.Sub(end))
	}
	return worst
}

// WaitAcked waits until at least n writes are acknowledged.
func (l *faultLoad) WaitAcked(t *testing.T, n int, timeout time.Duration) {
	t.Helper()
	if !faultPoll(timeout, func() bool { return l.Acked() >= n }) {
		t.Fatalf("fewer than %d writes acknowledged within %v (errors: %v)", n, timeout, l.Errors())
	}
}

// WaitErrors waits until every client of role has seen at least one error
// in the current phase (the fault reached each of them); it reports
// whether that happened within timeout.
func (l *faultLoad) WaitErrors(role string, timeout time.Duration) bool {
	return faultPoll(timeout, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		s := l.stats[role+"/"+*l.phase.Load()]
		from, to := 0, l.cfg.Writers
		if role == faultHotReader {
			from, to = l.cfg.Writers, l.cfg.Writers+l.cfg.HotReaders
		}
		for id := from; id < to; id++ {
			if s == nil || !s.errBy[id] {
				return false
			}
		}
		return true
	})
}

// Acked is the number of acknowledged SETs.
func (l *faultLoad) Acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// Errors returns a copy of the error texts seen, with their counts.
func (l *faultLoad) Errors() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int, len(l.errs))
	for k, v := range l.errs {
		out[k] = v
	}
	return out
}

// ErrorTexts lists the error texts seen, sorted.
func (l *faultLoad) ErrorTexts() []string {
	var out []string
	for k := range l.Errors() {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Stats returns a copy of role's results in phase.
func (l *faultLoad) Stats(role, phase string) faultStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats[role+"/"+phase]
	if s == nil {
		return faultStats{}
	}
	return faultStats{ok: s.ok, errs: s.errs, lat: slices.Clone(s.lat), errLat: slices.Clone(s.errLat)}
}

// Violations lists wrong replies (a value read back that is not the one
// written, an acknowledged key read back as missing).
func (l *faultLoad) Violations() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.violations)
}

// faultQuantile returns the q-quantile of d (0 when empty).
func faultQuantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// stopped reports whether Stop was called.
func (l *faultLoad) stopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// statsLocked returns the stats of role in the phase p.
func (l *faultLoad) statsLocked(role, p string) *faultStats {
	k := role + "/" + p
	s := l.stats[k]
	if s == nil {
		s = &faultStats{}
		l.stats[k] = s
	}
	return s
}

// done records one command of client id that started at start in phase p.
// A write (SET, INCR) that succeeds after the fault ended ends the client's
// recovery, at answered (the time its own reply arrived; zero: now); reads
// do not, since a cache hit proves nothing about the upstream.
func (l *faultLoad) done(id int, role, p string, start time.Time, errText string, write bool, answered time.Time) {
	now := time.Now()
	if answered.IsZero() {
		answered = now
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.statsLocked(role, p)
	if errText != "" {
		s.errs++
		if s.errBy == nil {
			s.errBy = map[int]bool{}
		}
		s.errBy[id] = true
		l.errs[errText]++
		if len(s.errLat) < faultMaxLat {
			s.errLat = append(s.errLat, now.Sub(start))
		}
		return
	}
	s.ok++
	// Writers' latencies are those of their writes: their reads of their
	// own keys are mostly cache hits and would hide what the upstream costs.
	if len(s.lat) < faultMaxLat && (write || role == faultHotReader) {
		s.lat = append(s.lat, now.Sub(start))
	}
	if end := l.faultEnd.Load(); write && end != 0 && start.UnixNano() >= end && l.firstOK[id].IsZero() {
		l.firstOK[id] = answered
	}
}

// violation records a wrong reply (the first 50 are kept).
func (l *faultLoad) violation(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.violations) < 50 {
		l.violations = append(l.violations, fmt.Sprintf(format, args...))
	}
}

// client runs one connection's loop until Stop.
func (l *faultLoad) client(id int) {
	defer l.wg.Done()
	role := faultWriter
	if id >= l.cfg.Writers {
		role = faultHotReader
	}
	rng := rand.New(rand.NewPCG(uint64(id), 42))
	var c *redistest.RawConn
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	var mine []string // keys this client wrote and saw acknowledged
	counter := l.counterKey(id)
	for seq := 0; !l.stopped(); seq++ {
		if seq > 0 {
			select {
			case <-l.stop:
				return
			case <-time.After(l.cfg.Pace):
			}
		}
		p := *l.phase.Load()
		start := time.Now()
		if c == nil {
			var err error
			if c, err = redistest.DialRaw(l.cfg.Addr, 2*time.Second); err != nil {
				c = nil
				l.done(id, role, p, start, "dial: "+faultNormalize(err.Error()), false, time.Time{})
				continue
			}
			c.SetReadTimeout(l.cfg.ClientTimeout)
		}
		var errText string
		if role == faultHotReader {
			i := rng.IntN(l.cfg.HotKeys)
			want := faultHotValue(i)
			r, err := c.Do("GET", l.cfg.Prefix+"hot:"+strconv.Itoa(i))
			switch {
			case err != nil:
				errText = faultConnError(err)
			case r[0] == '-':
				errText = faultNormalize(strings.TrimSpace(string(r)))
			case string(r) != faultBulk(want):
				l.violation("hot GET %shot:%d = %q, want %q", l.cfg.Prefix, i, r, want)
			}
			if err != nil {
				c.Close()
				c = nil
			}
			l.done(id, role, p, start, errText, false, time.Time{})
			continue
		}
		var err error
		var answered time.Time
		switch seq % 3 {
		case 0:
			k := l.keyPrefix(seq) + fmt.Sprintf("w%d:%d", id, seq)
			v := fmt.Sprintf("v%d-%d", id, seq)
			var acked bool
			acked, answered, errText, err = l.write(c, "SET", k, v)
			l.mu.Lock()
			if acked {
				l.acked[k] = v
				mine = append(mine, k)
			} else {
				l.unknownSets++
			}
			l.mu.Unlock()
		case 1:
			var acked bool
			acked, answered, errText, err = l.write(c, "INCR", counter)
			l.mu.Lock()
			if acked {
				l.incrAcked[id]++
			} else {
				l.incrUnknown[id]++
			}
			l.mu.Unlock()
		case 2:
			if len(mine) == 0 {
				continue
			}
			k := mine[rng.IntN(len(mine))]
			l.mu.Lock()
			want := l.acked[k]
			l.mu.Unlock()
			var r []byte
			r, err = c.Do("GET", k)
			switch {
			case err != nil:
				errText = faultConnError(err)
			case r[0] == '-':
				errText = faultNormalize(strings.TrimSpace(string(r)))
			case string(r) != faultBulk(want):
				l.violation("GET %s = %q, want the acknowledged %q", k, r, want)
			}
		}
		if err != nil {
			c.Close()
			c = nil
		}
		l.done(id, role, p, start, errText, seq%3 != 2, answered)
	}
}

// write runs one write (SET or INCR) and says whether it is acknowledged
// and when its reply arrived; errText is the error a client saw
// (normalized), err a connection failure (the connection must be
// replaced). In Wait mode it is acknowledged only when WAIT 1 confirms a
// replica has it, and answered is when the write's own reply arrived (the
// WAIT after it is durability, not availability).
func (l *faultLoad) write(c *redistest.RawConn, args ...string) (acked bool, answered time.Time, errText string, err error) {
	check := func(r []byte) bool {
		if args[0] == "SET" {
			return string(r) == "+OK\r\n"
		}
		return len(r) > 0 && r[0] == ':'
	}
	if !l.cfg.Wait {
		r, err := c.Do(args...)
		switch {
		case err != nil:
			return false, time.Time{}, faultConnError(err), err
		case r[0] == '-':
			return false, time.Time{}, faultNormalize(strings.TrimSpace(string(r))), nil
		case !check(r):
			return false, time.Time{}, "unexpected reply " + strconv.Quote(string(r)), nil
		}
		return true, time.Time{}, "", nil
	}
	// The write, then WAIT for it once it is answered (not pipelined:
	// respcache answers a pipeline together, and the write's own reply
	// time is what recovery is measured by). TestFault/wait-after-write
	// checks that WAIT through respcache waits for the client's writes.
	var replies [2][]byte
	cmds := [2][]string{args, {"WAIT", "1", strconv.Itoa(int(l.cfg.WaitTimeout / time.Millisecond))}}
	for i, cmd := range cmds {
		if replies[i], err = c.Do(cmd...); err != nil {
			return false, time.Time{}, faultConnError(err), err
		}
		if r := replies[i]; r[0] == '-' {
			return false, time.Time{}, faultNormalize(strings.TrimSpace(string(r))), nil
		}
		if i == 0 {
			answered = time.Now()
			if !check(replies[0]) {
				return false, time.Time{}, "unexpected reply " + strconv.Quote(string(replies[0])), nil
			}
		}
	}
	if string(replies[1]) != ":1\r\n" {
		return false, answered, "", nil // written, not known to be replicated: unknown outcome, not an error
	}
	return true, answered, "", nil
}

// keyPrefix is the prefix of the key written at seq: Prefix, and the
// seq's hash tag when Tags is set.
func (l *faultLoad) keyPrefix(seq int) string {
	if l.cfg.Tags == 0 {
		return l.cfg.Prefix
	}
	return l.cfg.Prefix + faultTag(seq%l.cfg.Tags)
}

// faultTag is hash tag i of a load with Tags.
func faultTag(i int) string { return "{t" + strconv.Itoa(i) + "}" }

// counterKey is writer id's INCR counter.
func (l *faultLoad) counterKey(id int) string { return l.keyPrefix(id) + "ctr:" + strconv.Itoa(id) }

// faultBulk is v as a RESP bulk string.
func faultBulk(v string) string { return "$" + strconv.Itoa(len(v)) + "\r\n" + v + "\r\n" }

var faultAddrRE = regexp.MustCompile(`(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]):\d+`)

// faultNormalize replaces port numbers in addresses, which change from run
// to run, so that texts can be compared and counted.
func faultNormalize(s string) string {
	return faultAddrRE.ReplaceAllString(s, "$1:PORT")
}

// faultConnError words a connection-level failure as a client sees it.
func faultConnError(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by respcache"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by respcache"
	case errors.As(err, &ne) && ne.Timeout():
		return "no reply within the client's timeout"
	}
	return "connection error: " + faultNormalize(err.Error())
}

// faultCheck is the verdict on a load's books after the fault.
type faultCheck struct {
	acked, lost         int
	unknownSets         int
	incrAcked, incrUnkn int64
	lostKeys            []string
}

// faultVerify reads every acknowledged key and every counter with get
// (directly from Redis, not through respcache) and fails the test for a
// lost or wrong acknowledged write, a counter below its acknowledged
// increments or above acknowledged + unknown-outcome increments, or any
// wrong reply seen during the load.
func faultVerify(t *testing.T, l *faultLoad, get func(key string) ([]byte, error)) faultCheck {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := faultCheck{acked: len(l.acked), unknownSets: l.unknownSets}
	for k, v := range l.acked {
		r, err := get(k)
		if err != nil {
			t.Fatalf("reading %s back from Redis: %v", k, err)
		}
		if string(r) != faultBulk(v) {
			ch.lost++
			if len(ch.lostKeys) < 10 {
				ch.lostKeys = append(ch.lostKeys, fmt.Sprintf("%s=%q want %q", k, r, v))
			}
		}
	}
	for id := range l.incrAcked {
		k := l.counterKey(id)
		r, err := get(k)
		if err != nil {
			t.Fatalf("reading %s back from Redis: %v", k, err)
		}
		var v int64
		if string(r) != "$-1\r\n" {
			s := strings.TrimSpace(string(r))
			if i := strings.Index(s, "\r\n"); i >= 0 {
				s = s[i+2:]
			}
			if v, err = strconv.ParseInt(s, 10, 64); err != nil {
				t.Fatalf("counter %s = %q", k, r)
			}
		}
		ch.incrAcked += l.incrAcked[id]
		ch.incrUnkn += l.incrUnknown[id]
		if v < l.incrAcked[id] || v > l.incrAcked[id]+l.incrUnknown[id] {
			ch.lost++
			t.Errorf("counter %s = %d, want between %d (acknowledged INCRs) and %d (+ INCRs with unknown outcome)",
				k, v, l.incrAcked[id], l.incrAcked[id]+l.incrUnknown[id])
		}
	}
	if ch.lost > 0 {
		t.Errorf("%d acknowledged writes lost, e.g. %v", ch.lost, ch.lostKeys)
	}
	if ch.acked == 0 {
		t.Errorf("no write was acknowledged: the scenario proved nothing")
	}
	if len(l.violations) > 0 {
		t.Errorf("wrong replies during the load: %v", l.violations)
	}
	return ch
}

// faultDirectGet returns a getter that reads keys from a Redis server (or
// cluster node, following -MOVED) with one connection per address.
func faultDirectGet(t *testing.T, addr string) func(string) ([]byte, error) {
	conns := map[string]*redistest.RawConn{}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	var get func(a, key string, hops int) ([]byte, error)
	get = func(a, key string, hops int) ([]byte, error) {
		c := conns[a]
		if c == nil {
			var err error
			if c, err = redistest.DialRaw(a, 5*time.Second); err != nil {
				return nil, err
			}
			conns[a] = c
		}
		r, err := c.Do("GET", key)
		if err != nil {
			return nil, err
		}
		if f := strings.Fields(string(r)); len(f) == 3 && f[0] == "-MOVED" && hops < 3 {
			return get(f[2], key, hops+1)
		}
		return r, nil
	}
	return func(key string) ([]byte, error) { return get(addr, key, 0) }
}

// faultRecord records r for RELIABILITY.md, unless the test has already
// failed: only results whose checks passed are reported.
func faultRecord(t *testing.T, r reliability.Result) {
	t.Helper()
	if t.Failed() {
		t.Logf("not recorded for RELIABILITY.md: the scenario failed")
		return
	}
	r.Suite = "fault"
	reliability.Record(t, r)
}

// faultSummary renders counts of error texts for Measured.
func faultSummary(errs map[string]int) string {
	if len(errs) == 0 {
		return "no errors"
	}
	var parts []string
	for k, v := range errs {
		parts = append(parts, fmt.Sprintf("%dx %q", v, k))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// faultToxiproxy runs an in-process toxiproxy on a free port in front of
// upstream, stopped by t.Cleanup. Stop and Start on the returned proxy
// take the port down and bring it back on the same port.
func faultToxiproxy(t *testing.T, upstream string) *toxiproxy.Proxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, "redis", "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("toxiproxy: %v", err)
	}
	t.Cleanup(p.Stop)
	return p
}

// faultAddToxic adds a toxic (toxiproxy's JSON form) to p.
func faultAddToxic(t *testing.T, p *toxiproxy.Proxy, name, typ, stream string, attrs string) {
	t.Helper()
	js := fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":%s}`, name, typ, stream, attrs)
	if _, err := p.Toxics.AddToxicJson(strings.NewReader(js)); err != nil {
		t.Fatalf("toxiproxy: adding %s: %v", js, err)
	}
}

// faultRemoveToxic removes a toxic added by faultAddToxic.
func faultRemoveToxic(t *testing.T, p *toxiproxy.Proxy, name string) {
	t.Helper()
	if err := p.Toxics.RemoveToxic(context.Background(), name); err != nil {
		t.Fatalf("toxiproxy: removing %s: %v", name, err)
	}
}

// faultTrackingWatch polls INFO respcache's tracking_status every 20ms
// from a goroutine and remembers when each status was first seen after
// the watch began.
type faultTrackingWatch struct {
	addr  string
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup

	mu    sync.Mutex // guards first
	first map[string]time.Time
}

// faultWatchTracking starts a watch of respcache at addr, stopped by
// t.Cleanup if not before.
func faultWatchTracking(t *testing.T, addr string) *faultTrackingWatch {
	w := &faultTrackingWatch{addr: addr, start: time.Now(), stop: make(chan struct{}), first: map[string]time.Time{}}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if st := faultTrackingStatus(addr); st != "" {
				w.mu.Lock()
				if _, ok := w.first[st]; !ok {
					w.first[st] = time.Now()
				}
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(w.Stop)
	return w
}

// Stop ends the watch; safe to call twice.
func (w *faultTrackingWatch) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	w.wg.Wait()
}

// Since returns how long after the watch began status was first seen
// (false: not seen).
func (w *faultTrackingWatch) Since(status string) (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f, ok := w.first[status]
	return f.Sub(w.start), ok
}
