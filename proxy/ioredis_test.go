package proxy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIoredisClient runs a small ioredis application (testdata/ioredis)
// through respcache. ioredis is installed from npm into the user cache
// directory on first use. It is skipped only when node and npm are absent.
func TestIoredisClient(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed; ioredis client test skipped")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		t.Skip("npm is not installed; ioredis client test skipped")
	}
	if testing.Short() {
		t.Skip("installs ioredis from npm; skipped with -short")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = t.TempDir()
	}
	dir := filepath.Join(cache, "respcache-test", "ioredis5")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "ioredis")); err != nil {
		os.MkdirAll(dir, 0o755)
		cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--prefix", dir, "ioredis@5")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm install ioredis: %v\n%s", err, out)
		}
	}
	app, _ := filepath.Abs("testdata/ioredis/app.js")
	srv := up(t)
	p := startStandalone(t, srv.Addr())
	_, port, _ := strings.Cut(p.Addr, ":")
	cmd := exec.Command("node", app, port)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	done := make(chan struct{})
	var out []byte
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("ioredis app did not finish in 60s")
	}
	if err != nil || !strings.Contains(string(out), "ioredis app: ok") {
		t.Fatalf("ioredis app failed: %v\n%s", err, out)
	}
}
