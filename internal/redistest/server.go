package redistest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireEnv names the environment variable that turns a missing
// redis-server/redis-sentinel binary from a skip into a failure. CI sets it
// to 1 so that tests needing Redis can never be skipped silently there.
const RequireEnv = "REDISTEST_REQUIRE_REDIS"

// StartTimeout bounds how long Start waits for a new server to answer PING.
const StartTimeout = 15 * time.Second

// Option configures Start.
type Option func(*serverConfig)

type serverConfig struct {
	password string
	args     []string
	cluster  bool
	sentinel []string // sentinel.conf lines after the common ones; non-nil means sentinel mode
}

// WithArgs appends redis-server command-line configuration, in the form
// redis-server accepts after the config file: "--maxmemory", "1mb",
// "--maxmemory-policy", "allkeys-lfu". Later arguments override earlier
// ones, including the defaults Start sets.
func WithArgs(args ...string) Option {
	return func(c *serverConfig) { c.args = append(c.args, args...) }
}

// WithPassword sets requirepass. The readiness probe authenticates with it,
// and Password reports it.
func WithPassword(password string) Option {
	return func(c *serverConfig) { c.password = password }
}

// Server is a redis-server (or redis-sentinel) process owned by a test. Its
// methods may be called from any goroutine except where they take a
// testing.TB-failing path, which happens only from the test goroutine in
// Start/Restart. It is stopped by t.Cleanup.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	cfg  serverConfig
	port int
	bus  int // cluster bus port, 0 unless cluster mode

	mu     sync.Mutex // guards cmd, done, paused
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
	paused bool

	// started is set after the first successful launch; from then on the
	// port is fixed and a sentinel keeps the config file it rewrote.
	started bool
}

// Start launches redis-server on a free 127.0.0.1 port with its own
// t.TempDir() as working directory, no persistence (save "", appendonly no)
// and the DEBUG command enabled, waits until it answers PING, and registers
// its shutdown with t.Cleanup. If redis-server is not on PATH the test is
// skipped, or failed when REDISTEST_REQUIRE_REDIS=1.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var cfg serverConfig
	for _, o := range opts {
		o(&cfg)
	}
	return startServer(t, cfg)
}

func startServer(t testing.TB, cfg serverConfig) *Server {
	t.Helper()
	name := "redis-server"
	if cfg.sentinel != nil {
		name = "redis-sentinel"
	}
	s := &Server{t: t, bin: requireBinary(t, name), dir: t.TempDir(), cfg: cfg}
	t.Cleanup(s.shutdown)
	// Another process may take the port between our probe and redis-server's
	// bind; redis-server then exits, and we try again with a new port.
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		s.port, err = freePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		if cfg.cluster {
			if s.bus, err = freePort(); err != nil {
				t.Fatalf("redistest: %v", err)
			}
		}
		err = s.launch()
		if !errors.Is(err, errBind) {
			break
		}
	}
	if err != nil {
		t.Fatalf("redistest: starting %s: %v", name, err)
	}
	return s
}

// Addr returns "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port returns the TCP port the server listens on; it survives Restart.
func (s *Server) Port() int { return s.port }

// Dir returns the server's working directory (logs, nodes.conf, RDB files).
func (s *Server) Dir() string { return s.dir }

// Password returns the requirepass set by WithPassword, or "".
func (s *Server) Password() string { return s.cfg.password }

// Running reports whether the process is alive (paused counts as alive).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runningLocked()
}

func (s *Server) runningLocked() bool {
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL and waits for the process to exit: a crash, nothing is
// saved, clients see connection resets. No-op if it is not running.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

func (s *Server) killLocked() {
	if !s.runningLocked() {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
	s.paused = false
}

// Stop shuts the server down cleanly (SIGTERM) and waits for it to exit,
// falling back to SIGKILL after 10s. A paused server is resumed first so it
// can handle the signal. No-op if it is not running.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.runningLocked() {
		return
	}
	if s.paused {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
		s.paused = false
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.killLocked()
	}
}

// Restart stops the server if it is running and starts it again on the same
// port with the same directory and configuration, then waits for PING. It
// fails the test if the port was taken meanwhile. Call it from the test
// goroutine.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	// The old socket may linger for a moment after exit; retry the bind.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err = s.launch()
		if !errors.Is(err, errBind) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // back-off between bind attempts, not a wait for a condition
	}
	if err != nil {
		s.t.Fatalf("redistest: restarting %s on port %d: %v", s.bin, s.port, err)
	}
}

// Pause stops the process with SIGSTOP: connections stay open, nothing is
// answered, as with a hung or overloaded upstream. Resume undoes it; cleanup
// resumes a paused server before stopping it.
func (s *Server) Pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runningLocked() && !s.paused {
		_ = s.cmd.Process.Signal(syscall.SIGSTOP)
		s.paused = true
	}
}

// Resume continues a paused server with SIGCONT.
func (s *Server) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runningLocked() && s.paused {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
		s.paused = false
	}
}

// Log returns the server's log file contents, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	return string(b)
}

func (s *Server) shutdown() {
	s.Stop()
	if s.t.Failed() {
		s.t.Logf("redistest: log of %s on %s (last 2KiB):\n%s", filepath.Base(s.bin), s.Addr(), tail(s.Log(), 2048))
	}
}

var errBind = errors.New("port already in use")

// launch starts the process on s.port and waits until it answers PING.
func (s *Server) launch() error {
	logPath := filepath.Join(s.dir, "redis.log")
	_ = os.Remove(logPath) // so bind-error detection reads this run only
	var args []string
	if s.cfg.sentinel != nil {
		conf := filepath.Join(s.dir, "sentinel.conf")
		if !s.started {
			// Sentinel rewrites its config file with what it learns; on
			// Restart we keep that state, as a real deployment would. Before
			// the first successful start the port may still change.
			lines := append([]string{
				"port " + strconv.Itoa(s.port),
				"bind 127.0.0.1",
				"daemonize no",
			}, s.cfg.sentinel...)
			if err := os.WriteFile(conf, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
				return err
			}
		}
		args = []string{conf, "--dir", s.dir, "--logfile", logPath, "--protected-mode", "no"}
	} else {
		args = []string{
			"--port", strconv.Itoa(s.port),
			"--bind", "127.0.0.1",
			"--dir", s.dir,
			"--logfile", logPath,
			"--daemonize", "no",
			"--protected-mode", "no",
			"--save", "",
			"--appendonly", "no",
			"--enable-debug-command", "yes",
		}
		if s.cfg.cluster {
			args = append(args,
				"--cluster-enabled", "yes",
				"--cluster-config-file", "nodes.conf",
				"--cluster-port", strconv.Itoa(s.bus),
				"--cluster-node-timeout", "2000",
			)
		}
		if s.cfg.password != "" {
			args = append(args, "--requirepass", s.cfg.password)
		}
	}
	args = append(args, s.cfg.args...)

	cmd := exec.Command(s.bin, args...)
	cmd.Dir = s.dir
	var stderr bytes.Buffer
	cmd.Stdout = &stderr
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done, s.paused = cmd, done, false
	s.mu.Unlock()

	var lastErr error
	deadline := time.Now().Add(StartTimeout)
	for {
		select {
		case <-done:
			log := s.Log()
			if strings.Contains(log, "Address already in use") {
				return errBind
			}
			return fmt.Errorf("exited during startup: %s\nstdout/stderr:\n%s\nlog:\n%s",
				cmd.ProcessState, tail(stderr.String(), 2048), tail(log, 2048))
		default:
		}
		r, err := do(s.Addr(), s.cfg.password, time.Second, "PING")
		if err == nil && string(r) == "+PONG\r\n" {
			s.started = true
			return nil
		}
		if err == nil {
			err = fmt.Errorf("PING: %q", r)
		}
		lastErr = err
		if time.Now().After(deadline) {
			s.mu.Lock()
			s.killLocked()
			s.mu.Unlock()
			return fmt.Errorf("no PONG from %s within %v (last: %v); log:\n%s", s.Addr(), StartTimeout, lastErr, tail(s.Log(), 2048))
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
}

// requireBinary finds name on PATH, or skips (fails under REDISTEST_REQUIRE_REDIS=1).
func requireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("redistest: %s not found on PATH (%v) and %s=1: install it (Debian: apt-get install redis-server redis-sentinel)", name, err, RequireEnv)
	}
	t.Skipf("redistest: skipping, %s not found on PATH (%v); install it (Debian: apt-get install redis-server redis-sentinel), and set %s=1 to make this a failure", name, err, RequireEnv)
	return ""
}

// freePort asks the kernel for a free port. The port is released before it is
// returned, so the caller must handle losing a race for it.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
