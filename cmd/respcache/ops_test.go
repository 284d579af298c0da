package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/respcache/respcache/internal/redistest"
)

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestOperate runs the binary with a config file and checks what an
// operator uses: the admin endpoints, metrics after traffic, the status
// page, a live reload (SIGHUP and a rejected invalid config), respcache
// drain, and the slow log.
func TestOperate(t *testing.T) {
	srv := redistest.Start(t)
	bin := buildBinary(t)
	addr := freeAddr(t)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "respcache.yaml")
	write := func(maxMemory, extra string) {
		t.Helper()
		body := "listen: " + addr + "\nadmin_listen: 127.0.0.1:0\nbackend:\n  type: redis\n  redis:\n    addrs: [" + srv.Addr() + "]\n" +
			"cache:\n  max_memory: " + maxMemory + "\nlog:\n  slow_threshold: 0s\n" + extra
		if err := os.WriteFile(cfgPath, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("64MiB", "")
	var logs syncBuffer
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	adminRE := regexp.MustCompile(`admin server listening" addr=(\S+)`)
	var admin string
	redistest.Eventually(t, 10*time.Second, func() bool {
		m := adminRE.FindStringSubmatch(logs.String())
		if m != nil {
			admin = "http://" + m[1]
		}
		return m != nil
	}, "admin server started")
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(admin + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 {
		t.Fatalf("/healthz %d %s", code, body)
	}
	redistest.Eventually(t, 5*time.Second, func() bool { code, _ := get("/readyz"); return code == 200 }, "ready")

	c := redistest.Dial(t, addr)
	c.Do("SET", "k", "v")
	for i := 0; i < 5; i++ {
		c.Do("GET", "k")
	}
	_, metrics := get("/metrics")
	for _, want := range []string{
		`respcache_commands_total{command="get"} 5`,
		`respcache_commands_total{command="set"} 1`,
		`respcache_command_duration_seconds_bucket{command="get"`,
		"respcache_cache_hits_total ", "respcache_cache_misses_total ", "respcache_tracking_up 1",
		`respcache_cache_memory_quota_bytes{namespace="*"} 6.7108864e+07`, "respcache_connections 1", "go_gc_duration_seconds",
		`respcache_pool_segments{state="active"} 1`, `respcache_pool_segments{state="free"}`, `respcache_pool_segments{state="sealed"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The SET went to redis-server (the GETs are hits: the SET's reply
	// updated the local copy): at least one upstream round trip.
	if m := regexp.MustCompile(`respcache_upstream_duration_seconds_count (\d+)`).FindStringSubmatch(metrics); m == nil {
		t.Errorf("/metrics lacks respcache_upstream_duration_seconds")
	} else if n, _ := strconv.Atoi(m[1]); n < 1 {
		t.Errorf("respcache_upstream_duration_seconds_count %d, want >= 1", n)
	}
	if _, page := get("/"); !strings.Contains(page, "respcache") || !strings.Contains(page, "data-pct") {
		t.Errorf("status page:\n%s", page)
	}

	// Reload: a new quota applies live; an invalid file is rejected whole.
	write("32MiB", "")
	cmd.Process.Signal(syscall.SIGHUP)
	redistest.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(c.DoString("INFO", "respcache"), "cache_max_memory:33554432")
	}, "quota reloaded: %s", logs.String())
	write("16MiB", "limits:\n  max_clientz: 1\n")
	cmd.Process.Signal(syscall.SIGHUP)
	redistest.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(logs.String(), "reload rejected") && strings.Contains(logs.String(), "max_clientz")
	}, "invalid reload rejected")
	if !strings.Contains(c.DoString("INFO", "respcache"), "cache_max_memory:33554432") {
		t.Error("the rejected reload changed the quota")
	}
	// The file watcher sees a change without a signal; the slow log with a
	// threshold of 1ns logs every command.
	write("32MiB", "log:\n  slow_threshold: 1ns\n")
	os.WriteFile(cfgPath, []byte(strings.Replace(mustRead(t, cfgPath), "log:\n  slow_threshold: 0s\n", "", 1)), 0o600)
	redistest.Eventually(t, 10*time.Second, func() bool {
		c.Do("GET", "k")
		return strings.Contains(logs.String(), "slow command")
	}, "slow log after a file-change reload")

	var out, errb strings.Builder
	adminAddr := strings.TrimPrefix(admin, "http://")
	if code := run([]string{"drain", "--config", cfgPath, "--admin", adminAddr}, &out, &errb); code != 0 {
		t.Errorf("respcache drain: exit %d %s", code, errb.String())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v\n%s", err, logs.String())
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
