package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/respcache/respcache/internal/redistest"
)

// buildBinary builds respcache once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "respcache")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "respcache ") {
		t.Fatalf("--version: %d %q %q", code, out.String(), errb.String())
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("listen: 127.0.0.1:7000\nbackend:\n  type: redis\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("listen: nope\nlimits:\n  max_clientz: 3\n"), 0o600)
	out.Reset()
	if code := run([]string{"--check-config", "--config", good}, &out, &errb); code != 0 || out.String() != "configuration is valid\n" {
		t.Fatalf("--check-config good: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	errb.Reset()
	if code := run([]string{"--check-config", "--config", bad}, &out, &errb); code != 1 {
		t.Fatalf("--check-config bad: exit %d", code)
	}
	// Every error, with file, line and path.
	for _, want := range []string{"bad.yaml:1: listen:", "bad.yaml:3: limits.max_clientz: unknown key"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("--check-config output lacks %q:\n%s", want, errb.String())
		}
	}
	// The default backend is the disk store: a data dir that cannot be
	// created is a clear startup error.
	errb.Reset()
	blocker := filepath.Join(dir, "file")
	os.WriteFile(blocker, nil, 0o600)
	badDisk := filepath.Join(dir, "disk.yaml")
	os.WriteFile(badDisk, []byte("listen: 127.0.0.1:0\nadmin_listen: \"\"\nbackend:\n  disk:\n    dir: "+filepath.Join(blocker, "data")+"\n"), 0o600)
	if code := run([]string{"--config", badDisk}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "backend.disk") {
		t.Fatalf("unusable data dir: exit %d, %q", code, errb.String())
	}
	if code := run([]string{"extra"}, &out, &errb); code != 2 {
		t.Fatalf("stray argument: exit %d", code)
	}
}

// SIGTERM stops accepting, lets an in-flight command finish, and exits 0.
func TestSIGTERMDrains(t *testing.T) {
	srv := redistest.Start(t)
	bin := buildBinary(t)
	addr := freeAddr(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--upstream", srv.Addr(), "--listen", addr)
	cmd.Env = append(os.Environ(), "RESPCACHE_ADMIN_LISTEN=127.0.0.1:0")
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	var c *redistest.RawConn
	redistest.Eventually(t, 10*time.Second, func() bool {
		var err error
		c, err = redistest.DialRaw(addr, time.Second)
		return err == nil
	}, "respcache listening on %s", addr)
	defer c.Close()
	// BLPOP with a 1s timeout is in flight when SIGTERM arrives.
	if err := c.Send("BLPOP", "q", "1"); err != nil {
		t.Fatal(err)
	}
	direct := redistest.Dial(t, srv.Addr())
	redistest.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(direct.DoString("CLIENT", "LIST"), "cmd=blpop")
	}, "BLPOP blocked on the server")
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	reply, err := c.ReadReply()
	if err != nil || (string(reply) != "*-1\r\n") {
		t.Fatalf("in-flight BLPOP: %q %v", reply, err)
	}
	redistest.Eventually(t, 5*time.Second, func() bool {
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
		}
		return err != nil
	}, "listener closed after SIGTERM")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("respcache did not exit\n%s", logs.String())
	}
	t.Logf("drained and exited %v after SIGTERM", time.Since(start))
	if !strings.Contains(logs.String(), "draining") || !strings.Contains(logs.String(), "stopped") {
		t.Errorf("logs lack the drain:\n%s", logs.String())
	}
}

// TestDefaultDiskBackend starts the binary with no flags and no config (the
// README's quick start) in an empty directory: the embedded disk store
// serves, data survives a restart.
func TestDefaultDiskBackend(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "RESPCACHE_LISTEN="+addr, "RESPCACHE_ADMIN_LISTEN=127.0.0.1:0")
		var logs bytes.Buffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		redistest.Eventually(t, 10*time.Second, func() bool {
			c, err := redistest.DialRaw(addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		}, "respcache on its default backend")
		return cmd
	}
	cmd := start()
	c := redistest.Dial(t, addr)
	if got := c.DoString("SET", "k", "persisted"); got != "+OK\r\n" {
		t.Fatalf("SET: %q", got)
	}
	c.Do("HSET", "h", "f", "v")
	if got := c.DoString("GET", "k"); got != "$9\r\npersisted\r\n" {
		t.Fatalf("GET: %q", got)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
		t.Fatalf("no ./data directory: %v", err)
	}
	start()
	c2 := redistest.Dial(t, addr)
	if got := c2.DoString("GET", "k"); got != "$9\r\npersisted\r\n" {
		t.Errorf("after restart GET: %q", got)
	}
	if got := c2.DoString("HGET", "h", "f"); got != "$1\r\nv\r\n" {
		t.Errorf("after restart HGET: %q", got)
	}
	if got := c2.DoString("INFO", "respcache"); !strings.Contains(got, "tracking_status:off") {
		t.Errorf("INFO respcache with the disk store: %q", got)
	}
}
