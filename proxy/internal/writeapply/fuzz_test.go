package writeapply

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	"github.com/respcache/respcache/internal/redistest"
)

// FuzzApply runs arbitrary commands on arbitrary states. Apply must not
// panic, must not modify its inputs, must return one state per key and
// reply with exactly one well-formed RESP frame (or ErrNotModeled and no
// bytes).
func FuzzApply(f *testing.F) {
	seeds := [][]string{
		{"SET", "k", "v", "EX", "10", "GET"}, {"set", "k", "v", "pxat", "1", "keepttl"},
		{"GETEX", "k", "PERSIST", "EX", "1"}, {"INCRBYFLOAT", "k", "0x1p-16445"},
		{"INCRBYFLOAT", "k", "1e4932"}, {"HINCRBYFLOAT", "k", "f", "-1e-4951"},
		{"SETRANGE", "k", "5", "abc"}, {"MSET", "a", "1", "a", "2"}, {"DEL", "a", "b", "a"},
		{"EXPIRE", "k", "-9223372036854775808", "gt"}, {"HSET", "k", "f", "v", "g"},
		{"HDEL", "k", "f", "f"}, {"HINCRBY", "k", "f", "9223372036854775807"}, {"APPEND", "k", ""},
		{"MSETNX", "a", "1", "b"}, {"PEXPIREAT", "k", "1", "nx\x00", "xx"},
	}
	for i, s := range seeds {
		var a [5][]byte
		for j := 1; j < len(s) && j < 6; j++ {
			a[j-1] = []byte(s[j])
		}
		f.Add(s[0], uint8(len(s)), a[0], a[1], a[2], a[3], a[4], uint8(i%3), []byte("12,x,f,v"), int64(i*1000), int64(5000), i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, name string, argc uint8, a1, a2, a3, a4, a5 []byte, kind uint8, body []byte, exp, now int64, resp3 bool) {
		args := [][]byte{[]byte(name), a1, a2, a3, a4, a5}
		args = args[:1+int(argc)%len(args)]
		if c := lookup(args[0]); c == &cmdSetrange && len(args) > 2 {
			// SETRANGE executes Redis's semantics up to 512MB; keep the
			// fuzzer's memory bounded.
			if off, ok := parseInt(args[2]); ok && off > 1<<20 && off <= protoMaxBulkLen {
				t.Skip()
			}
		}
		keys, kerr := Keys(args)
		if kerr != nil && !errors.Is(kerr, ErrNotModeled) {
			t.Fatalf("Keys: %v", kerr)
		}
		cur := make([]Value, len(keys))
		for i := range cur {
			switch kind % 3 {
			case 1:
				cur[i] = Value{Kind: String, Str: body, ExpireAt: exp}
			case 2:
				fields := bytes.Split(body, []byte(","))
				if len(fields)%2 == 1 {
					fields = fields[:len(fields)-1]
				}
				if len(fields) > 0 {
					cur[i] = Value{Kind: Hash, Fields: fields, ExpireAt: exp}
				}
			}
		}
		before := deepCopyArgs(args)
		curBefore := make([]Value, len(cur))
		for i := range cur {
			curBefore[i] = cur[i].Clone()
		}
		proto := RESP2
		if resp3 {
			proto = RESP3
		}
		var a Applier
		next, reply, _, err := a.Apply(now, proto, args, cur, nil)
		if errors.Is(err, ErrNotModeled) {
			if kerr == nil || len(reply) != 0 {
				t.Fatalf("ErrNotModeled: Keys err %v, reply %q", kerr, reply)
			}
			return
		}
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if len(next) != len(keys) {
			t.Fatalf("%d states for %d keys", len(next), len(keys))
		}
		for i := range args {
			if !bytes.Equal(args[i], before[i]) {
				t.Fatalf("args[%d] modified", i)
			}
		}
		for i := range cur {
			if !cur[i].Equal(curBefore[i]) {
				t.Fatalf("cur[%d] modified", i)
			}
		}
		for i, v := range next {
			if v.Kind == Hash && (len(v.Fields) == 0 || len(v.Fields)%2 != 0) {
				t.Fatalf("state %d: hash with %d fields", i, len(v.Fields))
			}
			if v.Kind != Absent && v.ExpireAt != 0 && now > v.ExpireAt {
				t.Fatalf("state %d: expired state returned", i)
			}
		}
		r := bufio.NewReader(bytes.NewReader(reply))
		if _, err := redistest.ReadFrame(r); err != nil {
			t.Fatalf("reply %q: %v", reply, err)
		}
		if r.Buffered() != 0 {
			t.Fatalf("reply %q: more than one frame", reply)
		}
		if reply[0] == '-' && bytes.ContainsAny(reply[1:len(reply)-2], "\r\n") {
			t.Fatalf("error reply %q spans lines", reply)
		}
	})
}

func deepCopyArgs(args [][]byte) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = append([]byte(nil), a...)
	}
	return out
}

// TestApplyBasics checks a few replies and states without a server, so
// that the package keeps some coverage where redis-server is missing.
func TestApplyBasics(t *testing.T) {
	const now = 1_000_000
	str := func(s string, exp int64) Value { return Value{Kind: String, Str: []byte(s), ExpireAt: exp} }
	cases := []struct {
		args    []string
		cur     []Value
		reply   string
		next    []Value
		changed bool
	}{
		{[]string{"SET", "k", "v"}, []Value{{}}, "+OK\r\n", []Value{str("v", 0)}, true},
		{[]string{"set", "k", "v", "EX", "10", "GET"}, []Value{str("old", now+5)}, "$3\r\nold\r\n", []Value{str("v", now+10000)}, true},
		{[]string{"SET", "k", "v", "NX"}, []Value{str("old", 0)}, "$-1\r\n", []Value{str("old", 0)}, false},
		{[]string{"INCR", "k"}, []Value{str("41", 0)}, ":42\r\n", []Value{str("42", 0)}, true},
		// An expired key is absent: INCR starts from 0 and the TTL is gone.
		{[]string{"INCR", "k"}, []Value{str("41", now-1)}, ":1\r\n", []Value{str("1", 0)}, true},
		// Not yet expired at exactly ExpireAt (Redis: expired when now > when).
		{[]string{"INCR", "k"}, []Value{str("41", now)}, ":42\r\n", []Value{str("42", now)}, true},
		{[]string{"INCRBYFLOAT", "k", "0.1"}, []Value{str("0.2", 0)}, "$3\r\n0.3\r\n", []Value{str("0.3", 0)}, true},
		{[]string{"DEL", "a", "a", "b"}, []Value{str("1", 0), str("1", 0), {}}, ":1\r\n", []Value{{}, {}, {}}, true},
		{[]string{"MSET", "a", "1", "a", "2"}, []Value{{}, {}}, "+OK\r\n", []Value{str("2", 0), str("2", 0)}, true},
		{[]string{"EXPIRE", "k", "0"}, []Value{str("v", 0)}, ":1\r\n", []Value{{}}, true},
		{[]string{"HINCRBY", "k", "f", "1"}, []Value{str("v", 0)}, "-" + msgWrongType + "\r\n", []Value{str("v", 0)}, false},
		{[]string{"HDEL", "k", "a"}, []Value{{Kind: Hash, Fields: bytesArgs([]string{"a", "1"})}}, ":1\r\n", []Value{{}}, true},
		{[]string{"HSET", "k", "b", "2", "a", "3"}, []Value{{Kind: Hash, Fields: bytesArgs([]string{"a", "1"}), ExpireAt: now + 5}}, ":1\r\n",
			[]Value{{Kind: Hash, Fields: bytesArgs([]string{"a", "3", "b", "2"}), ExpireAt: now + 5}}, true},
		{[]string{"GETEX", "k", "EX", "-1"}, []Value{{}}, "$-1\r\n", []Value{{}}, false},
		{[]string{"SET", "k"}, nil, "-ERR wrong number of arguments for 'set' command\r\n", nil, false},
	}
	var a Applier
	for _, tc := range cases {
		t.Run(quote(tc.args), func(t *testing.T) {
			args := bytesArgs(tc.args)
			keys, err := Keys(args)
			if err != nil || len(keys) != len(tc.cur) {
				t.Fatalf("Keys = %v, %v; want %d keys", keys, err, len(tc.cur))
			}
			next, reply, changed, err := a.Apply(now, RESP2, args, tc.cur, nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(reply) != tc.reply || changed != tc.changed {
				t.Fatalf("reply %q changed %v; want %q %v", reply, changed, tc.reply, tc.changed)
			}
			for i := range tc.next {
				if !next[i].Equal(tc.next[i]) {
					t.Errorf("state %d: %s, want %s", i, describe(next[i]), describe(tc.next[i]))
				}
			}
		})
	}
	if _, _, _, err := a.Apply(now, RESP2, bytesArgs([]string{"LPUSH", "l", "x"}), nil, nil); !errors.Is(err, ErrNotModeled) {
		t.Fatalf("LPUSH: %v, want ErrNotModeled", err)
	}
	if _, _, _, err := a.Apply(now, RESP2, bytesArgs([]string{"SET", "k", "v"}), nil, nil); !errors.Is(err, ErrStates) {
		t.Fatalf("SET without state: %v, want ErrStates", err)
	}
}
