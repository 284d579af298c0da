package disk

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStressInvariants runs a random mix of commands from many Conns (keys
// shared, db-wide commands included, to exercise lock ordering), then
// checks that the key counters agree with the keyspace in every db and
// that a reopened store agrees too.
func TestStressInvariants(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, Fsync: FsyncNo, BlockCache: 1 << 20, Memtable: 1 << 20, Databases: 4})
	if err != nil {
		t.Fatal(err)
	}
	ops := []func(r *rand.Rand, k, k2 string) []string{
		func(r *rand.Rand, k, _ string) []string { return []string{"SET", k, "v"} },
		func(r *rand.Rand, k, _ string) []string {
			return []string{"SET", k, "v", "PX", strconv.Itoa(1 + r.IntN(30))}
		},
		func(r *rand.Rand, k, _ string) []string { return []string{"GET", k} },
		func(r *rand.Rand, k, _ string) []string {
			return []string{"HSET", k, "f" + strconv.Itoa(r.IntN(40)), "v"}
		},
		func(r *rand.Rand, k, _ string) []string { return []string{"HDEL", k, "f" + strconv.Itoa(r.IntN(40))} },
		func(r *rand.Rand, k, k2 string) []string { return []string{"DEL", k, k2} },
		func(r *rand.Rand, k, k2 string) []string { return []string{"RENAME", k, k2} },
		func(r *rand.Rand, k, k2 string) []string {
			return []string{"COPY", k, k2, "DB", strconv.Itoa(r.IntN(4)), "REPLACE"}
		},
		func(r *rand.Rand, k, _ string) []string { return []string{"MOVE", k, strconv.Itoa(r.IntN(4))} },
		func(r *rand.Rand, k, _ string) []string { return []string{"EXPIRE", k, strconv.Itoa(r.IntN(3) - 1)} },
		func(r *rand.Rand, k, _ string) []string { return []string{"PERSIST", k} },
		func(r *rand.Rand, k, _ string) []string { return []string{"INCR", k} },
		func(r *rand.Rand, k, k2 string) []string { return []string{"MSET", k, "1", k2, "2"} },
		func(r *rand.Rand, _, _ string) []string { return []string{"SCAN", "0", "COUNT", "5"} },
		func(r *rand.Rand, _, _ string) []string { return []string{"DBSIZE"} },
		func(r *rand.Rand, _, _ string) []string { return []string{"RANDOMKEY"} },
		func(r *rand.Rand, _, _ string) []string { return []string{"SELECT", strconv.Itoa(r.IntN(4))} },
		func(r *rand.Rand, _, _ string) []string {
			return []string{"SWAPDB", strconv.Itoa(r.IntN(4)), strconv.Itoa(r.IntN(4))}
		},
		func(r *rand.Rand, _, _ string) []string {
			if r.IntN(20) == 0 {
				return []string{"FLUSHDB"}
			}
			return []string{"PING"}
		},
	}
	var wg sync.WaitGroup
	deadline := time.Now().Add(1500 * time.Millisecond)
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, seed))
			c := s.NewConn()
			defer c.Close()
			key := func() string { return "k" + strconv.Itoa(r.IntN(25)) }
			for time.Now().Before(deadline) {
				if r.IntN(8) == 0 {
					do(t, c, "WATCH", key())
					do(t, c, "MULTI")
					for i := r.IntN(5); i >= 0; i-- {
						if got := do(t, c, ops[r.IntN(len(ops))](r, key(), key())...); got != "+QUEUED\r\n" {
							t.Errorf("queueing: %q", got)
						}
					}
					if got := do(t, c, "EXEC"); got[0] != '*' {
						t.Errorf("EXEC: %q", got)
					}
					continue
				}
				if got := do(t, c, ops[r.IntN(len(ops))](r, key(), key())...); strings.Contains(got, "internal error") || strings.Contains(got, "disk store") {
					t.Errorf("%q", got)
				}
			}
		}(uint64(w))
	}
	wg.Wait()
	// Remove TTLs so that nothing expires between the two counts below.
	pc := s.NewConn()
	for db := 0; db < 4; db++ {
		pc.SetDB(db)
		for i := 0; i < 25; i++ {
			do(t, pc, "PERSIST", "k"+strconv.Itoa(i))
		}
	}
	check := func(s *Store) {
		t.Helper()
		c := s.NewConn()
		for db := 0; db < 4; db++ {
			c.SetDB(db)
			keys := do(t, c, "KEYS", "*")
			n, _ := strconv.Atoi(strings.TrimPrefix(strings.SplitN(keys, "\r\n", 2)[0], "*"))
			if got := s.DBSize(db); got != int64(n) {
				t.Fatalf("db %d: DBSize %d, KEYS * lists %d", db, got, n)
			}
			// Every hash's HLEN agrees with its fields.
			for _, line := range strings.Split(keys, "\r\n") {
				if !strings.HasPrefix(line, "k") {
					continue
				}
				if do(t, c, "TYPE", line) == "+hash\r\n" {
					hlen := do(t, c, "HLEN", line)
					all := do(t, c, "HGETALL", line)
					want := ":" + strings.TrimPrefix(strings.SplitN(all, "\r\n", 2)[0], "*")
					n, _ := strconv.Atoi(want[1:])
					if hlen != ":"+strconv.Itoa(n/2)+"\r\n" {
						t.Fatalf("db %d %s: HLEN %q, HGETALL %q", db, line, hlen, all)
					}
				}
			}
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Dir: dir, Fsync: FsyncNo, BlockCache: 1 << 20, Memtable: 1 << 20, Databases: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s)
}
