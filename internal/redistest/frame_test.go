package redistest

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// frameCases are complete frames, each with its Shape.
var frameCases = []struct {
	name, frame, shape string
}{
	{"simple", "+OK\r\n", "+"},
	{"error", "-ERR unknown command 'x'\r\n", "-ERR"},
	{"error code only", "-WRONGTYPE\r\n", "-WRONGTYPE"},
	{"integer", ":-42\r\n", ":"},
	{"bulk", "$5\r\nhello\r\n", "$"},
	{"bulk empty", "$0\r\n\r\n", "$"},
	{"bulk binary with CRLF inside", "$8\r\n\r\n$-1\r\n\x00\r\n", "$"},
	{"null bulk", "$-1\r\n", "$-1"},
	{"null array", "*-1\r\n", "*-1"},
	{"empty array", "*0\r\n", "*0[]"},
	{"array", "*3\r\n:1\r\n$1\r\na\r\n+b\r\n", "*3[$,+,:]"},
	{"nested", "*2\r\n*2\r\n:1\r\n:2\r\n*0\r\n", "*2[*0[],*2[:,:]]"},
	{"null", "_\r\n", "_"},
	{"double", ",3.14\r\n", ","},
	{"double inf", ",-inf\r\n", ","},
	{"boolean", "#t\r\n", "#"},
	{"bignum", "(123456789012345678901234567890\r\n", "("},
	{"blob error", "!21\r\nSYNTAX invalid syntax\r\n", "!"},
	{"verbatim", "=15\r\ntxt:Some string\r\n", "="},
	{"map", "%2\r\n+a\r\n:1\r\n+b\r\n*1\r\n_\r\n", "%2[+:*1[_],+::]"},
	{"set", "~2\r\n:1\r\n:2\r\n", "~2[:,:]"},
	{"push", ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nx\r\n", ">3[$,$,$]"},
	{"attribute before reply", "|1\r\n+key-popularity\r\n*2\r\n$1\r\na\r\n,0.5\r\n$5\r\nhello\r\n", "|1[+:*2[$,,]]$"},
	{"attribute inside array", "*2\r\n|1\r\n+ttl\r\n:3600\r\n:1\r\n:2\r\n", "*2[:,|1[+::]:]"},
	{"attribute before attribute", "|1\r\n+a\r\n:1\r\n|1\r\n+b\r\n:2\r\n#f\r\n", "|1[+::]|1[+::]#"},
	{"deep", strings.Repeat("*1\r\n", 40) + ":1\r\n", strings.Repeat("*1[", 40) + ":" + strings.Repeat("]", 40)},
}

func TestReadFrame(t *testing.T) {
	for _, tc := range frameCases {
		t.Run(tc.name, func(t *testing.T) {
			// Followed by a second frame: exactly one must be consumed.
			input := tc.frame + "+NEXT\r\n"
			for _, mode := range []struct {
				name string
				r    io.Reader
			}{
				{"whole", strings.NewReader(input)},
				{"one byte per read", iotest.OneByteReader(strings.NewReader(input))},
				{"half reads", iotest.HalfReader(strings.NewReader(input))},
			} {
				br := bufio.NewReaderSize(mode.r, 16) // small buffer: lines span refills
				got, err := ReadFrame(br)
				if err != nil {
					t.Fatalf("%s: %v", mode.name, err)
				}
				if string(got) != tc.frame {
					t.Fatalf("%s: got %q, want %q", mode.name, got, tc.frame)
				}
				next, err := ReadFrame(br)
				if err != nil || string(next) != "+NEXT\r\n" {
					t.Fatalf("%s: next frame %q %v", mode.name, next, err)
				}
			}
			if got := Shape([]byte(tc.frame)); got != tc.shape {
				t.Errorf("Shape = %q, want %q", got, tc.shape)
			}
		})
	}
}

// TestReadFrameSplitOverNetwork delivers a pipeline of every case a few bytes
// at a time with pauses, the way a slow proxy might.
func TestReadFrameSplitOverNetwork(t *testing.T) {
	var all bytes.Buffer
	for _, tc := range frameCases {
		all.WriteString(tc.frame)
	}
	client, server := net.Pipe()
	defer client.Close()
	go func() {
		defer server.Close()
		b := all.Bytes()
		for i := 0; i < len(b); i += 3 {
			if _, err := server.Write(b[i:min(i+3, len(b))]); err != nil {
				return
			}
			if i%60 == 0 {
				time.Sleep(time.Millisecond) // make reads see partial frames
			}
		}
	}()
	br := bufio.NewReader(client)
	for _, tc := range frameCases {
		got, err := ReadFrame(br)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if string(got) != tc.frame {
			t.Fatalf("%s: got %q, want %q", tc.name, got, tc.frame)
		}
	}
}

func TestReadFrameErrors(t *testing.T) {
	for _, tc := range []struct {
		name, input, want string
	}{
		{"truncated line", "+OK", "EOF"},
		{"truncated bulk", "$5\r\nhel", "EOF"},
		{"truncated array", "*2\r\n:1\r\n", "EOF"},
		{"attribute without value", "|1\r\n+a\r\n:1\r\n", "EOF"},
		{"bare LF", "+OK\n", "not terminated by CRLF"},
		{"bulk without CRLF", "$2\r\nabcd", "not followed by CRLF"},
		{"unknown type", "@x\r\n", "unknown RESP type"},
		{"empty line", "\r\n", "empty RESP line"},
		{"bad length", "$x\r\n", "bad RESP length"},
		{"negative length", "*-2\r\n", "bad RESP length"},
		{"null map", "%-1\r\n", "bad length"},
		{"streamed", "$?\r\n", "streamed"},
		{"bad integer", ":12a\r\n", "bad RESP integer"},
		{"bad boolean", "#x\r\n", "bad RESP3 boolean"},
		{"null with payload", "_x\r\n", "null with payload"},
		{"too deep", strings.Repeat("*1\r\n", 100) + ":1\r\n", "too deeply"},
		{"huge bulk", "$999999999999\r\n", "too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadFrame(bufio.NewReader(strings.NewReader(tc.input)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestEncodeCommand(t *testing.T) {
	got := string(EncodeCommand("SET", "k", "", "a\r\nb"))
	want := "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n$4\r\na\r\nb\r\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// FuzzReadFrame checks that the scanner never panics, that a frame it returns
// is a prefix of the input, that its Shape is computable, and that reading
// byte by byte gives the same answer as reading at once. Seeds include split
// and pipelined frames.
func FuzzReadFrame(f *testing.F) {
	for _, tc := range frameCases {
		f.Add([]byte(tc.frame))
		f.Add([]byte(tc.frame + tc.frame))
		f.Add([]byte(tc.frame[:len(tc.frame)/2]))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		whole, err1 := ReadFrame(bufio.NewReader(bytes.NewReader(in)))
		split, err2 := ReadFrame(bufio.NewReaderSize(iotest.OneByteReader(bytes.NewReader(in)), 16))
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("whole read err %v, split read err %v", err1, err2)
		}
		if err1 != nil {
			return
		}
		if !bytes.Equal(whole, split) {
			t.Fatalf("whole %q != split %q", whole, split)
		}
		if !bytes.HasPrefix(in, whole) {
			t.Fatalf("frame %q is not a prefix of input %q", whole, in)
		}
		_ = Shape(whole)
	})
}

func TestConnReadTimeoutMessage(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			defer c.Close()
			_, _ = io.Copy(io.Discard, c) // read, never answer
		}
	}()
	ft := &fakeTB{TB: t}
	c := Dial(ft, l.Addr().String())
	c.SetReadTimeout(50 * time.Millisecond)
	func() {
		defer func() { _ = recover() }()
		c.Do("GET", "k")
	}()
	for _, want := range []string{"waited 50ms", `the reply to "GET" "k"`, "nothing (complete) arrived"} {
		if !strings.Contains(ft.msg, want) {
			t.Errorf("failure message %q lacks %q", ft.msg, want)
		}
	}
}
