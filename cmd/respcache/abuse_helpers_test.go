package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/respcache/respcache/internal/redistest"
)

// abuseLong reports whether the long variants run (REDISTEST_LONG=1).
func abuseLong() bool { return os.Getenv("REDISTEST_LONG") != "" }

// abuseProbeBound is the latency a fresh client's PING + SET + GET round
// trips must stay under while respcache is being abused. It is generous
// for a loaded 2-core CI machine; a proxy that stops serving others blows
// through it by orders of magnitude (or never answers).
const abuseProbeBound = 2 * time.Second

// abuseSafeBuffer is a bytes.Buffer safe for exec's copying goroutine and
// the test reading it at once.
type abuseSafeBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (w *abuseSafeBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *abuseSafeBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// abuseProc is a respcache process started for one scenario.
type abuseProc struct {
	t        *testing.T
	addr     string
	cmd      *exec.Cmd
	logs     *abuseSafeBuffer
	sampler  *rssSampler
	readyKiB int64 // VmRSS once it accepted its first connection
}

// abuseStart starts bin in front of upstream with the YAML sections in
// extra (limits:, cache:) appended to the config, samples its RSS every
// 50ms, and waits until it accepts connections. The process is killed by
// t.Cleanup, which logs its output when the test failed.
func abuseStart(t *testing.T, bin, upstream, extra string) *abuseProc {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "respcache.yaml")
	// The slow-command log is off: under abuse every command is slow, and
	// logging thousands of them would be the test's own load.
	text := fmt.Sprintf("listen: %s\nlog:\n  slow_threshold: 0s\nbackend:\n  type: redis\n  redis:\n    addrs: [%s]\n%s", addr, upstream, extra)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfg)
	// No GOMEMLIMIT: the bounds must hold with the runtime's defaults.
	cmd.Env = append(withoutEnv(os.Environ(), "GOMEMLIMIT"), "RESPCACHE_ADMIN_LISTEN=127.0.0.1:0")
	p := &abuseProc{t: t, addr: addr, cmd: cmd, logs: &abuseSafeBuffer{}}
	cmd.Stderr = p.logs
	cmd.Stdout = p.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.sampler.stop()
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("respcache log:\n%s", abuseTail(p.logs.String(), 4000))
		}
	})
	p.sampler = startRSSSampler(cmd.Process.Pid, 50*time.Millisecond)
	redistest.Eventually(t, 15*time.Second, func() bool {
		if _, err := readVmKiB(cmd.Process.Pid, "VmRSS:"); err != nil {
			// Exited (a zombie has no VmRSS): say why at once.
			t.Fatalf("respcache exited during startup: %v\n%s", err, p.logs.String())
		}
		c, err := redistest.DialRaw(addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "respcache listening on %s", addr)
	var err error
	if p.readyKiB, err = readVmKiB(cmd.Process.Pid, "VmRSS:"); err != nil {
		t.Fatal(err)
	}
	return p
}

// rssKiB is the current VmRSS.
func (p *abuseProc) rssKiB() int64 {
	p.t.Helper()
	kib, err := readVmKiB(p.cmd.Process.Pid, "VmRSS:")
	if err != nil {
		p.t.Fatalf("respcache gone? %v\n%s", err, abuseTail(p.logs.String(), 4000))
	}
	return kib
}

// peakKiB is the larger of the sampled peak and the kernel's VmHWM, so a
// spike between two samples is not missed.
func (p *abuseProc) peakKiB() int64 {
	p.t.Helper()
	hwm, err := readVmKiB(p.cmd.Process.Pid, "VmHWM:")
	if err != nil {
		p.t.Fatalf("respcache gone? %v\n%s", err, abuseTail(p.logs.String(), 4000))
	}
	return max(hwm, p.sampler.peakKiB())
}

// alive fails the test if respcache exited (a crash).
func (p *abuseProc) alive() {
	p.t.Helper()
	if _, err := readVmKiB(p.cmd.Process.Pid, "VmRSS:"); err != nil {
		p.t.Fatalf("respcache is not running any more: %v\n%s", err, abuseTail(p.logs.String(), 4000))
	}
}

// checkBound fails the test when the peak RSS is over boundKiB, saying
// how the bound was computed.
func (p *abuseProc) checkBound(peakKiB, boundKiB int64, formula string) {
	p.t.Helper()
	if peakKiB > boundKiB {
		p.t.Errorf("peak RSS %.1f MiB is over the bound %.1f MiB (%s)", abuseMiB(peakKiB), abuseMiB(boundKiB), formula)
	}
}

var abuseProbeSeq atomic.Int64

// abuseProbe is the "others are still served" check: a fresh client dials,
// sends PING, SET and GET of a key of its own, and must get the right
// replies within abuseProbeBound. It returns the time the three round
// trips took, or an error; it never touches t, so any goroutine may call it.
func abuseProbe(addr string) (time.Duration, error) {
	start := time.Now()
	c, err := redistest.DialRaw(addr, abuseProbeBound)
	if err != nil {
		return 0, fmt.Errorf("probe: dial: %w", err)
	}
	defer c.Close()
	c.SetReadTimeout(abuseProbeBound)
	key := fmt.Sprintf("abuse:probe:%d", abuseProbeSeq.Add(1))
	val := key + ":value"
	for _, step := range []struct {
		args []string
		want string
	}{
		{[]string{"PING"}, "+PONG\r\n"},
		{[]string{"SET", key, val}, "+OK\r\n"},
		{[]string{"GET", key}, fmt.Sprintf("$%d\r\n%s\r\n", len(val), val)},
	} {
		got, err := c.Do(step.args...)
		if err != nil {
			return time.Since(start), fmt.Errorf("probe: %s: %w", step.args[0], err)
		}
		if string(got) != step.want {
			return time.Since(start), fmt.Errorf("probe: %s: got %q, want %q", step.args[0], got, step.want)
		}
	}
	d := time.Since(start)
	if d > abuseProbeBound {
		return d, fmt.Errorf("probe: PING+SET+GET took %v, bound %v", d, abuseProbeBound)
	}
	return d, nil
}

// mustProbe runs abuseProbe from the test goroutine and fails on error.
func (p *abuseProc) mustProbe(when string) time.Duration {
	p.t.Helper()
	d, err := abuseProbe(p.addr)
	if err != nil {
		p.t.Fatalf("%s: another client was not served: %v", when, err)
	}
	return d
}

// abuseReadAll reads what a server sends on nc until it closes the
// connection or nothing arrives for quiet. closed reports whether the
// server closed it (EOF or reset).
func abuseReadAll(nc net.Conn, quiet time.Duration) (got []byte, closed bool) {
	buf := make([]byte, 64<<10)
	for {
		nc.SetReadDeadline(time.Now().Add(quiet))
		n, err := nc.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return got, false
			}
			return got, true // io.EOF, ECONNRESET: the server hung up
		}
	}
}

// abuseWaitClosed waits up to timeout for the server to close nc, reading
// and discarding what arrives; it returns the bytes discarded and whether
// the close came.
func abuseWaitClosed(nc net.Conn, timeout time.Duration) (int64, bool) {
	nc.SetReadDeadline(time.Now().Add(timeout))
	n, err := io.Copy(io.Discard, nc)
	if err == nil {
		return n, true // EOF
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return n, false
	}
	return n, true
}

// abuseInfo returns INFO respcache's integer field name, from a fresh
// connection.
func abuseInfo(t *testing.T, addr, name string) int64 {
	t.Helper()
	c := redistest.Dial(t, addr)
	defer c.Close()
	v, ok := parseInfo(c.DoString("INFO", "respcache"))[name]
	if !ok {
		t.Fatalf("INFO respcache has no %s", name)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("INFO respcache %s=%q: %v", name, v, err)
	}
	return n
}

func abuseMiB(kib int64) float64 { return float64(kib) / 1024 }

func abuseTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// abuseQuote renders a reply for the report: short, printable, exact.
func abuseQuote(b []byte) string {
	s := strconv.Quote(string(b))
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return strings.TrimSpace(s)
}

// abuseProber runs abuseProbe every 100ms from a goroutine while a scenario
// abuses respcache, so "others are served during" is measured, not
// assumed.
type abuseProber struct {
	addr string
	done chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex // guards n, worst, errs
	n     int
	worst time.Duration
	errs  []error
}

func abuseStartProber(addr string) *abuseProber {
	pr := &abuseProber{addr: addr, done: make(chan struct{})}
	pr.wg.Add(1)
	go func() {
		defer pr.wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-pr.done:
				return
			case <-tick.C:
			}
			d, err := abuseProbe(pr.addr)
			pr.mu.Lock()
			pr.n++
			pr.worst = max(pr.worst, d)
			if err != nil {
				pr.errs = append(pr.errs, err)
			}
			pr.mu.Unlock()
		}
	}()
	return pr
}

// stop ends the probing and fails t if a probe failed or none ran.
// It returns the number of probes and the slowest.
func (pr *abuseProber) stop(t *testing.T) (int, time.Duration) {
	t.Helper()
	close(pr.done)
	pr.wg.Wait()
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if len(pr.errs) > 0 {
		t.Errorf("%d of %d probes during the abuse failed; first: %v", len(pr.errs), pr.n, pr.errs[0])
	}
	return pr.n, pr.worst
}
