package disk

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/respcache/respcache/internal/redistest"
)

func TestOptionsValidate(t *testing.T) {
	var o Options
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if o.Dir != "./data" || o.Fsync != FsyncEverysec || o.BlockCache != 64<<20 || o.Memtable != 64<<20 || o.Databases != 16 {
		t.Fatalf("defaults: %+v", o)
	}
	bad := Options{Dir: "", Fsync: "sometimes", BlockCache: -1, Memtable: 1, Databases: 300}
	err := bad.Validate()
	if !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("Validate: %v", err)
	}
	for _, field := range []string{"dir", "fsync", "block_cache", "memtable", "databases"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("Validate does not report %s: %v", field, err)
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	open := func() *Store {
		s, err := Open(Options{Dir: dir, Fsync: FsyncNo, BlockCache: 1 << 20, Memtable: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	c := s.NewConn()
	expect(t, c, [][2]string{
		{"SET a 1", "+OK\r\n"},
		{"HSET h f v g w", ":2\r\n"},
		{"SET e v EX 1000", "+OK\r\n"},
		{"SELECT 3", "+OK\r\n"},
		{"SET in3 x", "+OK\r\n"},
		{"SWAPDB 3 4", "+OK\r\n"},
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := do(t, c, "GET", "a"); !strings.HasPrefix(got, "-ERR") {
		t.Fatalf("Do after Close: %q", got)
	}
	s = open()
	defer s.Close()
	c = s.NewConn()
	expect(t, c, [][2]string{
		{"GET a", "$1\r\n1\r\n"},
		{"HGET h g", "$1\r\nw\r\n"},
		{"DBSIZE", ":3\r\n"},
		{"SELECT 4", "+OK\r\n"},
		{"GET in3", "$1\r\nx\r\n"},
	})
	if n := s.DBSize(0); n != 3 {
		t.Fatalf("DBSize(0) = %d after reopen", n)
	}
	// A new collection must not see elements of an old generation.
	expect(t, c, [][2]string{{"SELECT 0", "+OK\r\n"}, {"DEL h", ":1\r\n"}, {"HSET h2 x y", ":1\r\n"}, {"HLEN h2", ":1\r\n"}})
}

func TestExpiredKeysInvisible(t *testing.T) {
	s := newTestStore(t)
	c := s.NewConn()
	expect(t, c, [][2]string{
		{"SET live v", "+OK\r\n"},
		{"SET dead v PX 1", "+OK\r\n"},
		{"HSET hdead f v", ":1\r\n"},
		{"PEXPIRE hdead 1", ":1\r\n"},
	})
	time.Sleep(5 * time.Millisecond) // let the 1ms TTLs pass: this waits for time itself, not for a condition
	expect(t, c, [][2]string{
		{"EXISTS dead hdead", ":0\r\n"},
		{"DBSIZE", ":1\r\n"},
		{"KEYS *", "*1\r\n$4\r\nlive\r\n"},
		{"SCAN 0 COUNT 100", "*2\r\n$1\r\n0\r\n*1\r\n$4\r\nlive\r\n"},
		{"RANDOMKEY", "$4\r\nlive\r\n"},
		{"TTL dead", ":-2\r\n"},
		{"HGET hdead f", "$-1\r\n"},
		{"HSET hdead g w", ":1\r\n"},
		{"HLEN hdead", ":1\r\n"},
		{"TTL hdead", ":-1\r\n"},
	})
	if n := s.DBSize(0); n != 2 {
		t.Fatalf("DBSize = %d, want 2", n)
	}
}

func TestActiveExpiry(t *testing.T) {
	s := newTestStore(t)
	c := s.NewConn()
	for i := 0; i < 300; i++ {
		do(t, c, "SET", "k"+strconv.Itoa(i), "v", "PX", "20")
	}
	do(t, c, "HSET", "h", "f", "v")
	do(t, c, "PEXPIRE", "h", "20")
	redistest.Eventually(t, 5*time.Second, func() bool {
		return s.stats[0].keys.Load() == 0 && s.expiredKeys.Load() == 301
	}, "active expiry did not remove the 301 keys: %d left", s.stats[0].keys.Load())
	if s.stats[0].expires.Load() != 0 {
		t.Fatalf("expires counter = %d", s.stats[0].expires.Load())
	}
	// Nothing of the TTL index is left.
	n, err := s.countDue(s.db, 0, time.Now().Add(time.Hour).UnixMilli())
	if err != nil || n != 0 {
		t.Fatalf("TTL index entries left: %d %v", n, err)
	}
}

func TestConcurrentIncr(t *testing.T) {
	s := newTestStore(t)
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := s.NewConn()
			defer c.Close()
			for j := 0; j < each; j++ {
				do(t, c, "INCR", "n")
				do(t, c, "HINCRBY", "h", "f", "1")
			}
		}()
	}
	wg.Wait()
	c := s.NewConn()
	expect(t, c, [][2]string{
		{"GET n", fmt.Sprintf("$4\r\n%d\r\n", workers*each)},
		{"HGET h f", fmt.Sprintf("$4\r\n%d\r\n", workers*each)},
	})
}

// TestMultiAtomic checks that other Conns never see half of an EXEC: a
// transaction moves one unit between two keys, readers check the sum.
func TestMultiAtomic(t *testing.T) {
	s := newTestStore(t)
	c := s.NewConn()
	expect(t, c, [][2]string{{"MSET a 1000 b 0", "+OK\r\n"}})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.NewConn()
			for ctx.Err() == nil {
				got := do(t, r, "MGET", "a", "b")
				parts := strings.Split(got, "\r\n")
				a, _ := strconv.Atoi(parts[2])
				b, _ := strconv.Atoi(parts[4])
				if a+b != 1000 {
					errc <- fmt.Errorf("saw a=%d b=%d", a, b)
					return
				}
			}
		}()
	}
	for i := 0; i < 300; i++ {
		do(t, c, "MULTI")
		do(t, c, "DECR", "a")
		do(t, c, "INCR", "b")
		if got := do(t, c, "EXEC"); !strings.HasPrefix(got, "*2\r\n") {
			t.Fatalf("EXEC: %q", got)
		}
	}
	cancel()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	expect(t, c, [][2]string{{"GET b", "$3\r\n300\r\n"}})
}

// TestWatchOptimisticLocking runs the classic WATCH/GET/MULTI/SET/EXEC
// increment from many Conns; retries on a null EXEC must add up exactly.
func TestWatchOptimisticLocking(t *testing.T) {
	s := newTestStore(t)
	const workers, each = 6, 50
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := s.NewConn()
			for j := 0; j < each; j++ {
				for {
					do(t, c, "WATCH", "ctr")
					v := 0
					if r := do(t, c, "GET", "ctr"); r != "$-1\r\n" {
						v, _ = strconv.Atoi(strings.Split(r, "\r\n")[1])
					}
					do(t, c, "MULTI")
					do(t, c, "SET", "ctr", strconv.Itoa(v+1))
					if r := do(t, c, "EXEC"); r != "*-1\r\n" {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	expect(t, s.NewConn(), [][2]string{{"GET ctr", "$3\r\n300\r\n"}})
}

func TestWatchExpiry(t *testing.T) {
	s := newTestStore(t)
	c := s.NewConn()
	expect(t, c, [][2]string{
		{"SET k v PX 30", "+OK\r\n"},
		{"WATCH k", "+OK\r\n"},
	})
	redistest.Eventually(t, 5*time.Second, func() bool { return do(t, s.NewConn(), "EXISTS", "k") == ":0\r\n" }, "k did not expire")
	expect(t, c, [][2]string{
		{"MULTI", "+OK\r\n"},
		{"PING", "+QUEUED\r\n"},
		{"EXEC", "*-1\r\n"},
	})
}

func TestScanReturnsEveryKey(t *testing.T) {
	s := newTestStore(t)
	c := s.NewConn()
	want := map[string]bool{}
	for i := 0; i < 500; i++ {
		k := "key:" + strconv.Itoa(i)
		want[k] = true
		do(t, c, "SET", k, "v")
	}
	got := map[string]bool{}
	cursor := "0"
	for calls := 0; ; calls++ {
		if calls > 1000 {
			t.Fatal("SCAN does not terminate")
		}
		r := do(t, c, "SCAN", cursor, "COUNT", "7")
		lines := strings.Split(r, "\r\n")
		cursor = lines[2]
		for i := 5; i < len(lines)-1; i += 2 {
			got[lines[i]] = true
		}
		if cursor == "0" {
			break
		}
	}
	if len(got) != len(want) {
		t.Fatalf("SCAN returned %d distinct keys, want %d", len(got), len(want))
	}
}

func TestDoNeverPanics(t *testing.T) {
	s := newTestStore(t)
	c := s.NewConn()
	names := CommandNames()
	args := [][]byte{nil, []byte("-1"), []byte("0"), []byte("k"), []byte("9223372036854775807"), []byte("ex"), []byte("withvalues"), []byte("*")}
	for _, n := range names {
		name, sub, _ := strings.Cut(n, "|")
		if name == "flushall" || name == "swapdb" {
			continue
		}
		for l := 0; l < 5; l++ {
			cmd := [][]byte{[]byte(name)}
			if sub != "" {
				cmd = append(cmd, []byte(sub))
			}
			for i := 0; i < l; i++ {
				cmd = append(cmd, args[(i*3+l)%len(args)])
			}
			out := c.Do(context.Background(), cmd, nil)
			if n, ok := frameLen(out, 0); !ok || n != len(out) {
				t.Fatalf("%q: reply is not one frame: %q", cmd, out)
			}
			if strings.Contains(string(out), "internal error") {
				t.Fatalf("%q: %q", cmd, out)
			}
		}
	}
	c.Close()
}

func FuzzDo(f *testing.F) {
	f.Add("SET\x00k\x00v\x00EX\x0010")
	f.Add("HSET\x00h\x00f\x00v")
	f.Add("MULTI")
	f.Add("EXEC")
	f.Add("GETRANGE\x00k\x00-9223372036854775808\x009223372036854775807")
	f.Add("SCAN\x000\x00MATCH\x00[\x00COUNT\x001")
	f.Add("COPY\x00k\x00k2\x00DB\x001")
	s, err := Open(Options{Dir: f.TempDir(), Fsync: FsyncNo, BlockCache: 1 << 20, Memtable: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	c := s.NewConn()
	f.Fuzz(func(t *testing.T, in string) {
		parts := strings.Split(in, "\x00")
		if len(parts) > 16 {
			parts = parts[:16]
		}
		args := make([][]byte, len(parts))
		for i, p := range parts {
			args[i] = []byte(p)
		}
		if n := strings.ToLower(parts[0]); n == "setrange" || n == "flushall" {
			return // huge allocations / wipes the corpus state; covered elsewhere
		}
		out := c.Do(context.Background(), args, nil)
		if n, ok := frameLen(out, 0); !ok || n != len(out) {
			t.Fatalf("%q: reply is not exactly one frame: %q", parts, out)
		}
		if strings.Contains(string(out), "internal error") {
			t.Fatalf("%q: %q", parts, out)
		}
	})
}

// crashChildEnv makes the test binary act as the crash-test writer.
const crashChildEnv = "DISKCORE_CRASH_CHILD_DIR"

// TestCrashChild is the child of TestCrashDurability: it writes keys with
// Fsync always and prints each one after its SET was acknowledged.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashChildEnv)
	if dir == "" {
		t.Skip("helper process for TestCrashDurability")
	}
	s, err := Open(Options{Dir: dir, Fsync: FsyncAlways, BlockCache: 1 << 20, Memtable: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := s.NewConn()
			for i := 0; ; i++ {
				k := fmt.Sprintf("w%d:%d", w, i)
				if r := do(t, c, "SET", k, k); r != "+OK\r\n" {
					fmt.Println("ERR", r)
					return
				}
				if i%3 == 0 {
					do(t, c, "HSET", "h"+k, "f", k)
				}
				mu.Lock()
				fmt.Println("ACK", k)
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
}

// TestCrashDurability SIGKILLs a writer mid-stream and checks that every
// write it had acknowledged (with Fsync always) survives.
func TestCrashDurability(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in child")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.v")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if k, ok := strings.CutPrefix(line, "ACK "); ok {
			acked = append(acked, k)
			if len(acked) == 400 {
				_ = cmd.Process.Signal(syscall.SIGKILL)
			}
		}
	}
	_ = cmd.Wait()
	if len(acked) < 400 {
		t.Fatalf("child acknowledged only %d writes", len(acked))
	}
	s, err := Open(Options{Dir: dir, Fsync: FsyncNo, BlockCache: 1 << 20, Memtable: 1 << 20})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer s.Close()
	c := s.NewConn()
	missing := 0
	for _, k := range acked {
		if got := do(t, c, "GET", k); got != "$"+strconv.Itoa(len(k))+"\r\n"+k+"\r\n" {
			missing++
			if missing < 5 {
				t.Errorf("acknowledged %s lost: %q", k, got)
			}
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged writes lost", missing, len(acked))
	}
	t.Logf("%d acknowledged writes all present after SIGKILL (%d keys in db)", len(acked), s.DBSize(0))
}

func TestCommandInfoMatchesRedis(t *testing.T) {
	redis := redistest.Start(t)
	s := newTestStore(t)
	for _, proto := range []int{2, 3} {
		rc := redistest.Dial(t, redis.Addr())
		c := s.NewConn()
		if proto == 3 {
			rc.Do("HELLO", "3")
			c.SetProto(3)
		}
		names := supportedCommands()
		sort.Strings(names)
		for _, n := range names {
			for _, sub := range []string{"INFO", "DOCS"} {
				want := rc.Do("COMMAND", sub, n)
				got := do(t, c, "COMMAND", sub, n)
				if strings.Contains(got, n+"|") {
					// Subcommands come in redis-server's dict order, which
					// differs from one process to the next.
					got, want = redistest.Shape([]byte(got)), []byte(redistest.Shape(want))
				}
				if got != string(want) {
					t.Fatalf("RESP%d COMMAND %s %s:\n got %q\nwant %q", proto, sub, n, got, want)
				}
			}
		}
		cnt := do(t, c, "COMMAND", "COUNT")
		if cnt != ":"+strconv.Itoa(len(names))+"\r\n" {
			t.Fatalf("COMMAND COUNT = %q, want %d", cnt, len(names))
		}
		rc.Close()
	}
}
