package resp

import (
	"bytes"
	"errors"
	"strconv"
)

// ErrBadReply is returned by ScanReply for bytes that are not a RESP2/RESP3
// reply. The connection it came from cannot be trusted any further.
var ErrBadReply = errors.New("resp: malformed reply")

// ScanReply returns the length of the first complete reply in b, 0 when b
// holds only part of one, or ErrBadReply. An attribute (|) is part of the
// reply that follows it. It allocates nothing and does not recurse.
func ScanReply(b []byte) (int, error) {
	pos := 0
	pending := 1 // elements still to scan
	for pending > 0 {
		if pos >= len(b) {
			return 0, nil
		}
		nl := bytes.IndexByte(b[pos:], '\n')
		if nl < 0 {
			return 0, nil
		}
		if nl < 2 || b[pos+nl-1] != '\r' {
			return 0, ErrBadReply
		}
		line := b[pos+1 : pos+nl-1]
		t := b[pos]
		pos += nl + 1
		pending--
		switch t {
		case '+', '-', ':', '_', ',', '#', '(':
		case '$', '!', '=':
			n, ok := parseInt(line)
			if !ok || n < -1 || (n == -1 && t != '$') {
				return 0, ErrBadReply
			}
			if n >= 0 {
				if int64(len(b)-pos) < n+2 {
					return 0, nil
				}
				pos += int(n)
				if b[pos] != '\r' || b[pos+1] != '\n' {
					return 0, ErrBadReply
				}
				pos += 2
			}
		case '*', '~', '>', '%', '|':
			n, ok := parseInt(line)
			if !ok || n < -1 || (n == -1 && t != '*') || n > 1<<40 {
				return 0, ErrBadReply
			}
			if n > 0 {
				if t == '%' || t == '|' {
					n *= 2
				}
				pending += int(n)
			}
			if t == '|' {
				pending++ // the reply the attribute belongs to
			}
		default:
			return 0, ErrBadReply
		}
	}
	return pos, nil
}

// IsError reports whether reply (a complete frame) is an error reply, and
// returns its text without the leading '-' and trailing CRLF.
func IsError(reply []byte) ([]byte, bool) {
	if len(reply) < 3 || reply[0] != '-' {
		return nil, false
	}
	return reply[1 : len(reply)-2], true
}

func appendArrayHeader(b []byte, n int) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

func appendBulkHeader(b []byte, n int) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(n), 10)
	return append(b, '\r', '\n')
}

// AppendCommand appends args encoded as a multibulk request.
func AppendCommand(b []byte, args ...[]byte) []byte {
	b = appendArrayHeader(b, len(args))
	for _, a := range args {
		b = appendBulkHeader(b, len(a))
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// AppendCommandStrings is AppendCommand for string arguments.
func AppendCommandStrings(b []byte, args ...string) []byte {
	b = appendArrayHeader(b, len(args))
	for _, a := range args {
		b = appendBulkHeader(b, len(a))
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}
