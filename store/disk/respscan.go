package disk

import (
	"bytes"
	"strconv"
)

// frameLen returns the length of the RESP2/RESP3 frame at the start of b,
// or ok=false when b does not start with a complete, well-formed frame.
// It is used to index the embedded COMMAND data (commanddata.go) and is
// fuzzed (FuzzFrameLen). depth bounds nesting.
func frameLen(b []byte, depth int) (n int, ok bool) {
	if depth > 64 || len(b) < 3 {
		return 0, false
	}
	i := bytes.Index(b, []byte("\r\n"))
	if i < 1 {
		return 0, false
	}
	line := b[1:i]
	head := i + 2
	switch b[0] {
	case '+', '-', ':', ',', '_', '#', '(':
		return head, true
	case '$', '=', '!':
		l, err := strconv.Atoi(string(line))
		if err != nil || l < -1 {
			return 0, false
		}
		if l == -1 {
			return head, b[0] == '$'
		}
		if len(b)-head < l+2 || b[head+l] != '\r' || b[head+l+1] != '\n' {
			return 0, false
		}
		return head + l + 2, true
	case '*', '%', '~', '>', '|':
		l, err := strconv.Atoi(string(line))
		if err != nil || l < -1 || l > len(b) {
			return 0, false
		}
		if l == -1 {
			return head, b[0] == '*'
		}
		if b[0] == '%' || b[0] == '|' {
			l *= 2
		}
		pos := head
		for k := 0; k < l; k++ {
			m, ok := frameLen(b[pos:], depth+1)
			if !ok {
				return 0, false
			}
			pos += m
		}
		if b[0] == '|' {
			// An attribute decorates the frame that follows it.
			m, ok := frameLen(b[pos:], depth+1)
			if !ok {
				return 0, false
			}
			pos += m
		}
		return pos, true
	}
	return 0, false
}

// aggregateElems splits the aggregate frame f into its element frames
// (for a map: keys and values alternating). ok is false if f is not an
// aggregate.
func aggregateElems(f []byte) ([][]byte, bool) {
	if len(f) == 0 || (f[0] != '*' && f[0] != '%' && f[0] != '~') {
		return nil, false
	}
	i := bytes.Index(f, []byte("\r\n"))
	if i < 1 {
		return nil, false
	}
	l, err := strconv.Atoi(string(f[1:i]))
	if err != nil || l < 0 {
		return nil, false
	}
	if f[0] == '%' {
		l *= 2
	}
	pos := i + 2
	out := make([][]byte, 0, l)
	for k := 0; k < l; k++ {
		m, ok := frameLen(f[pos:], 0)
		if !ok {
			return nil, false
		}
		out = append(out, f[pos:pos+m])
		pos += m
	}
	return out, true
}

// bulkValue returns the payload of a bulk or simple string frame.
func bulkValue(f []byte) ([]byte, bool) {
	if len(f) < 3 {
		return nil, false
	}
	i := bytes.Index(f, []byte("\r\n"))
	if i < 1 {
		return nil, false
	}
	switch f[0] {
	case '+':
		return f[1:i], true
	case '$':
		l, err := strconv.Atoi(string(f[1:i]))
		if err != nil || l < 0 || len(f) < i+2+l {
			return nil, false
		}
		return f[i+2 : i+2+l], true
	}
	return nil, false
}
