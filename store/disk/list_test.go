package disk

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/respcache/respcache/internal/redistest"
)

// The differential tests of lists, sets and sorted sets run the scripts
// testdata/{list,set,zset}_*.txt against a real redis-server and against a
// Conn of the engine, in RESP2 and RESP3, and compare the replies.
//
// Script syntax (one command a line, arguments quoted as redis-cli does):
//
//	# comment
//	resp: 2|3|both        optional first line (default both)
//	LPUSH l a b           compare the replies byte for byte
//	% SMEMBERS s          compare as multisets: the elements of every
//	                      aggregate are sorted before comparing (replies whose
//	                      order Redis leaves to its encoding or hash seed)
//	~ SRANDMEMBER s -3    compare only redistest.Shape (random replies)
//
// Each script starts on an empty keyspace on both sides.

// collScriptStep is one command of a collection script.
type collScriptStep struct {
	line int
	text string
	args []string
	mode byte // 0 exact, '%' multiset, '~' shape
}

type collScript struct {
	path  string
	resp  []int
	steps []collScriptStep
}

func parseCollScript(path string) (*collScript, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s := &collScript{path: path, resp: []int{2, 3}}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		raw := strings.TrimSpace(sc.Text())
		if raw == "" || raw[0] == '#' {
			continue
		}
		if v, ok := strings.CutPrefix(raw, "resp:"); ok {
			switch strings.TrimSpace(v) {
			case "2":
				s.resp = []int{2}
			case "3":
				s.resp = []int{3}
			case "both":
			default:
				return nil, fmt.Errorf("%s:%d: bad resp header %q", path, line, v)
			}
			continue
		}
		st := collScriptStep{line: line, text: raw}
		rest := raw
		if raw[0] == '%' || raw[0] == '~' {
			st.mode, rest = raw[0], strings.TrimSpace(raw[1:])
		}
		args, err := redistest.SplitArgs(rest)
		if err != nil || len(args) == 0 {
			return nil, fmt.Errorf("%s:%d: bad command %q: %v", path, line, rest, err)
		}
		st.args = args
		s.steps = append(s.steps, st)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(s.steps) == 0 {
		return nil, fmt.Errorf("%s: no commands", path)
	}
	return s, nil
}

// collRESPNode is a parsed RESP frame, for multiset comparison.
type collRESPNode struct {
	head  string // the type byte and header line, or the whole scalar frame
	elems []*collRESPNode
	attr  *collRESPNode
}

// collParseRESP parses one frame from r.
func collParseRESP(r *bufio.Reader) (*collRESPNode, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 {
		return nil, fmt.Errorf("short line %q", line)
	}
	body := string(line[1 : len(line)-2])
	switch line[0] {
	case '$', '!', '=':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return &collRESPNode{head: string(line)}, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		return &collRESPNode{head: string(line) + string(b)}, nil
	case '*', '~', '%', '>', '|':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, err
		}
		node := &collRESPNode{head: string(line)}
		if n < 0 {
			return node, nil
		}
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		for i := 0; i < n; i++ {
			e, err := collParseRESP(r)
			if err != nil {
				return nil, err
			}
			node.elems = append(node.elems, e)
		}
		if line[0] == '|' {
			v, err := collParseRESP(r)
			if err != nil {
				return nil, err
			}
			v.attr = node
			return v, nil
		}
		return node, nil
	}
	return &collRESPNode{head: string(line)}, nil
}

// canonical renders a frame with the elements of every aggregate sorted.
func (n *collRESPNode) canonical() string {
	if n.elems == nil {
		return n.head
	}
	parts := make([]string, len(n.elems))
	for i, e := range n.elems {
		parts[i] = e.canonical()
	}
	slices.Sort(parts)
	return n.head + "[" + strings.Join(parts, ",") + "]"
}

func collCanonical(t testing.TB, b []byte) string {
	t.Helper()
	n, err := collParseRESP(bufio.NewReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("parsing reply %q: %v", b, err)
	}
	return n.canonical()
}

// collScriptFiles returns the collection scripts under testdata.
func collScriptFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, p := range []string{"list_*.txt", "set_*.txt", "zset_*.txt"} {
		m, err := filepath.Glob(filepath.Join("testdata", p))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Fatal("no collection scripts in testdata")
	}
	slices.Sort(files)
	return files
}

// TestCollectionsDiff runs every collection script against redis-server
// 7.0.15 and the engine, in RESP2 and RESP3.
func TestCollectionsDiff(t *testing.T) {
	srv := redistest.Start(t)
	for _, f := range collScriptFiles(t) {
		s, err := parseCollScript(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, proto := range s.resp {
			t.Run(strings.TrimSuffix(filepath.Base(f), ".txt")+"/resp"+strconv.Itoa(proto), func(t *testing.T) {
				runCollScript(t, s, proto, srv.Addr())
			})
		}
	}
}

func runCollScript(t *testing.T, s *collScript, proto int, addr string) {
	rc := redistest.Dial(t, addr)
	if proto == 3 {
		rc.Do("HELLO", "3") // carries the client id: not compared
	}
	if r := rc.DoString("FLUSHALL"); r != "+OK\r\n" {
		t.Fatalf("FLUSHALL: %q", r)
	}
	store := newTestStore(t)
	c := store.NewConn()
	defer c.Close()
	c.SetProto(proto)
	var buf []byte
	for _, st := range s.steps {
		want := rc.Do(st.args...)
		args := make([][]byte, len(st.args))
		for i, a := range st.args {
			args[i] = []byte(a)
		}
		buf = c.Do(context.Background(), args, buf[:0])
		got := buf
		where := fmt.Sprintf("%s:%d: %s", s.path, st.line, st.text)
		switch st.mode {
		case '%':
			if cw, cg := collCanonical(t, want), collCanonical(t, got); cw != cg {
				t.Fatalf("%s: replies differ as sets\n  redis:  %q\n  engine: %q", where, want, got)
			}
		case '~':
			if sw, sg := redistest.Shape(want), redistest.Shape(got); sw != sg {
				t.Fatalf("%s: reply shapes differ\n  redis:  %s %q\n  engine: %s %q", where, sw, want, sg, got)
			}
		default:
			if !bytes.Equal(want, got) {
				t.Fatalf("%s: replies differ\n  redis:  %q\n  engine: %q", where, want, got)
			}
		}
	}
}

// collBenchDo runs one command on c, failing the benchmark on an error reply.
func collBenchDo(b *testing.B, c *Conn, buf []byte, args ...[]byte) []byte {
	buf = c.Do(context.Background(), args, buf[:0])
	if len(buf) > 0 && buf[0] == '-' {
		b.Fatalf("%q: %q", args, buf)
	}
	return buf
}

func collReportOps(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "ops/s")
	}
}

// BenchmarkListPushPop answers "how many LPUSH+LPOP pairs per second" on a
// list of 1000 items (Fsync "no"); one op is one LPUSH and one LPOP.
func BenchmarkListPushPop(b *testing.B) {
	s := newTestStore(b)
	c := s.NewConn()
	key := []byte("l")
	var buf []byte
	for i := 0; i < 1000; i++ {
		buf = collBenchDo(b, c, buf, []byte("RPUSH"), key, []byte(strconv.Itoa(i)))
	}
	push, pop, val := []byte("LPUSH"), []byte("LPOP"), []byte("value-0123456789")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = collBenchDo(b, c, buf, push, key, val)
		buf = collBenchDo(b, c, buf, pop, key)
	}
	collReportOps(b)
}

// BenchmarkLargeCollections shows that one-element operations on a key of
// 1M elements cost what they cost on a small key: nothing loads the
// collection whole. The keys are built once, outside the timings.
func BenchmarkLargeCollections(b *testing.B) {
	const n = 1_000_000
	s := newTestStore(b)
	c := s.NewConn()
	var buf []byte
	const chunk = 1000
	for base := 0; base < n; base += chunk {
		largs := [][]byte{[]byte("RPUSH"), []byte("biglist")}
		sargs := [][]byte{[]byte("SADD"), []byte("bigset")}
		zargs := [][]byte{[]byte("ZADD"), []byte("bigzset")}
		for i := base; i < base+chunk; i++ {
			m := []byte("member:" + strconv.Itoa(i))
			largs = append(largs, m)
			sargs = append(sargs, m)
			zargs = append(zargs, []byte(strconv.Itoa(i)), m)
		}
		buf = collBenchDo(b, c, buf, largs...)
		buf = collBenchDo(b, c, buf, sargs...)
		buf = collBenchDo(b, c, buf, zargs...)
	}
	r := rand.New(rand.NewPCG(1, 2))
	b.Run("LINDEX", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			buf = collBenchDo(b, c, buf, []byte("LINDEX"), []byte("biglist"), []byte(strconv.Itoa(r.IntN(n))))
		}
		collReportOps(b)
	})
	b.Run("LPOP+RPUSH", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			buf = collBenchDo(b, c, buf, []byte("LPOP"), []byte("biglist"))
			buf = collBenchDo(b, c, buf, []byte("RPUSH"), []byte("biglist"), []byte("x"))
		}
		collReportOps(b)
	})
	b.Run("SISMEMBER", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			buf = collBenchDo(b, c, buf, []byte("SISMEMBER"), []byte("bigset"), []byte("member:"+strconv.Itoa(r.IntN(n))))
		}
		collReportOps(b)
	})
	b.Run("SPOP+SADD", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			buf = collBenchDo(b, c, buf, []byte("SPOP"), []byte("bigset"))
			buf = collBenchDo(b, c, buf, []byte("SADD"), []byte("bigset"), []byte("new:"+strconv.Itoa(i)))
		}
		collReportOps(b)
	})
	b.Run("ZSCORE", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			buf = collBenchDo(b, c, buf, []byte("ZSCORE"), []byte("bigzset"), []byte("member:"+strconv.Itoa(r.IntN(n))))
		}
		collReportOps(b)
	})
	b.Run("ZRANGEBYSCORE-10", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			lo := r.IntN(n - 10)
			buf = collBenchDo(b, c, buf, []byte("ZRANGEBYSCORE"), []byte("bigzset"), []byte(strconv.Itoa(lo)), []byte(strconv.Itoa(lo+9)))
		}
		collReportOps(b)
	})
	b.Run("ZPOPMIN+ZADD", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			buf = collBenchDo(b, c, buf, []byte("ZPOPMIN"), []byte("bigzset"))
			buf = collBenchDo(b, c, buf, []byte("ZADD"), []byte("bigzset"), []byte(strconv.Itoa(n+i)), []byte("new:"+strconv.Itoa(i)))
		}
		collReportOps(b)
	})
}

// BenchmarkListQueueEmpty is a queue that empties on every pop (RPUSH one
// item, LPOP it): each pop deletes the key and each push creates it again.
// It measures the framework's delete/recreate path of a meta record: run it
// with -benchtime 1000x and 10000x; while the pebble memtable holds every
// version of the key, ops/s falls as the run gets longer (see the report).
func BenchmarkListQueueEmpty(b *testing.B) {
	s := newTestStore(b)
	c := s.NewConn()
	key := []byte("q")
	var buf []byte
	push, pop, val := []byte("RPUSH"), []byte("LPOP"), []byte("job")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = collBenchDo(b, c, buf, push, key, val)
		buf = collBenchDo(b, c, buf, pop, key)
	}
	collReportOps(b)
}
