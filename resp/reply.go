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
	var s ReplyScanner
	return s.Scan(b)
}

// ReplyScanner is ScanReply that resumes: after an incomplete result it
// remembers the last element boundary, so a reply arriving in many reads
// (a million-element LRANGE) is scanned once, not once per read. The zero
// value is ready.
type ReplyScanner struct {
	pos, pending int
}

// Scan scans b, which starts at the same reply as on the previous calls
// (with more bytes appended) until a call returns n > 0 or an error; then
// the scanner is reset for the next reply.
func (s *ReplyScanner) Scan(b []byte) (int, error) {
	pos, pending := s.pos, s.pending
	if pending == 0 {
		pos, pending = 0, 1
	}
	for pending > 0 {
		if pos >= len(b) {
			s.pos, s.pending = pos, pending
			return 0, nil
		}
		nl := bytes.IndexByte(b[pos:], '\n')
		if nl < 0 {
			s.pos, s.pending = pos, pending
			return 0, nil
		}
		if nl < 2 || b[pos+nl-1] != '\r' {
			s.pos, s.pending = 0, 0
			return 0, ErrBadReply
		}
		line := b[pos+1 : pos+nl-1]
		t := b[pos]
		next := pos + nl + 1
		switch t {
		case '+', '-', ':', '_', ',', '#', '(':
			pending--
		case '$', '!', '=':
			n, ok := parseInt(line)
			if !ok || n < -1 || (n == -1 && t != '$') {
				s.pos, s.pending = 0, 0
				return 0, ErrBadReply
			}
			if n >= 0 {
				if int64(len(b)-next) < n+2 {
					s.pos, s.pending = pos, pending
					return 0, nil
				}
				next += int(n)
				if b[next] != '\r' || b[next+1] != '\n' {
					s.pos, s.pending = 0, 0
					return 0, ErrBadReply
				}
				next += 2
			}
			pending--
		case '*', '~', '>', '%', '|':
			n, ok := parseInt(line)
			if !ok || n < -1 || (n == -1 && t != '*') || n > 1<<40 {
				s.pos, s.pending = 0, 0
				return 0, ErrBadReply
			}
			pending--
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
			s.pos, s.pending = 0, 0
			return 0, ErrBadReply
		}
		pos = next
	}
	s.pos, s.pending = 0, 0
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
