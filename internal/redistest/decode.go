package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// decode turns a frame into Go values for the helpers in this package that
// need to look inside replies (cluster and sentinel state): bulk, simple,
// verbatim and big-number strings become string, integers int64, aggregates
// []any (maps flattened to key, value, ...), nulls nil, and error replies a
// replyError. Attributes are dropped. It is not used for comparisons: those
// are on raw bytes.
func decode(frame []byte) (any, error) {
	return decodeValue(bufio.NewReader(bytes.NewReader(frame)))
}

// replyError is an error reply (`-` or `!`) from the server.
type replyError string

func (e replyError) Error() string { return string(e) }

func decodeValue(r *bufio.Reader) (any, error) {
	line, err := readLine(r, nil)
	if err != nil {
		return nil, err
	}
	typ, body := line[0], string(line[1:len(line)-2])
	switch typ {
	case '+', ',', '(':
		return body, nil
	case '-':
		return nil, replyError(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '_':
		return nil, nil
	case '#':
		return body == "t", nil
	case '$', '!', '=':
		n, err := parseLen(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		b, err := readN(r, nil, n+2)
		if err != nil {
			return nil, err
		}
		s := string(b[:n])
		if typ == '!' {
			return nil, replyError(s)
		}
		if typ == '=' && len(s) >= 4 {
			s = s[4:]
		}
		return s, nil
	case '*', '~', '>', '%', '|':
		n, err := parseLen(body)
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		if typ == '%' || typ == '|' {
			n *= 2
		}
		out := make([]any, 0, n)
		for i := int64(0); i < n; i++ {
			v, err := decodeValue(r)
			var re replyError
			if errors.As(err, &re) {
				// An error nested in an array (EXEC) is not the reply failing.
				v, err = re, nil
			}
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		if typ == '|' {
			return decodeValue(r)
		}
		return out, nil
	}
	return nil, fmt.Errorf("redistest: unknown RESP type %q", typ)
}

// doValue runs a command on a fresh connection and decodes the reply. An
// error reply is returned as an error.
func doValue(addr, password string, args ...string) (any, error) {
	b, err := do(addr, password, DefaultReadTimeout, args...)
	if err != nil {
		return nil, err
	}
	return decode(b)
}

func doStringValue(addr, password string, args ...string) (string, error) {
	v, err := doValue(addr, password, args...)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("redistest: %v: want a string reply, got %#v", args, v)
	}
	return s, nil
}
