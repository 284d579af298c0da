package resp

import "bytes"

// Helpers that look inside one complete reply frame (as framed by
// ScanReply). They never allocate beyond the caller's dst and treat any
// malformed input as "not that shape" (ok=false), so they are safe on
// untrusted bytes.

// header parses the first line of a frame: its type byte, the number it
// carries (length or count, for the types that have one) and where the
// payload starts.
func header(f []byte) (typ byte, n int64, body int, ok bool) {
	if len(f) < 3 {
		return 0, 0, 0, false
	}
	i := bytes.IndexByte(f, '\r')
	if i < 1 || i+1 >= len(f) || f[i+1] != '\n' {
		return 0, 0, 0, false
	}
	typ = f[0]
	switch typ {
	case '$', '*', '%', '~', '>', '=', '!', ':':
		v, ok := parseInt(f[1:i])
		if !ok {
			return 0, 0, 0, false
		}
		return typ, v, i + 2, true
	}
	return typ, 0, i + 2, true
}

// Elements appends the element frames of an aggregate reply (array *, set
// ~, push >, map %: keys and values alternate) to dst[:0]. A null array or
// a RESP3 null gives null=true. ok is false for anything else.
func Elements(f []byte, dst [][]byte) (elems [][]byte, null, ok bool) {
	typ, n, pos, ok := header(f)
	if !ok {
		if len(f) == 3 && f[0] == '_' {
			return dst[:0], true, true
		}
		return dst[:0], false, false
	}
	switch typ {
	case '*', '~', '>':
	case '%':
		n *= 2
	case '_':
		return dst[:0], true, true
	default:
		return dst[:0], false, false
	}
	if n < 0 {
		return dst[:0], typ == '*', typ == '*'
	}
	dst = dst[:0]
	for i := int64(0); i < n; i++ {
		m, err := ScanReply(f[pos:])
		if err != nil || m == 0 {
			return dst[:0], false, false
		}
		dst = append(dst, f[pos:pos+m])
		pos += m
	}
	return dst, false, pos == len(f)
}

// StringValue returns the payload of a bulk string ($), simple string (+)
// or verbatim string (=, without its "txt:" format prefix).
func StringValue(f []byte) ([]byte, bool) {
	typ, n, pos, ok := header(f)
	if !ok {
		return nil, false
	}
	switch typ {
	case '+':
		return f[1 : pos-2], true
	case '$', '=':
		if n < 0 || int64(len(f)-pos) != n+2 {
			return nil, false
		}
		v := f[pos : pos+int(n)]
		if typ == '=' {
			if len(v) < 4 {
				return nil, false
			}
			v = v[4:]
		}
		return v, true
	}
	return nil, false
}

// IntValue returns the value of an integer reply (:).
func IntValue(f []byte) (int64, bool) {
	typ, n, _, ok := header(f)
	if !ok || typ != ':' {
		return 0, false
	}
	return n, true
}

// IsNull reports a null reply: $-1, *-1 or RESP3's _.
func IsNull(f []byte) bool {
	switch string(f) {
	case "$-1\r\n", "*-1\r\n", "_\r\n":
		return true
	}
	return false
}
