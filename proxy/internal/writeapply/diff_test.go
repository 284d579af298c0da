package writeapply

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/respcache/respcache/internal/redistest"
)

// harness runs every command twice, through Apply on a model of the keyspace
// and on a real redis-server, and compares the replies byte for byte and
// then the state of each key the command named.
type harness struct {
	t     testing.TB
	proto int
	cmd   *redistest.Conn // commands, in proto
	state *redistest.Conn // TYPE/GET/HGETALL/PTTL, always RESP2
	model map[string]Value
	a     Applier
	n     int   // commands run, for failure messages
	drift int64 // largest |model PTTL - Redis PTTL| seen, ms

	// slack[key] is how much later than the model Redis may have set the
	// key's expiry: the model runs at t0, just before the command is sent;
	// Redis runs it at some time before its reply arrives at t1.
	slack map[string]int64
}

func newHarness(t testing.TB, srv *redistest.Server, proto int) *harness {
	t.Helper()
	h := &harness{t: t, proto: proto, model: map[string]Value{}, slack: map[string]int64{}}
	h.cmd = redistest.Dial(t, srv.Addr())
	h.state = redistest.Dial(t, srv.Addr())
	if proto == RESP3 {
		if r := h.cmd.Do("HELLO", "3"); r[0] != '%' {
			t.Fatalf("HELLO 3: %q", r)
		}
	}
	if r := h.cmd.DoString("FLUSHALL"); r != "+OK\r\n" {
		t.Fatalf("FLUSHALL: %q", r)
	}
	return h
}

// do runs one command on both sides, compares, and returns the reply.
func (h *harness) do(args ...string) string {
	h.t.Helper()
	h.n++
	bargs := make([][]byte, len(args))
	for i, a := range args {
		bargs[i] = []byte(a)
	}
	keys, err := Keys(bargs)
	if err != nil {
		h.t.Fatalf("Keys(%s): %v", quote(args), err)
	}
	cur := make([]Value, len(keys))
	for i, p := range keys {
		cur[i] = h.model[args[p]]
	}
	now := time.Now().UnixMilli()
	next, reply, changed, err := h.a.Apply(now, h.proto, bargs, cur, nil)
	if err != nil {
		h.t.Fatalf("Apply(%s): %v", quote(args), err)
	}
	if len(next) != len(keys) {
		h.t.Fatalf("Apply(%s): %d states for %d keys", quote(args), len(next), len(keys))
	}
	if !changed {
		for i := range next {
			want := cur[i]
			if want.Kind == Absent || want.expired(now) {
				want = Value{}
			}
			if !next[i].Equal(want) {
				h.t.Errorf("#%d %s: changed=false but state %d went from %s to %s",
					h.n, quote(args), i, describe(cur[i]), describe(next[i]))
			}
		}
	}
	got := h.cmd.Do(args...)
	t1 := time.Now().UnixMilli()
	// Keep copies: next aliases the Applier's scratch and args.
	for i, p := range keys {
		if next[i].ExpireAt != cur[i].ExpireAt {
			h.slack[args[p]] = t1 - now
		}
		if next[i].Kind == Absent {
			delete(h.model, args[p])
		} else {
			h.model[args[p]] = next[i].Clone()
		}
	}
	if !bytes.Equal(got, reply) {
		h.t.Errorf("#%d RESP%d %s:\n redis: %q\n model: %q", h.n, h.proto, quote(args), got, reply)
	}
	seen := map[string]bool{}
	for _, p := range keys {
		if !seen[args[p]] {
			seen[args[p]] = true
			h.check(args[p], args)
		}
	}
	return string(got)
}

// check compares one key's state on the server with the model.
func (h *harness) check(key string, after []string) {
	h.t.Helper()
	m, ok := h.model[key]
	now := time.Now().UnixMilli()
	if ok && m.expired(now) {
		// The model's key expired while we were talking; so will Redis's.
		delete(h.model, key)
		m, ok = Value{}, false
	}
	typ := h.state.DoString("TYPE", key)
	if want := "+" + m.Kind.String() + "\r\n"; typ != want {
		h.t.Errorf("#%d after %s: TYPE %q: redis %q, model %q (%s)", h.n, quote(after), key, typ, want, describe(m))
		return
	}
	switch m.Kind {
	case String:
		got := h.state.Do("GET", key)
		if want := appendBulk(nil, m.Str); !bytes.Equal(got, want) {
			h.t.Errorf("#%d after %s: GET %q: redis %q, model %q", h.n, quote(after), key, got, want)
		}
	case Hash:
		got := h.state.Do("HGETALL", key)
		if !m.Unordered {
			want := fmt.Appendf(nil, "*%d\r\n", len(m.Fields))
			for _, f := range m.Fields {
				want = appendBulk(want, f)
			}
			if !bytes.Equal(got, want) {
				h.t.Errorf("#%d after %s: HGETALL %q (listpack order): redis %q, model %q", h.n, quote(after), key, got, want)
			}
		} else {
			pairs, err := parseBulkArray(got)
			if err != nil {
				h.t.Fatalf("HGETALL %q: %v: %q", key, err, got)
			}
			if g, w := sortedPairs(pairs), sortedPairs(m.Fields); g != w {
				h.t.Errorf("#%d after %s: HGETALL %q (unordered): redis %s, model %s", h.n, quote(after), key, g, w)
			}
		}
	}
	if !ok {
		return
	}
	t2 := time.Now().UnixMilli()
	pttl := h.state.DoString("PTTL", key)
	t3 := time.Now().UnixMilli()
	got, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(pttl, ":"), "\r\n"), 10, 64)
	if err != nil {
		h.t.Fatalf("PTTL %q: %q", key, pttl)
	}
	if m.ExpireAt == 0 {
		if got != -1 {
			h.t.Errorf("#%d after %s: PTTL %q: redis %d, model no expiry", h.n, quote(after), key, got)
		}
		return
	}
	// Redis's expiry is in [ExpireAt, ExpireAt+slack] and it computed PTTL
	// at a time in [t2, t3]; 1ms more either side for clock granularity.
	lo, hi := m.ExpireAt-t3-1, m.ExpireAt+h.slack[key]-t2+1
	if d := max(got-(m.ExpireAt-t2), (m.ExpireAt-t2)-got); got != -1 && d > h.drift {
		h.drift = d
	}
	if got < lo || got > hi {
		h.t.Errorf("#%d after %s: PTTL %q: redis %d, model allows [%d, %d] (ExpireAt %d)", h.n, quote(after), key, got, lo, hi, m.ExpireAt)
	}
}

func parseBulkArray(b []byte) ([][]byte, error) {
	line, rest, ok := bytes.Cut(b, []byte("\r\n"))
	if !ok || len(line) == 0 || line[0] != '*' {
		return nil, fmt.Errorf("not an array")
	}
	n, err := strconv.Atoi(string(line[1:]))
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		line, rest, ok = bytes.Cut(rest, []byte("\r\n"))
		if !ok || len(line) == 0 || line[0] != '$' {
			return nil, fmt.Errorf("element %d not a bulk string", i)
		}
		l, err := strconv.Atoi(string(line[1:]))
		if err != nil || l < 0 || len(rest) < l+2 {
			return nil, fmt.Errorf("element %d: bad length", i)
		}
		out = append(out, rest[:l])
		rest = rest[l+2:]
	}
	return out, nil
}

func sortedPairs(fields [][]byte) string {
	var ps []string
	for i := 0; i+1 < len(fields); i += 2 {
		ps = append(ps, strconv.Quote(string(fields[i]))+"="+strconv.Quote(string(fields[i+1])))
	}
	sort.Strings(ps)
	return "{" + strings.Join(ps, " ") + "}"
}

func describe(v Value) string {
	switch v.Kind {
	case String:
		return fmt.Sprintf("string %q exp=%d", v.Str, v.ExpireAt)
	case Hash:
		return fmt.Sprintf("hash %s exp=%d unordered=%v", sortedPairs(v.Fields), v.ExpireAt, v.Unordered)
	}
	return "absent"
}

func quote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = strconv.Quote(a)
	}
	return strings.Join(q, " ")
}

// protos runs f once per protocol version as subtests.
func protos(t *testing.T, f func(t *testing.T, proto int)) {
	for _, p := range []int{RESP2, RESP3} {
		t.Run(fmt.Sprintf("RESP%d", p), func(t *testing.T) { f(t, p) })
	}
}
