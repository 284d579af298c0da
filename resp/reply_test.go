package resp

import (
	"strings"
	"testing"
)

func TestScanReply(t *testing.T) {
	complete := []string{
		"+OK\r\n", "-ERR x\r\n", ":1\r\n", "$3\r\nabc\r\n", "$-1\r\n", "$0\r\n\r\n",
		"*-1\r\n", "*0\r\n", "*2\r\n$1\r\na\r\n:2\r\n", "*1\r\n*1\r\n*1\r\n+deep\r\n",
		"_\r\n", ",3.14\r\n", "#t\r\n", "(12345678901234567890\r\n", "!3\r\nbad\r\n",
		"=7\r\ntxt:abc\r\n", "%1\r\n+k\r\n:1\r\n", "~2\r\n:1\r\n:2\r\n", ">2\r\n+a\r\n+b\r\n",
		"|1\r\n+key\r\n+val\r\n$2\r\nhi\r\n", "*1\r\n|1\r\n+a\r\n+b\r\n:1\r\n",
		"$5\r\na\r\nbc\r\n", // payload may contain CRLF
	}
	for _, c := range complete {
		n, err := ScanReply([]byte(c + "+NEXT\r\n"))
		if err != nil || n != len(c) {
			t.Errorf("%q: n=%d err=%v, want %d", c, n, err, len(c))
		}
		for i := 0; i < len(c); i++ { // every strict prefix is incomplete
			if n, err := ScanReply([]byte(c[:i])); n != 0 || err != nil {
				t.Errorf("%q prefix %d: n=%d err=%v, want incomplete", c, i, n, err)
			}
		}
	}
	bad := []string{"?x\r\n", "+OK\n", "$3\r\nabcd\r\n", "$-2\r\n", "*-2\r\n", "%-1\r\n", "$x\r\n", "!-1\r\n"}
	for _, c := range bad {
		if _, err := ScanReply([]byte(c)); err == nil {
			t.Errorf("%q: no error", c)
		}
	}
}

func TestScanReplyDeepNesting(t *testing.T) {
	depth := 1 << 20
	b := []byte(strings.Repeat("*1\r\n", depth) + ":1\r\n")
	n, err := ScanReply(b)
	if err != nil || n != len(b) {
		t.Fatalf("n=%d err=%v", n, err)
	}
}

func FuzzScanReply(f *testing.F) {
	for _, s := range []string{"+OK\r\n", "*2\r\n$1\r\na\r\n:2\r\n", "|1\r\n+a\r\n+b\r\n_\r\n", "%1\r\n+k\r\n*1\r\n,1.5\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := ScanReply(b)
		if err == nil && (n < 0 || n > len(b)) {
			t.Fatalf("n=%d out of range", n)
		}
		if err == nil && n > 0 {
			// A complete frame stays complete with trailing bytes.
			m, err2 := ScanReply(append(b[:n:n], "+X\r\n"...))
			if err2 != nil || m != n {
				t.Fatalf("frame of %d not stable: %d %v", n, m, err2)
			}
		}
	})
}

func FuzzReader(f *testing.F) {
	seeds := []string{
		"*1\r\n$4\r\nPING\r\n", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n",
		"PING\r\nECHO \"a\\x41\" 'b'\r\n", "*0\r\n*-1\r\n", "*1\r\n$-1\r\n", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, in []byte, split uint8) {
		// Parse once whole and once split at an arbitrary point: same result.
		whole, werr := parseString(in, 0)
		parts, perr := parseString(in, int(split)%(len(in)+1))
		if strings.Join(whole, "\x00") != strings.Join(parts, "\x00") || (werr == nil) != (perr == nil) {
			t.Fatalf("split changed the result: %q %v vs %q %v", whole, werr, parts, perr)
		}
		// Every multibulk command re-encodes to a frame that parses back the same.
		for _, w := range wholeArgs(in) {
			back, err := parseString(AppendCommand(nil, w...), 0)
			if err != nil || len(back) != 1 || back[0] != string(bytesJoin(w)) {
				t.Fatalf("re-encoded %q parsed as %q %v", w, back, err)
			}
		}
	})
}

type splitReader struct {
	b   []byte
	cut int
}

func (s *splitReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, errEOF
	}
	n := len(s.b)
	if s.cut > 0 && s.cut < n {
		n = s.cut
	}
	n = copy(p, s.b[:n])
	s.b = s.b[n:]
	s.cut = 0
	return n, nil
}

var errEOF = &ProtocolError{"eof"}

func parseString(in []byte, cut int) ([]string, error) {
	r := NewReader(&splitReader{b: append([]byte(nil), in...), cut: cut})
	r.MaxQueryBuffer = 1 << 20
	var out []string
	for {
		cmds, err := r.ReadBatch(0)
		for _, c := range cmds {
			parts := make([]string, len(c.Args))
			for i, a := range c.Args {
				parts[i] = string(a)
			}
			out = append(out, strings.Join(parts, "\x01"))
		}
		if err != nil {
			if err == errEOF {
				return out, nil
			}
			return out, err
		}
	}
}

func bytesJoin(args [][]byte) []byte {
	var b []byte
	for i, a := range args {
		if i > 0 {
			b = append(b, 1)
		}
		b = append(b, a...)
	}
	return b
}

// wholeArgs returns the argument vectors of the commands parsed from in.
func wholeArgs(in []byte) [][][]byte {
	r := NewReader(&splitReader{b: append([]byte(nil), in...)})
	r.MaxQueryBuffer = 1 << 20
	var out [][][]byte
	for {
		cmds, err := r.ReadBatch(0)
		for _, c := range cmds {
			args := make([][]byte, len(c.Args))
			for i, a := range c.Args {
				args[i] = append([]byte(nil), a...)
			}
			out = append(out, args)
		}
		if err != nil {
			return out
		}
	}
}

// Feeding a reply in pieces to one ReplyScanner finds the same end as one
// scan of the whole.
func TestReplyScannerResumes(t *testing.T) {
	var b []byte
	b = append(b, "*1000\r\n"...)
	for i := 0; i < 1000; i++ {
		b = append(b, "$5\r\nhello\r\n"...)
	}
	whole, err := ScanReply(b)
	if err != nil || whole != len(b) {
		t.Fatalf("whole: %d %v", whole, err)
	}
	for _, step := range []int{1, 7, 100, 4096} {
		var s ReplyScanner
		got := 0
		for end := step; got == 0; end += step {
			if end > len(b) {
				end = len(b)
			}
			n, err := s.Scan(b[:end])
			if err != nil {
				t.Fatal(err)
			}
			got = n
		}
		if got != whole {
			t.Fatalf("step %d: %d, want %d", step, got, whole)
		}
	}
}
