package writeapply

import "strconv"

// Error texts exactly as redis-server 7.0.15 words them (without the leading
// '-' and the trailing CRLF).
const (
	msgWrongType    = "WRONGTYPE Operation against a key holding the wrong kind of value"
	msgNotInt       = "ERR value is not an integer or out of range"
	msgOverflow     = "ERR increment or decrement would overflow"
	msgDecrOverflow = "ERR decrement would overflow"
	msgNotFloat     = "ERR value is not a valid float"
	msgNaNInf       = "ERR increment would produce NaN or Infinity"
	msgIncrNaNInf   = "ERR value is NaN or Infinity"
	msgHashNotInt   = "ERR hash value is not an integer"
	msgHashNotFloat = "ERR hash value is not a float"
	msgSyntax       = "ERR syntax error"
	msgOffset       = "ERR offset is out of range"
	msgTooBig       = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
	msgNXandOthers  = "ERR NX and XX, GT or LT options at the same time are not compatible"
	msgGTandLT      = "ERR GT and LT options at the same time are not compatible"
)

// protoMaxBulkLen is Redis's default proto-max-bulk-len (512MB), the limit
// checkStringLength enforces for APPEND and SETRANGE.
const protoMaxBulkLen = 512 * 1024 * 1024

func appendErr(dst []byte, msg string) []byte {
	dst = append(dst, '-')
	dst = append(dst, msg...)
	return append(dst, '\r', '\n')
}

// appendErrSanitized writes an error whose text includes client input, the
// way addReplyErrorFormat does: the argument is cut at its first NUL (it is
// printed with %s) and CR/LF become spaces so the reply stays one line.
func appendErrSanitized(dst []byte, prefix string, arg []byte, suffix string) []byte {
	dst = append(dst, '-')
	dst = append(dst, prefix...)
	for _, c := range cstr(arg) {
		if c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	dst = append(dst, suffix...)
	return append(dst, '\r', '\n')
}

func appendArityErr(dst []byte, name string) []byte {
	dst = append(dst, "-ERR wrong number of arguments for '"...)
	dst = append(dst, name...)
	return append(dst, "' command\r\n"...)
}

func appendExpireErr(dst []byte, name string) []byte {
	dst = append(dst, "-ERR invalid expire time in '"...)
	dst = append(dst, name...)
	return append(dst, "' command\r\n"...)
}

func appendInt(dst []byte, n int64) []byte {
	dst = append(dst, ':')
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, '\r', '\n')
}

func appendBulk(dst []byte, b []byte) []byte {
	dst = append(dst, '$')
	dst = strconv.AppendInt(dst, int64(len(b)), 10)
	dst = append(dst, '\r', '\n')
	dst = append(dst, b...)
	return append(dst, '\r', '\n')
}

func appendNull(dst []byte, proto int) []byte {
	if proto == RESP3 {
		return append(dst, '_', '\r', '\n')
	}
	return append(dst, '$', '-', '1', '\r', '\n')
}

func appendOK(dst []byte) []byte { return append(dst, "+OK\r\n"...) }

// cstr returns b up to its first NUL byte: Redis compares option names and
// formats some arguments as C strings.
func cstr(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// eqFold reports whether the C string of arg equals opt (lower-case ASCII),
// ignoring case: Redis's strcasecmp on an sds.
func eqFold(arg []byte, opt string) bool {
	arg = cstr(arg)
	if len(arg) != len(opt) {
		return false
	}
	for i, c := range arg {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != opt[i] {
			return false
		}
	}
	return true
}

// parseInt is Redis's string2ll: the canonical decimal form of a signed
// 64-bit integer and nothing else (no sign '+', no spaces, no leading zeros,
// not "-0", fewer than 21 bytes).
func parseInt(s []byte) (int64, bool) {
	if len(s) == 0 || len(s) >= 21 {
		return 0, false
	}
	if len(s) == 1 && s[0] == '0' {
		return 0, true
	}
	neg := false
	p := 0
	if s[0] == '-' {
		neg = true
		p++
		if p == len(s) {
			return 0, false
		}
	}
	if s[p] < '1' || s[p] > '9' {
		return 0, false
	}
	var v uint64
	for ; p < len(s); p++ {
		c := s[p]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (1<<64-1)/10 {
			return 0, false
		}
		v *= 10
		d := uint64(c - '0')
		if v > 1<<64-1-d {
			return 0, false
		}
		v += d
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return int64(-v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}
