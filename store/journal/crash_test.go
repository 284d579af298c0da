//go:build unix

package journal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const crashDirEnv = "JOURNALTEST_CRASH_DIR"

// crashEntry is what the crash child appends as its n-th entry of worker w:
// the key names both, so the parent can check content, not just seqs.
func crashEntry(w, n int) *Entry {
	return &Entry{
		Key:   fmt.Appendf(nil, "w%d:n%d", w, n),
		Kind:  KindSet,
		Type:  byte(w),
		Value: fmt.Appendf(nil, "value-%d-%d-%s", w, n, strings.Repeat("x", n%97)),
	}
}

// TestCrashChild is the child of TestCrash: it appends with fsync always
// from several goroutines and prints "ACK seq worker n" for every acknowledged
// Append, until it is killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("helper process for TestCrash")
	}
	j, err := Open(context.Background(), Options{Dir: dir, Fsync: FsyncAlways, SegmentSize: 64 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	if err := j.Replay(context.Background(), func(*Entry) error { return nil }); err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(2)
	}
	var mu sync.Mutex // guards out; one line per write, so a kill never splits a line
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for n := 0; ; n++ {
				seq, err := j.Append(context.Background(), crashEntry(w, n))
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(out, "ACK %d %d %d\n", seq, w, n)
				out.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestCrash SIGKILLs a child mid-stream, several times over the same
// journal, and checks that every seq the child saw acknowledged replays with
// the content it wrote.
func TestCrash(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("running as the child")
	}
	dir := t.TempDir()
	acked := map[uint64][2]int{}
	for round := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Never leave a child appending if the test fails early.
		t.Cleanup(func() { cmd.Process.Kill() })
		// Kill after a varying number of acknowledgements, so the kill lands
		// at different points of the write/fsync cycle.
		killAfter := 200 + round*377
		sc := bufio.NewScanner(stdout)
		lines := 0
		killed := false
		deadline := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
		for sc.Scan() {
			// Each line reaches the pipe in one write of less than PIPE_BUF
			// bytes, so the kill never splits one; other lines come from the
			// testing package.
			f := strings.Fields(sc.Text())
			if len(f) != 4 || f[0] != "ACK" {
				continue
			}
			seq, err1 := strconv.ParseUint(f[1], 10, 64)
			w, err2 := strconv.Atoi(f[2])
			n, err3 := strconv.Atoi(f[3])
			if err := errors.Join(err1, err2, err3); err != nil {
				t.Fatalf("bad line %q: %v", sc.Text(), err)
			}
			if prev, dup := acked[seq]; dup {
				t.Fatalf("round %d: seq %d acknowledged twice (%v and %d %d)", round, seq, prev, w, n)
			}
			acked[seq] = [2]int{w, n}
			if lines++; lines == killAfter && !killed {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
		deadline.Stop()
		err = cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child exited on its own after %d lines: %v\n%s", round, lines, err, stderr.String())
		}
		if ws, ok := err.(*exec.ExitError); !ok || ws.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child did not die of SIGKILL: %v\n%s", round, err, stderr.String())
		}
		t.Logf("round %d: %d acknowledged before the kill, %d after", round, killAfter, lines-killAfter)
	}

	opts, lb := testOptions(dir, FsyncAlways, 64<<10)
	j := mustOpen(t, opts)
	defer mustClose(t, j)
	seen := map[uint64]bool{}
	var prev uint64
	err := j.Replay(context.Background(), func(e *Entry) error {
		if e.Seq <= prev {
			return fmt.Errorf("seq %d after %d", e.Seq, prev)
		}
		prev = e.Seq
		seen[e.Seq] = true
		if a, ok := acked[e.Seq]; ok {
			want := crashEntry(a[0], a[1])
			if string(e.Key) != string(want.Key) || string(e.Value) != string(want.Value) || e.Type != want.Type {
				return fmt.Errorf("seq %d holds key %q, the child acknowledged %q", e.Seq, e.Key, want.Key)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	for seq := range acked {
		if !seen[seq] {
			t.Errorf("acknowledged seq %d lost", seq)
		}
	}
	t.Logf("%d acknowledged, %d replayed (the rest were written but not yet acknowledged); recovery log:\n%s", len(acked), len(seen), lb.String())
}
