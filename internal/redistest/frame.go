package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// This file is a RESP2/RESP3 frame scanner written independently of the
// proxy's parser on purpose: the differential test must not share a bug with
// the code it checks. It validates structure only as far as needed to find
// where a frame ends; it never interprets values.

// maxFrameDepth bounds nesting so a hostile or corrupt stream cannot blow the
// stack; Redis itself never nests deeper than a handful of levels.
const maxFrameDepth = 64

// maxBulkLen mirrors Redis's proto-max-bulk-len default (512MiB).
const maxBulkLen = 512 << 20

var errFrameTooDeep = errors.New("redistest: RESP frame nested too deeply")

// ReadFrame reads exactly one complete RESP2 or RESP3 reply from r and
// returns its raw bytes, CRLFs included. An attribute (`|`) is not a reply on
// its own: the attribute and the value that follows it are returned together
// as one frame, also inside aggregates. A push (`>`) is returned as a frame of
// its own. Streamed strings and aggregates (`$?`, `*?`) are not supported.
//
// The returned slice is freshly allocated and owned by the caller. On error
// the bytes consumed so far are lost; the reader is then positioned
// mid-frame and should be discarded.
func ReadFrame(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	return readValue(r, buf, 0)
}

func readValue(r *bufio.Reader, buf []byte, depth int) ([]byte, error) {
	if depth > maxFrameDepth {
		return buf, errFrameTooDeep
	}
	start := len(buf)
	buf, err := readLine(r, buf)
	if err != nil {
		return buf, err
	}
	line := buf[start : len(buf)-2]
	if len(line) == 0 {
		return buf, fmt.Errorf("redistest: empty RESP line")
	}
	typ, body := line[0], string(line[1:])
	switch typ {
	case '+', '-', ':', '_', ',', '#', '(':
		if typ == '_' && body != "" {
			return buf, fmt.Errorf("redistest: RESP3 null with payload %q", body)
		}
		if typ == '#' && body != "t" && body != "f" {
			return buf, fmt.Errorf("redistest: bad RESP3 boolean %q", body)
		}
		if typ == ':' {
			if _, err := strconv.ParseInt(body, 10, 64); err != nil {
				return buf, fmt.Errorf("redistest: bad RESP integer %q", body)
			}
		}
		return buf, nil
	case '$', '!', '=':
		n, err := parseLen(body)
		if err != nil {
			return buf, err
		}
		if n < 0 {
			if typ != '$' || n != -1 {
				return buf, fmt.Errorf("redistest: bad length %q for %q", body, typ)
			}
			return buf, nil // RESP2 null bulk string
		}
		if n > maxBulkLen {
			return buf, fmt.Errorf("redistest: bulk length %d too large", n)
		}
		if buf, err = readN(r, buf, n+2); err != nil {
			return buf, err
		}
		if buf[len(buf)-2] != '\r' || buf[len(buf)-1] != '\n' {
			return buf, fmt.Errorf("redistest: bulk string of %d bytes not followed by CRLF", n)
		}
		return buf, nil
	case '*', '~', '>', '%', '|':
		n, err := parseLen(body)
		if err != nil {
			return buf, err
		}
		if n < 0 {
			if typ != '*' || n != -1 {
				return buf, fmt.Errorf("redistest: bad length %q for %q", body, typ)
			}
			return buf, nil // RESP2 null array
		}
		elems := n
		if typ == '%' || typ == '|' {
			elems = 2 * n
		}
		for i := int64(0); i < elems; i++ {
			if buf, err = readValue(r, buf, depth+1); err != nil {
				return buf, err
			}
		}
		if typ == '|' {
			// An attribute decorates the value that follows it.
			return readValue(r, buf, depth+1)
		}
		return buf, nil
	default:
		return buf, fmt.Errorf("redistest: unknown RESP type byte %q in line %q", typ, line)
	}
}

func parseLen(s string) (int64, error) {
	if s == "?" {
		return 0, fmt.Errorf("redistest: streamed RESP3 types are not supported")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < -1 {
		return 0, fmt.Errorf("redistest: bad RESP length %q", s)
	}
	return n, nil
}

// readLine appends one line, CRLF included, to buf. A bare LF is an error:
// Redis always terminates lines with CRLF, and a relay that rewrote line
// endings must be caught.
func readLine(r *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if err == bufio.ErrBufferFull {
			if len(buf) > maxBulkLen {
				return buf, fmt.Errorf("redistest: RESP line too long")
			}
			continue
		}
		if err != nil {
			return buf, err
		}
		if len(buf) < 2 || buf[len(buf)-2] != '\r' {
			return buf, fmt.Errorf("redistest: RESP line not terminated by CRLF: %q", buf)
		}
		return buf, nil
	}
}

// readN appends exactly n bytes from r to buf. It grows buf as data arrives
// rather than trusting the length header, so a corrupt header announcing a
// huge bulk fails at EOF instead of allocating it up front.
func readN(r *bufio.Reader, buf []byte, n int64) ([]byte, error) {
	for n > 0 {
		chunk := min(n, 64<<10)
		off := len(buf)
		buf = append(buf, make([]byte, chunk)...)
		m, err := io.ReadFull(r, buf[off:])
		buf = buf[:off+m]
		n -= int64(m)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
	}
	return buf, nil
}

// Shape returns a description of a frame's types and aggregate sizes with
// scalar contents left out, e.g. "*2[$,$]" for a TIME reply. Error replies
// keep their code ("-WRONGTYPE"). The elements of every aggregate (pairs, for
// maps and attributes) are listed in sorted order, so that replies whose
// order depends on the server's random hash seed (SMEMBERS of a hashtable
// set, COMMAND INFO, ...) have one shape. Two replies with the same Shape
// differ only in values the differential test treats as nondeterministic.
// Shape panics on malformed frames; pass only frames returned by ReadFrame.
func Shape(frame []byte) string {
	s, err := shapeValue(bufio.NewReader(bytes.NewReader(frame)))
	if err != nil {
		panic(fmt.Sprintf("redistest: Shape of malformed frame %q: %v", frame, err))
	}
	return s
}

func shapeValue(r *bufio.Reader) (string, error) {
	line, err := readLine(r, nil)
	if err != nil {
		return "", err
	}
	typ, body := line[0], string(line[1:len(line)-2])
	switch typ {
	case '-':
		code, _, _ := strings.Cut(body, " ")
		return "-" + code, nil
	case '$', '!', '=':
		n, err := parseLen(body)
		if err != nil {
			return "", err
		}
		if n < 0 {
			return string(typ) + "-1", nil
		}
		_, err = r.Discard(int(n) + 2)
		return string(typ), err
	case '*', '~', '>', '%', '|':
		n, err := parseLen(body)
		if err != nil {
			return "", err
		}
		head := string(typ) + strconv.FormatInt(n, 10)
		if n < 0 {
			return head, nil
		}
		per := 1
		if typ == '%' || typ == '|' {
			per = 2
		}
		elems := make([]string, 0, n)
		for i := int64(0); i < n; i++ {
			var parts []string
			for j := 0; j < per; j++ {
				e, err := shapeValue(r)
				if err != nil {
					return "", err
				}
				parts = append(parts, e)
			}
			elems = append(elems, strings.Join(parts, ":"))
		}
		sort.Strings(elems)
		out := head + "[" + strings.Join(elems, ",") + "]"
		if typ == '|' {
			v, err := shapeValue(r)
			return out + v, err
		}
		return out, nil
	default:
		return string(typ), nil
	}
}
