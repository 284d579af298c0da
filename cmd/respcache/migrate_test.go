package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/respcache/respcache/internal/redistest"
	"github.com/respcache/respcache/resp"
	"github.com/respcache/respcache/store/disk"
)

// bigN is the size of the big list and hash: far above readChunk and
// writeChunk, so that the chunked paths are taken many times.
const bigN = 100_000

// fixtureKey is one key the fixture writes into the source store.
type fixtureKey struct {
	db  int
	key string
	typ string
	ttl bool // has a TTL
}

// fillStore creates a disk store in dir holding every type the store has
// (binary and empty strings, hashes, lists, sets, zsets with infinite and
// fractional scores, TTLs, several dbs and, with big, a list and a hash of
// bigN elements), closes
// it and returns the keys it wrote. One more key in db 0 expires before the
// function returns and must not be copied.
func fillStore(t *testing.T, dir string, withOtherDBs, big bool) []fixtureKey {
	t.Helper()
	st, err := disk.Open(disk.Options{Dir: dir, Fsync: disk.FsyncNo})
	if err != nil {
		t.Fatal(err)
	}
	c := st.NewConn()
	ctx := context.Background()
	do := func(db int, args ...string) []byte {
		t.Helper()
		c.SetDB(db)
		bargs := make([][]byte, len(args))
		for i, a := range args {
			bargs[i] = []byte(a)
		}
		r := c.Do(ctx, bargs, nil)
		if msg, ok := resp.IsError(r); ok {
			t.Fatalf("fill %q: %s", args, msg)
		}
		return r
	}
	var keys []fixtureKey
	add := func(db int, key, typ string, ttl bool, cmds ...[]string) {
		for _, cmd := range cmds {
			do(db, cmd...)
		}
		keys = append(keys, fixtureKey{db, key, typ, ttl})
	}
	add(0, "str", "string", false, []string{"SET", "str", "hello"})
	add(0, "empty", "string", false, []string{"SET", "empty", ""})
	add(0, "bin", "string", false, []string{"SET", "bin", "\x00\xff\r\n\x01 binary\x00"})
	add(0, "k\x00\xff\r\nbin", "string", false, []string{"SET", "k\x00\xff\r\nbin", "v"})
	add(0, "int", "string", false, []string{"SET", "int", "12345"})
	add(0, "str:ttl", "string", true, []string{"SET", "str:ttl", "t", "PX", "3600000"})
	add(0, "hash", "hash", false, []string{"HSET", "hash", "f1", "v1", "f2", "", "\x00f", "\xffv"})
	add(0, "hash:ttl", "hash", true, []string{"HSET", "hash:ttl", "a", "1"}, []string{"EXPIRE", "hash:ttl", "7200"})
	add(0, "list", "list", false, []string{"RPUSH", "list", "a", "", "b", "\x00"}, []string{"LPUSH", "list", "head"})
	add(0, "set", "set", false, []string{"SADD", "set", "x", "y", "", "\x00z"})
	add(0, "intset", "set", false, []string{"SADD", "intset", "3", "1", "-2"})
	add(0, "zset", "zset", false, []string{"ZADD", "zset", "-inf", "ninf", "+inf", "pinf", "1.5", "a", "0.1", "b", "-3", "c", "1e-300", "d", "1.5", "a2", "0", ""})
	add(0, "zset:ttl", "zset", true, []string{"ZADD", "zset:ttl", "1", "m"}, []string{"PEXPIREAT", "zset:ttl", strconv.FormatInt(time.Now().Add(90*time.Minute).UnixMilli()+7, 10)})
	if big {
		bigList := []string{"RPUSH", "big:list"}
		bigHash := []string{"HSET", "big:hash"}
		for i := 0; i < bigN; i++ {
			bigList = append(bigList, "item-"+strconv.Itoa(i))
			bigHash = append(bigHash, "field-"+strconv.Itoa(i), strconv.Itoa(i*7))
		}
		add(0, "big:list", "list", false, bigList)
		add(0, "big:hash", "hash", true, bigHash, []string{"EXPIRE", "big:hash", "86400"})
	}
	// More keys than one SCAN page (scanCount) and many --batch batches.
	for i := 0; i < 1500; i++ {
		k := "many:" + strconv.Itoa(i)
		add(0, k, "string", i%3 == 0, []string{"SET", k, strings.Repeat("v", i)}, []string{"EXPIRE", k, strconv.Itoa(1000 + i)})
		if i%3 != 0 {
			do(0, "PERSIST", k)
		}
	}
	do(0, "SET", "gone", "x", "PX", "1")
	redistest.Eventually(t, 5*time.Second, func() bool { return string(do(0, "EXISTS", "gone")) == ":0\r\n" }, "key gone to expire")
	if withOtherDBs {
		add(1, "str", "string", false, []string{"SET", "str", "db1 value"})
		add(1, "db1:list", "list", true, []string{"RPUSH", "db1:list", "1", "2"}, []string{"EXPIRE", "db1:list", "500"})
		add(5, "db5:set", "set", false, []string{"SADD", "db5:set", "m"})
		add(15, "db15:zset", "zset", false, []string{"ZADD", "db15:zset", "2.5", "m"})
	}
	c.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// sourceView reopens the store in dir for comparisons.
type sourceView struct {
	t  *testing.T
	st *disk.Store
	c  *disk.Conn
}

func openSource(t *testing.T, dir string) *sourceView {
	t.Helper()
	st, err := disk.Open(disk.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &sourceView{t: t, st: st, c: st.NewConn()}
}

func (s *sourceView) do(db int, args ...string) []byte {
	s.c.SetDB(db)
	bargs := make([][]byte, len(args))
	for i, a := range args {
		bargs[i] = []byte(a)
	}
	return s.c.Do(context.Background(), bargs, nil)
}

// sortedElems returns the bulk strings of an array reply, grouped in tuples
// of n (fields with their values) and sorted, so that replies whose order
// is the server's hash-table order can be compared byte for byte.
func sortedElems(t *testing.T, r []byte, n int) []string {
	t.Helper()
	el, _, ok := resp.Elements(r, nil)
	if !ok {
		t.Fatalf("not an array: %q", r)
	}
	var out []string
	for i := 0; i+n <= len(el); i += n {
		var b strings.Builder
		for _, f := range el[i : i+n] {
			b.Write(f) // the whole frame: length and bytes
		}
		out = append(out, b.String())
	}
	sort.Strings(out)
	return out
}

// checkTarget compares every fixture key of the given dbs byte for byte
// between the source and the target, where conn(key) returns a raw client
// to the server holding key (in db 0; SELECT is sent for other dbs).
func checkTarget(t *testing.T, src *sourceView, keys []fixtureKey, dbs []int, conn func(key string) *redistest.Conn) {
	t.Helper()
	want := map[int]int{}
	for _, k := range keys {
		if !slices.Contains(dbs, k.db) {
			continue
		}
		want[k.db]++
		c := conn(k.key)
		if got := c.DoString("SELECT", strconv.Itoa(k.db)); got != "+OK\r\n" {
			t.Fatalf("SELECT %d: %q", k.db, got)
		}
		name := fmt.Sprintf("db %d key %q", k.db, k.key)
		if got := c.DoString("TYPE", k.key); got != "+"+k.typ+"\r\n" {
			t.Errorf("%s: TYPE %q on the target, want %s", name, got, k.typ)
			continue
		}
		var cmd []string
		tuple := 0 // 0: compare the reply bytes as they are
		switch k.typ {
		case "string":
			cmd = []string{"GET", k.key}
		case "list":
			cmd = []string{"LRANGE", k.key, "0", "-1"}
		case "zset":
			cmd = []string{"ZRANGE", k.key, "0", "-1", "WITHSCORES"}
		case "hash":
			cmd, tuple = []string{"HGETALL", k.key}, 2
		case "set":
			cmd, tuple = []string{"SMEMBERS", k.key}, 1
		}
		sr, tr := src.do(k.db, cmd...), c.Do(cmd...)
		if resp.IsNull(sr) || bytes.Equal(sr, []byte("*0\r\n")) {
			t.Fatalf("%s: %q on the source is empty: the fixture is wrong", name, cmd)
		}
		if tuple == 0 {
			if !bytes.Equal(sr, tr) {
				t.Errorf("%s: %s differs:\nsource %.200q\ntarget %.200q", name, cmd[0], sr, tr)
			}
		} else if s, g := sortedElems(t, sr, tuple), sortedElems(t, tr, tuple); !slices.Equal(s, g) {
			t.Errorf("%s: %s differs (order ignored): source %d elements, target %d", name, cmd[0], len(s), len(g))
		}
		st, tt := src.do(k.db, "PEXPIRETIME", k.key), c.Do("PEXPIRETIME", k.key)
		if !bytes.Equal(st, tt) {
			t.Errorf("%s: PEXPIRETIME %q on the target, %q on the source", name, tt, st)
		}
		if k.ttl == (string(st) == ":-1\r\n") {
			t.Errorf("%s: PEXPIRETIME %q on the source, fixture says ttl=%v", name, st, k.ttl)
		}
	}
	for db, n := range want {
		if got := src.do(db, "DBSIZE"); string(got) != ":"+strconv.Itoa(n)+"\r\n" {
			t.Errorf("db %d: source DBSIZE %q, fixture has %d keys", db, got, n)
		}
	}
	if len(want) == 0 {
		t.Fatal("no key checked: the test proved nothing")
	}
}

func migrate(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(append([]string{"migrate"}, args...), &o, &e)
	return code, o.String(), e.String()
}

func TestMigrateStandalone(t *testing.T) {
	dir := t.TempDir()
	keys := fillStore(t, dir, true, true)
	srv := redistest.Start(t)

	code, out, errOut := migrate(t, "--to", srv.Addr(), "--data", dir, "--verify", "--progress", "1ms", "--batch", "64")
	if code != 0 {
		t.Fatalf("migrate: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("stdout:\n%s", out)
	if !strings.Contains(errOut, "keys/s") {
		t.Errorf("no progress line on stderr: %q", errOut)
	}
	total := len(keys)
	for _, want := range []string{
		fmt.Sprintf("keys copied: %d ", total),
		"skipped: 0 expired during the copy",
		"errors: 0\n",
		fmt.Sprintf("verify: %d keys compared (all), 0 mismatches", total),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}

	src := openSource(t, dir)
	c := redistest.Dial(t, srv.Addr())
	checkTarget(t, src, keys, []int{0, 1, 5, 15}, func(string) *redistest.Conn { return c })
	c.Do("SELECT", "0")
	if got := c.DoString("EXISTS", "gone"); got != ":0\r\n" {
		t.Errorf("expired key copied: EXISTS gone = %q", got)
	}
	src.c.Close()
	src.st.Close()

	// Keys already on the target are reported and left alone...
	c.Do("SELECT", "0")
	c.Do("SET", "str", "changed on the target")
	c.Do("SELECT", "1")
	c.Do("DEL", "str")
	code, out, _ = migrate(t, "--to", srv.Addr(), "--data", dir, "--progress", "0")
	if code != 1 {
		t.Fatalf("second migrate without --replace: exit %d, want 1\n%s", code, out)
	}
	if !strings.Contains(out, fmt.Sprintf("errors: %d\n", total-1)) ||
		!strings.Contains(out, `": exists on the target (pass --replace to overwrite)`) {
		t.Errorf("existing keys not reported:\n%s", out)
	}
	if !strings.Contains(out, "keys copied: 1 ") {
		t.Errorf("the one missing key (db 1 str) was not copied:\n%s", out)
	}
	c.Do("SELECT", "0")
	if got := c.DoString("GET", "str"); got != "$21\r\nchanged on the target\r\n" {
		t.Errorf("existing key overwritten without --replace: %q", got)
	}
	c.Do("SELECT", "1")
	if got := c.DoString("GET", "str"); got != "$9\r\ndb1 value\r\n" {
		t.Errorf("db 1 str = %q after the second migrate", got)
	}

	// ... and overwritten with --replace, including a key of another type.
	c.Do("SELECT", "0")
	c.Do("DEL", "list")
	c.Do("SET", "list", "a string now")
	code, out, errOut = migrate(t, "--to", srv.Addr(), "--data", dir, "--replace", "--progress", "0")
	if code != 0 {
		t.Fatalf("migrate --replace: exit %d\n%s\n%s", code, out, errOut)
	}
	src = openSource(t, dir)
	checkTarget(t, src, keys, []int{0, 1, 5, 15}, func(string) *redistest.Conn { return c })
}

func TestMigrateCluster(t *testing.T) {
	dir := t.TempDir()
	keys := fillStore(t, dir, true, true)
	cl := redistest.StartCluster(t, 3, 0)
	dbsize := func() int {
		n := 0
		for _, a := range cl.MasterAddrs() {
			r := redistest.Dial(t, a).Do("DBSIZE")
			v, _ := resp.IntValue(r)
			n += int(v)
		}
		return n
	}

	code, out, errOut := migrate(t, "--to", cl.MasterAddrs()[1], "--data", dir, "--progress", "0")
	if code != 1 || !strings.Contains(errOut, "is a cluster node: pass --cluster") {
		t.Fatalf("cluster without --cluster: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, errOut = migrate(t, "--to", cl.MasterAddrs()[1], "--cluster", "--data", dir, "--progress", "0")
	if code != 1 || !strings.Contains(errOut, "a Redis Cluster has only db 0") ||
		!strings.Contains(errOut, "db 1: 2 keys, db 5: 1 keys, db 15: 1 keys") || !strings.Contains(errOut, "--db0-only") {
		t.Fatalf("keys outside db 0: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if n := dbsize(); n != 0 {
		t.Fatalf("%d keys written although migrate refused", n)
	}

	code, out, errOut = migrate(t, "--to", cl.MasterAddrs()[1], "--cluster", "--db0-only", "--data", dir, "--progress", "0", "--verify-sample", "100000")
	if code != 0 {
		t.Fatalf("migrate --cluster --db0-only: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Logf("stdout:\n%s", out)
	db0 := 0
	for _, k := range keys {
		if k.db == 0 {
			db0++
		}
	}
	for _, want := range []string{
		fmt.Sprintf("keys copied: %d ", db0),
		"4 in dbs other than 0 (--db0-only)",
		fmt.Sprintf("verify: %d keys sampled, 0 mismatches", db0),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if n := dbsize(); n != db0 {
		t.Errorf("cluster holds %d keys, want %d", n, db0)
	}
	src := openSource(t, dir)
	conns := map[string]*redistest.Conn{}
	checkTarget(t, src, keys, []int{0}, func(key string) *redistest.Conn {
		owner := cl.SlotOwner(cl.KeySlot(key))
		if conns[owner] == nil {
			conns[owner] = redistest.Dial(t, owner)
		}
		return conns[owner]
	})
}

func TestMigrateFailures(t *testing.T) {
	dir := t.TempDir()
	fillStore(t, dir, false, false)
	srv := redistest.Start(t)
	closedAddr := freeAddr(t) // nothing listens there any more

	t.Run("target unreachable", func(t *testing.T) {
		code, out, errOut := migrate(t, "--to", closedAddr, "--data", dir, "--timeout", "2s")
		if code != 1 || !strings.Contains(errOut, "target unreachable: "+closedAddr) || !strings.Contains(errOut, "connection refused") {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
		}
	})
	t.Run("store open in this process", func(t *testing.T) {
		st, err := disk.Open(disk.Options{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		code, _, errOut := migrate(t, "--to", srv.Addr(), "--data", dir)
		if code != 1 || !strings.Contains(errOut, "stop respcache first") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
	t.Run("no store", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "data")
		code, _, errOut := migrate(t, "--to", srv.Addr(), "--data", empty)
		if code != 1 || !strings.Contains(errOut, "no disk store at "+empty) {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		if _, err := os.Stat(empty); !os.IsNotExist(err) {
			t.Errorf("migrate created %s: %v", empty, err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		locked := redistest.Start(t, redistest.WithPassword("secret"))
		code, _, errOut := migrate(t, "--to", locked.Addr(), "--data", dir, "--password", "nope")
		if code != 1 || !strings.Contains(errOut, "target refused") || !strings.Contains(errOut, "WRONGPASS") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		code, out, errOut := migrate(t, "--to", locked.Addr(), "--data", dir, "--password", "secret", "--progress", "0")
		if code != 0 {
			t.Fatalf("right password: exit %d\n%s\n%s", code, out, errOut)
		}
	})
	t.Run("cluster flag mismatch", func(t *testing.T) {
		code, _, errOut := migrate(t, "--to", srv.Addr(), "--data", dir, "--cluster")
		if code != 1 || !strings.Contains(errOut, "drop --cluster") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no target", []string{"--data", dir}, "--to HOST:PORT is required"},
		{"bad batch", []string{"--to", srv.Addr(), "--batch", "0"}, "--batch must be >= 1"},
		{"db0-only without cluster", []string{"--to", srv.Addr(), "--db0-only"}, "--db0-only applies to --cluster only"},
		{"stray argument", []string{"--to", srv.Addr(), "extra"}, `unexpected argument "extra"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := migrate(t, tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q, want 2 and %q", code, errOut, tc.want)
			}
		})
	}
	if got := redistest.Dial(t, srv.Addr()).DoString("DBSIZE"); got != ":0\r\n" {
		t.Errorf("target DBSIZE %q after failed runs, want empty", got)
	}
}

// TestMigrateWhileRespcacheRuns starts the real respcache on the disk store
// and requires migrate to refuse with the advice to stop it: the lock is
// then held by another process (fcntl), not by pebble's in-process registry.
func TestMigrateWhileRespcacheRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	fillStore(t, data, false, false)
	cfg := filepath.Join(dir, "respcache.yaml")
	addr := freeAddr(t)
	if err := os.WriteFile(cfg, []byte("listen: "+addr+"\nadmin_listen: \"\"\nbackend:\n  disk:\n    dir: "+data+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfg)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	redistest.Eventually(t, 15*time.Second, func() bool {
		c, err := redistest.DialRaw(addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "respcache up")
	srv := redistest.Start(t)
	code, _, errOut := migrate(t, "--to", srv.Addr(), "--config", cfg)
	if code != 1 || !strings.Contains(errOut, "stop respcache first") || !strings.Contains(errOut, data) {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestMigrateDryRun(t *testing.T) {
	dir := t.TempDir()
	keys := fillStore(t, dir, true, false)
	srv := redistest.Start(t)
	code, out, errOut := migrate(t, "--to", srv.Addr(), "--data", dir, "--dry-run", "--progress", "0")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, fmt.Sprintf("keys to copy: %d ", len(keys))) || !strings.Contains(out, "dry run: nothing written") {
		t.Errorf("dry-run summary:\n%s", out)
	}
	// the per-db table: db 15 holds one zset
	if !regexp.MustCompile(`\n +15 +0 +0 +0 +0 +1 +1 *\n`).MatchString(out) {
		t.Errorf("dry-run table lacks db 15's row:\n%s", out)
	}
	c := redistest.Dial(t, srv.Addr())
	for _, db := range []string{"0", "1", "5", "15"} {
		c.Do("SELECT", db)
		if got := c.DoString("DBSIZE"); got != ":0\r\n" {
			t.Errorf("dry run wrote to db %s: DBSIZE %q", db, got)
		}
	}
}

// TestMigrateVerifyFindsMismatches proves that verify can fail: after a
// correct copy, the target is changed in every way verify checks.
func TestMigrateVerifyFindsMismatches(t *testing.T) {
	dir := t.TempDir()
	fillStore(t, dir, false, false)
	srv := redistest.Start(t)
	if code, out, errOut := migrate(t, "--to", srv.Addr(), "--data", dir, "--progress", "0"); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	c := redistest.Dial(t, srv.Addr())
	c.Do("SET", "str", "other")                     // value
	c.Do("RPUSH", "list", "extra")                  // list length
	c.Do("HSET", "hash", "f1", "v2")                // hash value
	c.Do("SREM", "set", "x")                        // set member
	c.Do("ZADD", "zset", "1.5000000000000002", "a") // score off by one ulp
	c.Do("PERSIST", "str:ttl")                      // TTL lost
	c.Do("EXPIRE", "int", "100")                    // TTL gained
	c.Do("PEXPIRE", "hash:ttl", "1000000")          // TTL moved
	c.Do("DEL", "empty")
	c.Do("SADD", "empty", "now a set") // type
	c.Do("DEL", "bin")                 // missing

	ctx := context.Background()
	m, err := newMigrator(ctx, migrateOptions{to: srv.Addr(), dataDir: dir, verifyAll: true, timeout: 5 * time.Second}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	m.dbKeys[0], _ = m.src.dbsize(ctx, 0)
	if err := m.verify(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"str": string value differs`,
		`"list": list value differs`,
		`"hash": hash value differs`,
		`"set": set value differs`,
		`"zset": zset value differs`,
		`"str:ttl": no TTL on the target`,
		`"int": TTL`,
		`"hash:ttl": expires at`,
		`"empty": type set on the target, string on the source`,
		`"bin": type none on the target`,
	} {
		found := false
		for _, mm := range m.mismatches {
			found = found || strings.Contains(mm, want)
		}
		if !found {
			t.Errorf("no mismatch %q in %q", want, m.mismatches)
		}
	}
	if m.mismatchCount != 10 {
		t.Errorf("%d mismatches, want 10: %q", m.mismatchCount, m.mismatches)
	}
}

// TestMigrateSkipsKeysExpiringBeforeTheWrite covers the window between
// reading a key and writing it: a deadline that has passed by then means
// the key is skipped, not written with a deadline in the past.
func TestMigrateSkipsKeysExpiringBeforeTheWrite(t *testing.T) {
	dir := t.TempDir()
	fillStore(t, dir, false, false)
	srv := redistest.Start(t)
	ctx := context.Background()
	m, err := newMigrator(ctx, migrateOptions{to: srv.Addr(), dataDir: dir, batch: 10, timeout: 5 * time.Second}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	past := time.Now().UnixMilli() - 1
	batch := []*keyValue{
		{db: 0, key: []byte("late"), typ: "string", deadline: past, elems: [][]byte{[]byte("v")}},
		{db: 0, key: []byte("fine"), typ: "list", deadline: time.Now().Add(time.Hour).UnixMilli(), elems: [][]byte{[]byte("a"), []byte("b")}},
	}
	if err := m.write(ctx, 0, batch); err != nil {
		t.Fatal(err)
	}
	c := redistest.Dial(t, srv.Addr())
	if got := c.DoString("EXISTS", "late"); got != ":0\r\n" || m.expired != 1 {
		t.Errorf("late: EXISTS %q, expired count %d; want skipped", got, m.expired)
	}
	if got := c.DoString("LRANGE", "fine", "0", "-1"); got != "*2\r\n$1\r\na\r\n$1\r\nb\r\n" || m.copied.Load() != 1 {
		t.Errorf("fine: %q, copied %d", got, m.copied.Load())
	}
	if got := c.DoString("PEXPIRETIME", "fine"); got != ":"+strconv.FormatInt(batch[1].deadline, 10)+"\r\n" {
		t.Errorf("fine: PEXPIRETIME %q, want %d", got, batch[1].deadline)
	}
}

// BenchmarkMigrate answers "how long does migrating my store take": it
// copies a store of migrateBenchKeys small keys (90% strings of 100 bytes,
// 10% hashes of 10 fields, a third of them with a TTL) into a redis-server
// (standalone) or a 3-master cluster and reports keys/s. Run with
//
//	go test -run '^$' -bench Migrate -benchtime 1x ./cmd/respcache/
func BenchmarkMigrate(b *testing.B) {
	const migrateBenchKeys = 100_000
	dir := b.TempDir()
	st, err := disk.Open(disk.Options{Dir: dir, Fsync: disk.FsyncNo})
	if err != nil {
		b.Fatal(err)
	}
	c := st.NewConn()
	val := []byte(strings.Repeat("v", 100))
	for i := 0; i < migrateBenchKeys; i++ {
		k := []byte("key:" + strconv.Itoa(i))
		var args [][]byte
		if i%10 == 0 {
			args = [][]byte{[]byte("HSET"), k}
			for f := 0; f < 10; f++ {
				args = append(args, []byte("f"+strconv.Itoa(f)), val[:10])
			}
		} else {
			args = [][]byte{[]byte("SET"), k, val}
		}
		if r := c.Do(context.Background(), args, nil); r[0] == '-' {
			b.Fatalf("%s", r)
		}
		if i%3 == 0 {
			c.Do(context.Background(), [][]byte{[]byte("EXPIRE"), k, []byte("3600")}, nil)
		}
	}
	st.Close()
	for _, tc := range []struct {
		name  string
		start func() (addr string, flush func())
		extra []string
	}{
		{"standalone", func() (string, func()) {
			s := redistest.Start(b)
			return s.Addr(), func() { redistest.Dial(b, s.Addr()).Do("FLUSHALL") }
		}, nil},
		{"cluster", func() (string, func()) {
			cl := redistest.StartCluster(b, 3, 0)
			return cl.MasterAddrs()[0], func() {
				for _, a := range cl.MasterAddrs() {
					redistest.Dial(b, a).Do("FLUSHALL")
				}
			}
		}, []string{"--cluster"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			addr, flush := tc.start()
			var total time.Duration
			for i := 0; i < b.N; i++ {
				flush()
				var o, e bytes.Buffer
				start := time.Now()
				args := append([]string{"migrate", "--to", addr, "--data", dir, "--progress", "0", "--verify-sample", "0"}, tc.extra...)
				if code := run(args, &o, &e); code != 0 {
					b.Fatalf("exit %d\n%s\n%s", code, o.String(), e.String())
				}
				total += time.Since(start)
			}
			b.ReportMetric(float64(migrateBenchKeys*b.N)/total.Seconds(), "keys/s")
		})
	}
}

// cancelAfterPipelines is a go-redis hook that cancels a context once n
// pipelines have been sent, to interrupt a migration at a known point.
type cancelAfterPipelines struct {
	n      atomic.Int64
	cancel context.CancelFunc
}

func (h *cancelAfterPipelines) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *cancelAfterPipelines) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return next
}
func (h *cancelAfterPipelines) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		if h.n.Add(-1) == 0 {
			h.cancel()
		}
		return err
	}
}

// TestMigrateInterrupted cancels the context (what SIGINT does) after the
// first batch: the migration stops, says it is incomplete, and what it
// wrote is whole keys.
func TestMigrateInterrupted(t *testing.T) {
	dir := t.TempDir()
	keys := fillStore(t, dir, false, false)
	srv := redistest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m, err := newMigrator(ctx, migrateOptions{to: srv.Addr(), dataDir: dir, batch: 10, replace: true, timeout: 5 * time.Second}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.close()
	h := &cancelAfterPipelines{cancel: cancel}
	h.n.Store(1) // with --replace, one pipeline per batch
	m.clients[0].AddHook(h)
	err = m.run(ctx)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("run after cancel: %v", err)
	}
	m.interrupted = true
	var out bytes.Buffer
	m.summary(&out)
	if !strings.Contains(out.String(), "interrupted: the copy is incomplete") || strings.Contains(out.String(), "verify:") {
		t.Errorf("summary:\n%s", out.String())
	}
	got := redistest.Dial(t, srv.Addr()).DoString("DBSIZE")
	if n, _ := strconv.Atoi(strings.Trim(got, ":\r\n")); n < 1 || n >= len(keys) {
		t.Errorf("target DBSIZE %q after an interrupt after the first batch; source has %d keys", got, len(keys))
	}
	if c := m.copied.Load(); c < 1 || c > 10 {
		t.Errorf("%d keys counted as copied, want the first batch (<= 10)", c)
	}
}
