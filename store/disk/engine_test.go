package disk

import (
	"context"
	"strings"
	"testing"
)

// newTestStore opens a store in a fresh temp dir with Fsync "no" and closes
// it at the end of the test.
func newTestStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(Options{Dir: t.TempDir(), Fsync: FsyncNo, BlockCache: 8 << 20, Memtable: 4 << 20})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// do runs one command on c and returns the raw reply.
func do(t testing.TB, c *Conn, args ...string) string {
	t.Helper()
	a := make([][]byte, len(args))
	for i, s := range args {
		a[i] = []byte(s)
	}
	return string(c.Do(context.Background(), a, nil))
}

// expect runs a table of command → reply on one Conn.
func expect(t *testing.T, c *Conn, steps [][2]string) {
	t.Helper()
	for _, st := range steps {
		args := strings.Fields(st[0])
		if got := do(t, c, args...); got != st[1] {
			t.Fatalf("%s: got %q, want %q", st[0], got, st[1])
		}
	}
}

func TestHashBasics(t *testing.T) {
	s := newTestStore(t)
	c := s.NewConn()
	expect(t, c, [][2]string{
		{"HSET h a 1 b 2 a 3", ":2\r\n"},
		{"HGET h a", "$1\r\n3\r\n"},
		{"HLEN h", ":2\r\n"},
		{"HGETALL h", "*4\r\n$1\r\na\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n"},
		{"HDEL h a b c", ":2\r\n"},
		{"HLEN h", ":0\r\n"},
		{"HGET h a", "$-1\r\n"},
		{"HINCRBY h n 5", ":5\r\n"},
		{"HINCRBYFLOAT h f 10.5", "$4\r\n10.5\r\n"},
		{"HINCRBYFLOAT h f 0.1", "$4\r\n10.6\r\n"},
	})
	c.SetProto(3)
	expect(t, c, [][2]string{
		{"HGETALL h", "%2\r\n$1\r\nn\r\n$1\r\n5\r\n$1\r\nf\r\n$4\r\n10.6\r\n"},
		{"HGET h zz", "_\r\n"},
	})
}

// TestRandomReplyBounded: Redis would try to stream 9e18 fields; the engine
// refuses rather than exhaust memory.
func TestRandomReplyBounded(t *testing.T) {
	s := newTestStore(t)
	c := s.NewConn()
	expect(t, c, [][2]string{
		{"HSET h a 1", ":1\r\n"},
		{"HRANDFIELD h -9223372036854775807", "-ERR disk store: reply too large\r\n"},
		{"HRANDFIELD h -3", "*3\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n"},
	})
}
