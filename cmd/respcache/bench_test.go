package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/respcache/respcache/cmd/respcache/internal/loadgen"
	"github.com/respcache/respcache/internal/redistest"
)

func TestBenchHelpListsEveryFlag(t *testing.T) {
	var out, errb bytes.Buffer
	if code := runBench([]string{"-h"}, &out, &errb); code != 0 {
		t.Fatalf("bench -h: exit %d", code)
	}
	for _, f := range []string{"addr", "password", "db", "resp", "clients", "pipeline", "requests", "duration", "warmup",
		"keys", "key-prefix", "dist", "zipf-s", "value-size", "read-ratio", "commands", "fill", "seed", "json", "timeout"} {
		if !strings.Contains(errb.String(), "\n  -"+f+" ") && !strings.Contains(errb.String(), "\n  -"+f+"\n") {
			t.Errorf("-h does not document --%s", f)
		}
	}
	if !strings.Contains(errb.String(), `(default "127.0.0.1:6380")`) || !strings.Contains(errb.String(), "(default 50)") {
		t.Errorf("-h does not show the defaults:\n%s", errb.String())
	}
}

func TestBenchRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--requests", "10", "--duration", "1s"},
		{"--requests", "0"},
		{"--duration", "0s"},
		{"--commands", "incr"},
		{"--commands", "get,hset"},
		{"--value-size", "10-5"},
		{"--resp", "4"},
		{"--clients", "0"},
		{"--pipeline", "-1"},
		{"--keys", "0"},
		{"--read-ratio", "1.1"},
		{"--zipf-s", "0"},
		{"--dist", "pareto"},
		{"--timeout", "0s"},
		{"--no-such-flag"},
		{"extra"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := runBench(args, &out, &errb); code != 2 {
				t.Fatalf("exit %d, want 2; stderr: %s", code, errb.String())
			}
			if errb.Len() == 0 {
				t.Fatal("no message on stderr")
			}
		})
	}
}

func TestBenchJSON(t *testing.T) {
	srv := redistest.Start(t)
	var out, errb bytes.Buffer
	code := runBench([]string{"--addr", srv.Addr(), "--requests", "2000", "--clients", "4", "--pipeline", "8",
		"--keys", "500", "--fill", "--value-size", "10-20", "--json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res loadgen.Result
	dec := json.NewDecoder(&out)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("output is not a Result: %v\n%s", err, out.String())
	}
	if res.Requests != 2000 || res.Errors != 0 || res.Workload.Clients != 4 || res.Workload.Pipeline != 8 ||
		res.Workload.Commands != "get,set" || res.Workload.ValueSize != "10-20" || res.Fill == nil || res.Fill.Keys != 500 {
		t.Fatalf("unexpected result: %+v", res)
	}
	if len(res.Commands) != 2 || res.Commands[0].Name != "GET" || res.Latency.P99 <= 0 || res.OpsPerSec <= 0 {
		t.Fatalf("unexpected commands or latency: %+v %+v", res.Commands, res.Latency)
	}
	if got := redistest.Dial(t, srv.Addr()).DoString("DBSIZE"); got != ":500\r\n" {
		t.Fatalf("DBSIZE %q after --fill", got)
	}
}

func TestBenchTextReportsNOAUTH(t *testing.T) {
	srv := redistest.Start(t, redistest.WithPassword("pw"))
	var out, errb bytes.Buffer
	if code := runBench([]string{"--addr", srv.Addr(), "--requests", "300", "--clients", "3"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"throughput: ", "300 errors", "300  NOAUTH Authentication required.", "GET", "SET", "all"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBenchCannotConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var out, errb bytes.Buffer
	if code := runBench([]string{"--addr", addr, "--requests", "10", "--timeout", "2s"}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(errb.String(), "dial "+addr) {
		t.Fatalf("stderr: %s", errb.String())
	}
}

// TestBenchInterruptPrintsPartialReport cancels the run the way SIGINT does
// and expects the partial report and exit code 130.
func TestBenchInterruptPrintsPartialReport(t *testing.T) {
	srv := redistest.Start(t)
	admin := redistest.Dial(t, srv.Addr())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- benchMain(ctx, []string{"--addr", srv.Addr(), "--duration", "1m", "--clients", "2", "--json"}, &out, &errb, false)
	}()
	redistest.Eventually(t, 10*time.Second, func() bool {
		for _, line := range strings.Split(string(admin.Do("INFO", "stats")), "\r\n") {
			if v, ok := strings.CutPrefix(line, "total_commands_processed:"); ok {
				n, _ := strconv.Atoi(v)
				return n > 500
			}
		}
		return false
	}, "load on the server")
	cancel()
	select {
	case code := <-done:
		if code != 130 {
			t.Fatalf("exit %d, want 130; stderr %s", code, errb.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("bench did not stop")
	}
	var res loadgen.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.Requests == 0 || res.Seconds <= 0 || res.Seconds > 50 {
		t.Fatalf("partial result %+v", res)
	}
}

// TestBenchAgainstRespcache drives a real respcache (this package's binary,
// in front of a redis-server) and expects the hit ratio line. The proxy is
// built by other work in progress, so this test skips, saying why, when
// the binary cannot serve or has no INFO respcache section yet; the
// hit-ratio arithmetic itself is covered by loadgen's TestRunHitRatio.
func TestBenchAgainstRespcache(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the respcache binary")
	}
	upstream := redistest.Start(t)
	bin := filepath.Join(t.TempDir(), "respcache")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--upstream", upstream.Addr(), "--listen", addr)
	cmd.Env = append(os.Environ(), "RESPCACHE_ADMIN_LISTEN=127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	up := false
	deadline := time.Now().Add(15 * time.Second)
	for !up && time.Now().Before(deadline) {
		select {
		case <-exited:
			t.Skipf("respcache exited at start (not servable in this tree yet):\n%s", logs.String())
		case <-time.After(redistest.PollInterval):
		}
		if c, err := redistest.DialRaw(addr, time.Second); err == nil {
			r, err := c.Do("PING")
			up = err == nil && string(r) == "+PONG\r\n"
			c.Close()
		}
	}
	if !up {
		t.Fatalf("respcache did not answer PING within 15s:\n%s", logs.String())
	}
	info := string(redistest.Dial(t, addr).Do("INFO", "respcache"))
	if !strings.Contains(info, "cache_hits:") || !strings.Contains(info, "cache_misses:") {
		t.Skipf("this respcache has no INFO respcache cache_hits/cache_misses yet: %q", info)
	}
	var out, errb bytes.Buffer
	code := runBench([]string{"--addr", addr, "--keys", "2000", "--fill", "--requests", "20000", "--clients", "4",
		"--pipeline", "4", "--read-ratio", "1", "--json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var res loadgen.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Requests != 20000 || res.Errors != 0 {
		t.Fatalf("%d requests, errors %v", res.Requests, res.ErrorTexts)
	}
	if res.Cache == nil || res.Cache.Hits+res.Cache.Misses == 0 || res.Cache.HitRatio <= 0 || res.Cache.HitRatio > 1 {
		t.Fatalf("no usable hit ratio from respcache: %+v", res.Cache)
	}
	t.Logf("respcache hit ratio %.4f (hits %d, misses %d)", res.Cache.HitRatio, res.Cache.Hits, res.Cache.Misses)
}
