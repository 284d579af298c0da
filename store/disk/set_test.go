package disk

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/respcache/respcache/internal/redistest"
)

// collRandomKeys is the keyspace of TestCollectionsRandomDiff: two keys of
// each collection type plus a string, so WRONGTYPE and multi-key commands
// come up often.
var collRandomKeys = []string{"l1", "l2", "s1", "s2", "z1", "z2", "str"}

var collRandomMembers = []string{"a", "b", "c", "d", "e", "1", "2", "10", "-3", "", "a b"}

// collRandomCommand returns a random list, set or sorted-set command and
// whether its reply must be compared as a multiset. Commands whose effect is
// random (SPOP, SRANDMEMBER) are left out: the two sides would diverge.
func collRandomCommand(r *rand.Rand) ([]string, bool) {
	op := r.IntN(50)
	// Mostly keys of the command's own type, so that most commands do
	// something; sometimes any key, for WRONGTYPE.
	typed := []string{"l1", "l2"}
	switch {
	case op >= 26:
		typed = []string{"z1", "z2"}
	case op >= 15:
		typed = []string{"s1", "s2"}
	}
	key := func() string {
		if r.IntN(20) == 0 {
			return collRandomKeys[r.IntN(len(collRandomKeys))]
		}
		return typed[r.IntN(len(typed))]
	}
	mem := func() string { return collRandomMembers[r.IntN(len(collRandomMembers))] }
	idx := func() string {
		if r.IntN(20) == 0 {
			return []string{"x", "9223372036854775807", "-9223372036854775808", "1.5"}[r.IntN(4)]
		}
		return strconv.Itoa(r.IntN(15) - 7)
	}
	score := func() string {
		if r.IntN(10) == 0 {
			return []string{"inf", "-inf", "nan", "abc", "0.1", "-0", "1e308"}[r.IntN(7)]
		}
		return strconv.Itoa(r.IntN(9) - 4)
	}
	bound := func() string {
		switch r.IntN(6) {
		case 0:
			return "-inf"
		case 1:
			return "+inf"
		case 2:
			return "(" + strconv.Itoa(r.IntN(9)-4)
		}
		return strconv.Itoa(r.IntN(9) - 4)
	}
	lex := func() string {
		switch r.IntN(5) {
		case 0:
			return "-"
		case 1:
			return "+"
		case 2:
			return "(" + mem()
		}
		return "[" + mem()
	}
	mems := func(n int) []string {
		out := make([]string, 1+r.IntN(n))
		for i := range out {
			out[i] = mem()
		}
		return out
	}
	side := func() string { return []string{"LEFT", "RIGHT"}[r.IntN(2)] }
	cat := func(a []string, b ...string) []string { return append(a, b...) }
	switch op {
	case 0, 1:
		return cat([]string{"LPUSH", key()}, mems(4)...), false
	case 2, 3:
		return cat([]string{"RPUSH", key()}, mems(4)...), false
	case 4:
		return cat([]string{"LPUSHX", key()}, mems(2)...), false
	case 5:
		if r.IntN(2) == 0 {
			return []string{"LPOP", key()}, false
		}
		return []string{"RPOP", key(), idx()}, false
	case 6:
		return []string{"LRANGE", key(), idx(), idx()}, false
	case 7:
		return []string{"LINDEX", key(), idx()}, false
	case 8:
		return []string{"LSET", key(), idx(), mem()}, false
	case 9:
		return []string{"LINSERT", key(), []string{"BEFORE", "AFTER"}[r.IntN(2)], mem(), mem()}, false
	case 10:
		return []string{"LREM", key(), idx(), mem()}, false
	case 11:
		return []string{"LTRIM", key(), idx(), idx()}, false
	case 12:
		cmd := []string{"LPOS", key(), mem()}
		if r.IntN(2) == 0 {
			cmd = append(cmd, "RANK", idx())
		}
		if r.IntN(2) == 0 {
			cmd = append(cmd, "COUNT", strconv.Itoa(r.IntN(4)))
		}
		if r.IntN(3) == 0 {
			cmd = append(cmd, "MAXLEN", strconv.Itoa(r.IntN(6)))
		}
		return cmd, false
	case 13:
		if r.IntN(2) == 0 {
			return []string{"LMPOP", "2", key(), key(), side(), "COUNT", strconv.Itoa(1 + r.IntN(3))}, false
		}
		return []string{"LMOVE", key(), key(), side(), side()}, false
	case 14:
		return []string{"LLEN", key()}, false
	case 15, 16:
		return cat([]string{"SADD", key()}, mems(4)...), false
	case 17:
		return cat([]string{"SREM", key()}, mems(3)...), false
	case 18:
		return []string{"SMEMBERS", key()}, true
	case 19:
		return cat([]string{"SMISMEMBER", key()}, mems(3)...), false
	case 20:
		return []string{[]string{"SINTER", "SUNION", "SDIFF"}[r.IntN(3)], key(), key(), key()}, true
	case 21:
		return []string{[]string{"SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"}[r.IntN(3)], key(), key(), key()}, false
	case 22:
		return []string{"SINTERCARD", "2", key(), key(), "LIMIT", strconv.Itoa(r.IntN(3))}, false
	case 23:
		return []string{"SMOVE", key(), key(), mem()}, false
	case 24:
		return []string{"SCARD", key()}, false
	case 25:
		return []string{"SISMEMBER", key(), mem()}, false
	case 26, 27:
		cmd := []string{"ZADD", key()}
		for _, f := range []string{"NX", "XX", "GT", "LT", "CH"} {
			if r.IntN(6) == 0 {
				cmd = append(cmd, f)
			}
		}
		if r.IntN(6) == 0 {
			return append(cmd, "INCR", score(), mem()), false
		}
		for n := 1 + r.IntN(3); n > 0; n-- {
			cmd = append(cmd, score(), mem())
		}
		return cmd, false
	case 28:
		return cat([]string{"ZREM", key()}, mems(2)...), false
	case 29:
		return []string{"ZINCRBY", key(), score(), mem()}, false
	case 30:
		return cat([]string{"ZMSCORE", key()}, mems(3)...), false
	case 31:
		return []string{"ZSCORE", key(), mem()}, false
	case 32:
		return []string{"ZCOUNT", key(), bound(), bound()}, false
	case 33:
		return []string{"ZLEXCOUNT", key(), lex(), lex()}, false
	case 34:
		cmd := []string{"ZRANGE", key()}
		switch r.IntN(3) {
		case 0:
			cmd = append(cmd, idx(), idx())
		case 1:
			cmd = append(cmd, bound(), bound(), "BYSCORE")
		default:
			cmd = append(cmd, lex(), lex(), "BYLEX")
		}
		if r.IntN(2) == 0 {
			cmd = append(cmd, "REV")
		}
		if r.IntN(3) == 0 {
			cmd = append(cmd, "LIMIT", idx(), idx())
		}
		if r.IntN(2) == 0 {
			cmd = append(cmd, "WITHSCORES")
		}
		return cmd, false
	case 35:
		return []string{[]string{"ZRANGEBYSCORE", "ZREVRANGEBYSCORE"}[r.IntN(2)], key(), bound(), bound(), "WITHSCORES", "LIMIT", idx(), idx()}, false
	case 36:
		return []string{[]string{"ZRANGEBYLEX", "ZREVRANGEBYLEX"}[r.IntN(2)], key(), lex(), lex()}, false
	case 37:
		return []string{[]string{"ZRANK", "ZREVRANK"}[r.IntN(2)], key(), mem()}, false
	case 38:
		if r.IntN(3) == 0 {
			return []string{"ZMPOP", "2", key(), key(), []string{"MIN", "MAX"}[r.IntN(2)], "COUNT", strconv.Itoa(1 + r.IntN(3))}, false
		}
		if r.IntN(2) == 0 {
			return []string{[]string{"ZPOPMIN", "ZPOPMAX"}[r.IntN(2)], key()}, false
		}
		return []string{[]string{"ZPOPMIN", "ZPOPMAX"}[r.IntN(2)], key(), strconv.Itoa(r.IntN(4))}, false
	case 39:
		cmd := []string{"ZRANGESTORE", key(), key(), idx(), idx()}
		if r.IntN(2) == 0 {
			cmd = []string{"ZRANGESTORE", key(), key(), bound(), bound(), "BYSCORE"}
		}
		return cmd, false
	case 40:
		return []string{"ZREMRANGEBYRANK", key(), idx(), idx()}, false
	case 41:
		return []string{"ZREMRANGEBYSCORE", key(), bound(), bound()}, false
	case 42:
		return []string{"ZREMRANGEBYLEX", key(), lex(), lex()}, false
	case 43:
		return []string{"ZSCAN", key(), "0"}, false
	case 44:
		if r.IntN(2) == 0 {
			return []string{"ZREVRANGE", key(), idx(), idx(), "WITHSCORES"}, false
		}
		cmd := []string{[]string{"ZUNION", "ZINTER", "ZDIFF"}[r.IntN(3)], "2", key(), key()}
		if r.IntN(2) == 0 && cmd[0] != "ZDIFF" {
			cmd = append(cmd, "WEIGHTS", score(), score())
		}
		if r.IntN(2) == 0 && cmd[0] != "ZDIFF" {
			cmd = append(cmd, "AGGREGATE", []string{"SUM", "MIN", "MAX"}[r.IntN(3)])
		}
		if r.IntN(2) == 0 {
			cmd = append(cmd, "WITHSCORES")
		}
		if r.IntN(3) == 0 {
			cmd[0] += "STORE"
			cmd = append([]string{cmd[0], key()}, cmd[1:]...)
			if cmd[len(cmd)-1] == "WITHSCORES" {
				cmd = cmd[:len(cmd)-1]
			}
		}
		return cmd, false
	default:
		// DEL of a random key also repairs a key that a 1-in-20 pick gave
		// the wrong type.
		return []string{[]string{"EXISTS", "TYPE", "DEL"}[r.IntN(3)], collRandomKeys[r.IntN(len(collRandomKeys)-1)]}, false
	}
}

// TestCollectionsRandomDiff sends the same random command stream to
// redis-server and to the engine and compares every reply, then checks the
// engine's records for internal consistency.
func TestCollectionsRandomDiff(t *testing.T) {
	n := 6000
	if testing.Short() {
		n = 1000
	}
	srv := redistest.Start(t)
	for _, proto := range []int{2, 3} {
		t.Run("resp"+strconv.Itoa(proto), func(t *testing.T) {
			rc := redistest.Dial(t, srv.Addr())
			if proto == 3 {
				rc.Do("HELLO", "3")
			}
			rc.Do("FLUSHALL")
			rc.Do("SET", "str", "v")
			s := newTestStore(t)
			c := s.NewConn()
			c.SetProto(proto)
			do(t, c, "SET", "str", "v")
			r := rand.New(rand.NewPCG(uint64(proto), 42))
			var buf []byte
			stats := map[byte]int{}
			for i := 0; i < n; i++ {
				cmd, asSet := collRandomCommand(r)
				want := rc.Do(cmd...)
				args := make([][]byte, len(cmd))
				for j, a := range cmd {
					args[j] = []byte(a)
				}
				buf = c.Do(context.Background(), args, buf[:0])
				stats[buf[0]]++
				if bytes.HasPrefix(buf, []byte("-WRONGTYPE")) {
					stats['W']++
				}
				if asSet {
					if collCanonical(t, want) != collCanonical(t, buf) {
						t.Fatalf("step %d: %q: replies differ as sets\n  redis:  %q\n  engine: %q", i, cmd, want, buf)
					}
				} else if !bytes.Equal(want, buf) {
					t.Fatalf("step %d: %q: replies differ\n  redis:  %q\n  engine: %q", i, cmd, want, buf)
				}
				if i%250 == 0 {
					checkCollInvariants(t, s, collRandomKeys)
				}
			}
			checkCollInvariants(t, s, collRandomKeys)
			t.Logf("reply types: %v", stats)
		})
	}
}

// checkCollInvariants verifies, for each key, that the meta count matches
// the element records, that a list's items fill [head, tail), and that a
// zset's score index has exactly one entry per member with its score.
func checkCollInvariants(t *testing.T, s *Store, keys []string) {
	t.Helper()
	tx := s.newTx(s.dbmap[0], false, 2)
	defer s.releaseTx(tx)
	tx.now = 0
	for _, k := range keys {
		m, ok, err := tx.lookup([]byte(k))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if !ok || m.gen == 0 {
			continue
		}
		it, err := tx.elemIter(m.gen)
		if err != nil {
			t.Fatal(err)
		}
		elems := map[string][]byte{}
		var order [][]byte
		for valid := it.First(); valid; valid = it.Next() {
			_, mem, _ := decodeElemKey(it.Key())
			elems[string(mem)] = bytes.Clone(it.Value())
			order = append(order, bytes.Clone(mem))
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
		if int64(len(elems)) != m.count || m.count == 0 {
			t.Fatalf("%s: meta count %d, %d element records", k, m.count, len(elems))
		}
		switch m.typ {
		case typeList:
			head, tail, ok := decodeListPayload(m.payload)
			if !ok || tail-head != m.count {
				t.Fatalf("%s: list payload head %d tail %d count %d", k, head, tail, m.count)
			}
			for i, mem := range order {
				if got, _ := decodeListIndex(mem); got != head+int64(i) {
					t.Fatalf("%s: item %d at index %d, want %d", k, i, got, head+int64(i))
				}
			}
		case typeZSet:
			lo, hi := scoreBounds(m.gen)
			it, err := tx.iter(lo, hi)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			mlo, mhi := zmarks(&m)
			for valid := it.First(); valid; valid = it.Next() {
				_, score, mem, _ := decodeScoreKey(it.Key())
				if u := sortableFloat(score); u < mlo || u >= mhi {
					t.Fatalf("%s: index entry %q score %v outside the watermarks [%x, %x)", k, mem, score, mlo, mhi)
				}
				v, ok := elems[string(mem)]
				f, _ := decodeScore(v)
				if !ok || f != score {
					t.Fatalf("%s: index entry %q score %v, element %v (present %v)", k, mem, score, f, ok)
				}
				n++
			}
			if err := it.Close(); err != nil {
				t.Fatal(err)
			}
			if int64(n) != m.count {
				t.Fatalf("%s: %d index entries, count %d", k, n, m.count)
			}
		}
	}
}

// TestSetRandomMembers checks SRANDMEMBER and SPOP on a set big enough to
// be sampled by seeks: distinct members when asked, all of them existing,
// and SPOP removing exactly what it returns.
func TestSetRandomMembers(t *testing.T) {
	s := newTestStore(t)
	c := s.NewConn()
	const n = 3 * setRandomScanMax
	args := []string{"SADD", "s"}
	for i := 0; i < n; i++ {
		args = append(args, fmt.Sprintf("m%05d", i))
	}
	if got := do(t, c, args...); got != ":"+strconv.Itoa(n)+"\r\n" {
		t.Fatalf("SADD: %q", got)
	}
	reply := func(args ...string) []string {
		t.Helper()
		b := []byte(do(t, c, args...))
		node, err := collParseRESP(collReader(b))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range node.elems {
			_, v, _ := bytes.Cut([]byte(e.head), []byte("\r\n"))
			out = append(out, string(bytes.TrimSuffix(v, []byte("\r\n"))))
		}
		return out
	}
	got := reply("SRANDMEMBER", "s", "100")
	seen := map[string]bool{}
	for _, m := range got {
		if seen[m] {
			t.Fatalf("SRANDMEMBER s 100 repeated %q", m)
		}
		seen[m] = true
		if do(t, c, "SISMEMBER", "s", m) != ":1\r\n" {
			t.Fatalf("SRANDMEMBER returned non-member %q", m)
		}
	}
	if len(got) != 100 {
		t.Fatalf("SRANDMEMBER s 100: %d members", len(got))
	}
	if got := reply("SRANDMEMBER", "s", "-500"); len(got) != 500 {
		t.Fatalf("SRANDMEMBER s -500: %d members", len(got))
	}
	if got := do(t, c, "SRANDMEMBER", "s", "-9223372036854775807"); got != "-"+string(errSrandTooMany)+"\r\n" {
		t.Fatalf("SRANDMEMBER with a huge negative count: %q", got)
	}
	popped := reply("SPOP", "s", "50")
	if len(popped) != 50 {
		t.Fatalf("SPOP s 50: %d members", len(popped))
	}
	for _, m := range popped {
		if do(t, c, "SISMEMBER", "s", m) != ":0\r\n" {
			t.Fatalf("SPOP left %q in the set", m)
		}
	}
	if got := do(t, c, "SCARD", "s"); got != ":"+strconv.Itoa(n-50)+"\r\n" {
		t.Fatalf("SCARD after SPOP: %q", got)
	}
	checkCollInvariants(t, s, []string{"s"})
}

func collReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

// BenchmarkSetAddIsMember answers "how many SADD+SISMEMBER pairs per
// second" on a set growing from 10k members (Fsync "no").
func BenchmarkSetAddIsMember(b *testing.B) {
	s := newTestStore(b)
	c := s.NewConn()
	key := []byte("s")
	var buf []byte
	for i := 0; i < 10_000; i += 100 {
		args := [][]byte{[]byte("SADD"), key}
		for j := i; j < i+100; j++ {
			args = append(args, []byte("m"+strconv.Itoa(j)))
		}
		buf = collBenchDo(b, c, buf, args...)
	}
	sadd, sism := []byte("SADD"), []byte("SISMEMBER")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := []byte("n" + strconv.Itoa(i))
		buf = collBenchDo(b, c, buf, sadd, key, m)
		buf = collBenchDo(b, c, buf, sism, key, m)
	}
	collReportOps(b)
}

// collFuzzCommands are the commands FuzzCollCommands draws from.
var collFuzzCommands = []string{
	"LPUSH", "RPUSH", "LPUSHX", "RPUSHX", "LPOP", "RPOP", "LLEN", "LINDEX", "LSET", "LINSERT",
	"LREM", "LTRIM", "LRANGE", "LPOS", "LMOVE", "RPOPLPUSH",
	"SADD", "SREM", "SMEMBERS", "SISMEMBER", "SMISMEMBER", "SCARD", "SPOP", "SRANDMEMBER",
	"SINTER", "SUNION", "SDIFF", "SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE", "SINTERCARD", "SMOVE", "SSCAN",
	"ZADD", "ZINCRBY", "ZREM", "ZSCORE", "ZMSCORE", "ZCARD", "ZCOUNT", "ZLEXCOUNT", "ZRANGE",
	"ZRANGESTORE", "ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZRANGEBYLEX", "ZREVRANGEBYLEX", "ZREVRANGE",
	"ZRANK", "ZREVRANK", "ZPOPMIN", "ZPOPMAX", "ZREMRANGEBYSCORE", "ZREMRANGEBYRANK", "ZREMRANGEBYLEX", "ZSCAN",
	"ZUNION", "ZINTER", "ZDIFF", "ZINTERCARD", "ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE",
	"LMPOP", "ZMPOP", "ZRANDMEMBER",
}

// FuzzCollCommands feeds arbitrary arguments to the list, set and sorted-set
// commands: no command may fail internally (a panic or an I/O-level error
// reply), and the records must stay consistent. Input: the first byte picks
// the command, the rest is split at 0xff into arguments; keys are folded
// onto a few names so that commands meet each other's keys.
func FuzzCollCommands(f *testing.F) {
	for _, seed := range [][]string{
		{"LPUSH", "k", "a", "b"}, {"LRANGE", "k", "0", "-1"}, {"LINSERT", "k", "BEFORE", "a", "x"},
		{"LREM", "k", "-2", "a"}, {"SADD", "k", "a", "b", "c"}, {"SINTERSTORE", "k", "k2", "k3"},
		{"ZADD", "k", "NX", "1", "a"}, {"ZRANGE", "k", "(1", "+inf", "BYSCORE", "REV", "LIMIT", "0", "2"},
		{"ZRANGEBYLEX", "k", "[a", "(c"}, {"ZPOPMIN", "k", "3"}, {"ZREMRANGEBYLEX", "k", "-", "+"},
		{"LMPOP", "9223372036854775807", "k", "LEFT"}, {"ZMPOP", "2", "k", "k2", "MIN", "COUNT", "2"},
		{"ZUNIONSTORE", "k", "2", "k2", "k3", "WEIGHTS", "inf", "0"}, {"SINTERCARD", "9223372036854775807", "k"},
		{"ZRANDMEMBER", "k", "-5", "WITHSCORES"}, {"SRANDMEMBER", "k", "-9223372036854775807"},
	} {
		b := []byte{byte(slices.Index(collFuzzCommands, seed[0]))}
		for i, a := range seed[1:] {
			if i > 0 {
				b = append(b, 0xff)
			}
			b = append(b, a...)
		}
		f.Add(b)
	}
	s := newTestStore(f)
	keys := []string{"k", "k2", "k3"}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		name := collFuzzCommands[int(in[0])%len(collFuzzCommands)]
		args := append([][]byte{[]byte(name)}, bytes.Split(in[1:], []byte{0xff})...)
		// Arguments in key positions name one of a few keys.
		for i := 1; i < len(args) && i <= 3; i++ {
			if len(args[i]) > 0 && args[i][0] == 'k' {
				args[i] = []byte(keys[int(args[i][len(args[i])-1])%len(keys)])
			}
		}
		c := s.NewConn()
		defer c.Close()
		reply := c.Do(context.Background(), args, nil)
		if bytes.HasPrefix(reply, []byte("-ERR internal")) || bytes.HasPrefix(reply, []byte("-ERR disk store")) {
			t.Fatalf("%q: %q", args, reply)
		}
		if _, err := collParseRESP(collReader(reply)); err != nil {
			t.Fatalf("%q: malformed reply %q: %v", args, reply, err)
		}
		checkCollInvariants(t, s, keys)
	})
}
