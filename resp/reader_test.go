package resp

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// oneByteReader returns one byte per Read, the worst split a client can do.
type oneByteReader struct{ b []byte }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	p[0] = o.b[0]
	o.b = o.b[1:]
	return 1, nil
}

// readAll parses everything in input and renders each command's args joined
// by '|', and the terminating error.
func readAll(t *testing.T, rd io.Reader, unauth bool) ([]string, error) {
	t.Helper()
	r := NewReader(rd)
	r.Unauthenticated = unauth
	var out []string
	for {
		cmds, err := r.ReadBatch(0)
		for _, c := range cmds {
			parts := make([]string, len(c.Args))
			for i, a := range c.Args {
				parts[i] = string(a)
			}
			out = append(out, strings.Join(parts, "|"))
			// Raw must parse back to the same arguments.
			back, err := parseString(c.Raw, 0)
			if err != nil || len(back) != 1 || back[0] != strings.Join(parts, "\x01") {
				t.Fatalf("raw %q parses as %q %v", c.Raw, back, err)
			}
		}
		if err != nil {
			return out, err
		}
	}
}

// The expectations were read off redis-server 7.0.15: the error text it
// replies (after "-ERR ") and the commands it executed before closing.
func TestReaderGolden(t *testing.T) {
	cases := []struct {
		name, in  string
		unauth    bool
		wholeOnly bool // too large for the one-byte-per-read variant
		want      []string
		err       string // "" = clean EOF
	}{
		{"simple", "*1\r\n$4\r\nPING\r\n", false, false, []string{"PING"}, ""},
		{"pipeline", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n", false, false, []string{"GET|k", "PING"}, ""},
		{"empty multibulk skipped", "*0\r\nPING\r\n", false, false, []string{"PING"}, ""},
		{"negative multibulk skipped", "*-5\r\nPING\r\n", false, false, []string{"PING"}, ""},
		{"huge count accepted then incomplete", "*1048577\r\n", false, false, nil, ""},
		{"count over INT_MAX", "*2147483648\r\n", false, false, nil, "invalid multibulk length"},
		{"null bulk", "*1\r\n$-1\r\n", false, false, nil, "invalid bulk length"},
		{"bulk over limit", "*1\r\n$536870913\r\n", false, false, nil, "invalid bulk length"},
		{"bulk at limit waits", "*1\r\n$536870912\r\n", false, false, nil, ""},
		{"not a bulk", "*1\r\nx\r\n", false, false, nil, "expected '$', got 'x'"},
		{"count not a number", "*abc\r\n", false, false, nil, "invalid multibulk length"},
		{"count leading zero", "*01\r\n$4\r\nPING\r\n", false, false, nil, "invalid multibulk length"},
		{"bulk leading zero", "*1\r\n$04\r\nPING\r\n", false, false, nil, "invalid bulk length"},
		{"bulk plus sign", "*1\r\n$+4\r\nPING\r\n", false, false, nil, "invalid bulk length"},
		{"bulk space", "*1\r\n$ 4\r\nPING\r\n", false, false, nil, "invalid bulk length"},
		{"LF without CR in count", "*1\n$4\r\nPING\r\n", false, false, nil, "invalid multibulk length"},
		{"trailer unchecked", "*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n", false, false, []string{"PING", "PING"}, ""},
		{"short bulk eats trailer", "*2\r\n$4\r\nECHO\r\n$1\r\nab\r\n", false, false, []string{"ECHO|a"}, ""},
		{"good then bad", "*1\r\n$4\r\nPING\r\n*+1\r\n", false, false, []string{"PING"}, "invalid multibulk length"},
		{"inline", "  \r\n\r\nPING\r\n", false, false, []string{"PING"}, ""},
		{"inline args", "SET a  b\n", false, false, []string{"SET|a|b"}, ""},
		{"inline quotes", "ECHO \"\\x41\\n\" 'it\\'s'\r\n", false, false, []string{"ECHO|A\n|it's"}, ""},
		{"inline unbalanced", "PING \"a\r\n", false, false, nil, "unbalanced quotes in request"},
		{"inline quote then text", "ECHO \"a\"b\r\n", false, false, nil, "unbalanced quotes in request"},
		{"inline too big", strings.Repeat("x", 70000), false, false, nil, "too big inline request"},
		{"count line too big", "*" + strings.Repeat("1", 70000), false, false, nil, "too big mbulk count string"},
		{"bulk line too big", "*1\r\n$" + strings.Repeat("1", 70000), false, false, nil, "too big bulk count string"},
		{"many args beyond the inline limit", "*20001\r\n$4\r\nMSET\r\n" + strings.Repeat("$1\r\nk\r\n$1\r\nv\r\n", 10000), false, true, []string{"MSET" + strings.Repeat("|k|v", 10000)}, ""},
		{"unauth multibulk", "*11\r\n", true, false, nil, "unauthenticated multibulk length"},
		{"unauth bulk", "*1\r\n$16385\r\n", true, false, nil, "unauthenticated bulk length"},
		{"unauth small ok", "*2\r\n$4\r\nAUTH\r\n$1\r\np\r\n", true, false, []string{"AUTH|p"}, ""},
	}
	for _, tc := range cases {
		for _, split := range []bool{false, true} {
			if split && tc.wholeOnly {
				continue
			}
			name := tc.name
			if split {
				name += "/bytewise"
			}
			t.Run(name, func(t *testing.T) {
				var rd io.Reader = strings.NewReader(tc.in)
				if split {
					rd = &oneByteReader{[]byte(tc.in)}
				}
				got, err := readAll(t, rd, tc.unauth)
				if strings.Join(got, ",") != strings.Join(tc.want, ",") {
					t.Errorf("commands %q, want %q", got, tc.want)
				}
				var pe *ProtocolError
				switch {
				case tc.err == "":
					if !errors.Is(err, io.EOF) {
						t.Errorf("err %v, want EOF", err)
					}
				case !errors.As(err, &pe):
					t.Errorf("err %v, want protocol error %q", err, tc.err)
				case pe.Msg != tc.err:
					t.Errorf("protocol error %q, want %q", pe.Msg, tc.err)
				}
			})
		}
	}
}

func TestInlineRawIsMultibulk(t *testing.T) {
	r := NewReader(strings.NewReader("SET k \"a b\"\r\nGET k\r\n"))
	cmds, err := r.ReadBatch(0)
	if err != nil || len(cmds) != 2 {
		t.Fatalf("got %d cmds, %v", len(cmds), err)
	}
	if want := "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na b\r\n"; string(cmds[0].Raw) != want {
		t.Errorf("raw %q, want %q", cmds[0].Raw, want)
	}
	if want := "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"; string(cmds[1].Raw) != want {
		t.Errorf("raw %q, want %q", cmds[1].Raw, want)
	}
}

func TestBatchCap(t *testing.T) {
	in := strings.Repeat("*1\r\n$4\r\nPING\r\n", 10)
	r := NewReader(strings.NewReader(in))
	total := 0
	for {
		cmds, err := r.ReadBatch(3)
		if len(cmds) > 3 {
			t.Fatalf("batch of %d, cap 3", len(cmds))
		}
		total += len(cmds)
		if err != nil {
			break
		}
	}
	if total != 10 {
		t.Fatalf("read %d commands, want 10", total)
	}
}

// A client claiming a huge bulk must not make the reader allocate it.
func TestClaimedLengthNotAllocated(t *testing.T) {
	r := NewReader(strings.NewReader("*1\r\n$536870912\r\nabc"))
	_, err := r.ReadBatch(0)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("err %v", err)
	}
	if cap(r.buf) > 64*1024 {
		t.Fatalf("buffer grew to %d for 3 payload bytes", cap(r.buf))
	}
}

func TestQueryBufferLimit(t *testing.T) {
	in := "*1\r\n$100000\r\n" + strings.Repeat("a", 100000) + "\r\n"
	r := NewReader(strings.NewReader(in))
	r.MaxQueryBuffer = 64 * 1024
	_, err := r.ReadBatch(0)
	if !errors.Is(err, ErrQueryBufferLimit) {
		t.Fatalf("err %v, want ErrQueryBufferLimit", err)
	}
}

type repeatReader struct {
	b   []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.off:])
		n += c
		r.off = (r.off + c) % len(r.b)
	}
	return n, nil
}

func BenchmarkReadBatch(b *testing.B) {
	rr := &repeatReader{b: []byte("*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000001\r\n")}
	r := NewReader(rr)
	b.ReportAllocs()
	b.SetBytes(int64(len(rr.b)))
	n := 0
	for n < b.N {
		cmds, err := r.ReadBatch(64)
		if err != nil {
			b.Fatal(err)
		}
		n += len(cmds)
	}
}

func TestReadBatchNoAllocs(t *testing.T) {
	rr := &repeatReader{b: []byte("*2\r\n$3\r\nGET\r\n$16\r\nkey:000000000001\r\nGET inline\r\n")}
	r := NewReader(rr)
	for i := 0; i < 100; i++ { // warm the buffers up
		r.ReadBatch(64)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := r.ReadBatch(64); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per batch, want 0", allocs)
	}
}
