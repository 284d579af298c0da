package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/respcache/respcache/internal/redistest"
)

// TestKill9DiskStore writes through respcache on its disk store with
// backend.disk.fsync always from several clients, SIGKILLs the process in
// the middle, restarts it on the same directory, and requires every
// acknowledged write to be there, three times over.
func TestKill9DiskStore(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "respcache.yaml")
	addr := freeAddr(t)
	os.WriteFile(cfg, []byte("listen: "+addr+"\nadmin_listen: \"\"\nbackend:\n  disk:\n    dir: "+filepath.Join(dir, "data")+
		"\n    fsync: always\n"), 0o600)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "--config", cfg)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		redistest.Eventually(t, 15*time.Second, func() bool {
			c, err := redistest.DialRaw(addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		}, "respcache up")
		return cmd
	}
	acked := map[string]string{}
	var mu sync.Mutex
	for round := 0; round < 3; round++ {
		cmd := start()
		// Everything acknowledged before is there.
		check := redistest.Dial(t, addr)
		mu.Lock()
		for k, v := range acked {
			if got := check.DoString("GET", k); got != fmt.Sprintf("$%d\r\n%s\r\n", len(v), v) {
				t.Fatalf("round %d: %s = %q after kill -9, want %q (acknowledged)", round, k, got, v)
			}
		}
		mu.Unlock()
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := redistest.DialRaw(addr, 5*time.Second)
				if err != nil {
					return
				}
				defer c.Close()
				for i := 0; ; i++ {
					k := fmt.Sprintf("r%d:w%d:%d", round, w, i)
					v := fmt.Sprintf("v%d", i)
					reply, err := c.Do("SET", k, v)
					if err != nil {
						return // killed
					}
					if string(reply) != "+OK\r\n" {
						t.Errorf("SET: %q", reply)
						return
					}
					mu.Lock()
					acked[k] = v
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(150+100*round) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		wg.Wait()
	}
	cmd := start()
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	c := redistest.Dial(t, addr)
	for k, v := range acked {
		if got := c.DoString("GET", k); got != fmt.Sprintf("$%d\r\n%s\r\n", len(v), v) {
			t.Fatalf("%s = %q after the last kill -9, want %q (acknowledged)", k, got, v)
		}
	}
	t.Logf("%d acknowledged writes over 3 kill -9 rounds, all present", len(acked))
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged: the test proved nothing")
	}
}
