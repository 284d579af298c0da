package resp

import (
	"bytes"
	"errors"
	"io"
)

// Limits that redis-server 7.0.15 applies to requests (networking.c).
const (
	// InlineMax is PROTO_INLINE_MAX_SIZE: the longest inline request, and the
	// longest count line of a multibulk request.
	InlineMax = 64 * 1024
	// unauthMultibulk and unauthBulk are the limits for clients that still
	// have to authenticate.
	unauthMultibulk = 10
	unauthBulk      = 16384
	maxMultibulk    = 1<<31 - 1 // INT_MAX
)

// ProtocolError is a malformed request. Its Error text is what Redis puts
// after "-ERR "; the connection is closed after replying it.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "Protocol error: " + e.Msg }

// ErrQueryBufferLimit is returned when one request would need more buffered
// bytes than Reader.MaxQueryBuffer.
var ErrQueryBufferLimit = errors.New("resp: query buffer limit reached")

// Command is one parsed request. Args and Raw point into the Reader's buffers
// and are valid until the next call to ReadBatch.
type Command struct {
	// Args are the arguments, the command name first.
	Args [][]byte
	// Raw is the request in multibulk form, ready to be forwarded upstream.
	// For an inline request it is re-encoded.
	Raw []byte
}

// Reader parses pipelined requests from a connection. It is not safe for
// concurrent use.
type Reader struct {
	rd io.Reader
	// MaxBulkLen is proto-max-bulk-len: a larger bulk length is a protocol
	// error, detected before the payload is buffered.
	MaxBulkLen int64
	// MaxQueryBuffer caps the bytes buffered for one incomplete request
	// (client-query-buffer-limit); 0 means 1GiB.
	MaxQueryBuffer int
	// Unauthenticated applies Redis's stricter limits for clients that must
	// still AUTH.
	Unauthenticated bool

	buf  []byte // buf[r:w] is unparsed input
	r, w int
	err  error // sticky read error, reported once buffered commands are consumed

	cmds    []Command
	args    [][]byte
	inline  []byte // re-encoded inline requests (Raw) and their unescaped args
	argOffs []int  // scratch for inline argument offsets
}

// NewReader returns a Reader on rd with Redis's default limits.
func NewReader(rd io.Reader) *Reader {
	return &Reader{rd: rd, MaxBulkLen: 512 << 20, buf: make([]byte, 16*1024)}
}

// Buffered reports how many unparsed bytes are buffered.
func (r *Reader) Buffered() int { return r.w - r.r }

// ReadBatch returns the complete commands already buffered, reading from the
// connection only when none is. At most max commands are returned (0 = no
// cap). Commands parsed before a protocol error are returned together with
// the *ProtocolError, which the caller replies after them. The returned slice
// and everything it points to are valid until the next ReadBatch or Fill.
func (r *Reader) ReadBatch(max int) ([]Command, error) {
	r.cmds = r.cmds[:0]
	r.args = r.args[:0]
	r.inline = r.inline[:0]
	for {
		perr := r.parse(max)
		if len(r.cmds) > 0 || perr != nil {
			return r.cmds, perr
		}
		if r.err != nil {
			return nil, r.err
		}
		if err := r.fill(); err != nil {
			r.err = err
		}
	}
}

// Fill reads more input into the buffer without parsing it. The proxy uses
// it to notice a client that hangs up while its blocking command waits.
// Unlike the reads ReadBatch makes, it never moves buffered bytes, so the
// commands of the batch being executed stay valid; data read here is parsed
// by the next ReadBatch. A timeout (the caller interrupting it with a
// deadline) is returned but not remembered. It must not be called
// concurrently with ReadBatch.
func (r *Reader) Fill() error {
	if r.err != nil {
		return r.err
	}
	if r.w == len(r.buf) {
		if err := r.grow(); err != nil {
			return err
		}
	}
	n, err := r.rd.Read(r.buf[r.w:])
	r.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
		return err
	}
	r.err = err
	return err
}

// grow moves the unparsed bytes into a new buffer twice as large (at most
// maxQuery). The old array is left as it was, so slices of the batch being
// executed stay valid.
func (r *Reader) grow() error {
	if len(r.buf) >= r.maxQuery() {
		return ErrQueryBufferLimit
	}
	nb := make([]byte, min(2*len(r.buf), r.maxQuery()))
	r.w = copy(nb, r.buf[r.r:r.w])
	r.r = 0
	r.buf = nb
	return nil
}

func (r *Reader) maxQuery() int {
	if r.MaxQueryBuffer > 0 {
		return r.MaxQueryBuffer
	}
	return 1 << 30
}

// fill reads once into the free space of buf, compacting or growing it
// first. The buffer grows only when the unparsed request already fills it,
// so memory follows bytes received, never lengths claimed.
func (r *Reader) fill() error {
	if r.r == r.w {
		r.r, r.w = 0, 0
		if cap(r.buf) > 1<<20 { // release a large buffer once it drained
			r.buf = make([]byte, 16*1024)
		}
	}
	if r.w == len(r.buf) {
		if r.r > 0 {
			r.w = copy(r.buf, r.buf[r.r:r.w])
			r.r = 0
		} else if err := r.grow(); err != nil {
			return err
		}
	}
	n, err := r.rd.Read(r.buf[r.w:])
	r.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// parse consumes complete commands from buf[r:w] into r.cmds.
func (r *Reader) parse(max int) error {
	for r.r < r.w && (max <= 0 || len(r.cmds) < max) {
		var ok bool
		var err error
		if r.buf[r.r] == '*' {
			ok, err = r.parseMultibulk()
		} else {
			ok, err = r.parseInline()
		}
		if err != nil || !ok {
			return err
		}
	}
	return nil
}

// parseMultibulk parses one "*N\r\n$L\r\n..." request at buf[r.r:]. It
// returns false, nil when the request is incomplete. Its checks and their
// order follow processMultibulkBuffer in redis-server 7.0.15.
func (r *Reader) parseMultibulk() (bool, error) {
	b := r.buf[r.r:r.w]
	nl := bytes.IndexByte(b, '\r')
	if nl < 0 {
		if len(b) > InlineMax {
			return false, &ProtocolError{"too big mbulk count string"}
		}
		return false, nil
	}
	if nl > len(b)-2 { // "\r" but not yet "\n"
		return false, nil
	}
	count, ok := parseInt(b[1:nl])
	if !ok || count > maxMultibulk {
		return false, &ProtocolError{"invalid multibulk length"}
	}
	if count > unauthMultibulk && r.Unauthenticated {
		return false, &ProtocolError{"unauthenticated multibulk length"}
	}
	pos := nl + 2
	if count <= 0 {
		r.r += pos // Redis skips empty and negative-count requests
		return true, nil
	}
	start := len(r.args)
	for i := int64(0); i < count; i++ {
		rest := b[pos:]
		nl = bytes.IndexByte(rest, '\r')
		if nl < 0 {
			// Redis measures what is left after the arguments it has
			// already consumed, not the whole request.
			if len(rest) > InlineMax {
				r.args = r.args[:start]
				return false, &ProtocolError{"too big bulk count string"}
			}
			r.args = r.args[:start]
			return false, nil
		}
		if nl > len(rest)-2 {
			r.args = r.args[:start]
			return false, nil
		}
		if rest[0] != '$' {
			r.args = r.args[:start]
			return false, &ProtocolError{"expected '$', got '" + printable(rest[0]) + "'"}
		}
		n, ok := parseInt(rest[1:nl])
		if !ok || n < 0 || n > r.MaxBulkLen {
			r.args = r.args[:start]
			return false, &ProtocolError{"invalid bulk length"}
		}
		if n > unauthBulk && r.Unauthenticated {
			r.args = r.args[:start]
			return false, &ProtocolError{"unauthenticated bulk length"}
		}
		need := int64(nl) + 2 + n + 2
		if int64(len(rest)) < need {
			r.args = r.args[:start]
			if need+int64(pos) > int64(r.maxQuery()) {
				return false, ErrQueryBufferLimit
			}
			return false, nil
		}
		arg := rest[nl+2 : int64(nl)+2+n]
		r.args = append(r.args, arg[:len(arg):len(arg)])
		pos += int(need) // the two bytes after the payload are skipped unchecked, as Redis does
	}
	r.cmds = append(r.cmds, Command{Args: r.args[start:len(r.args):len(r.args)], Raw: b[:pos:pos]})
	r.r += pos
	return true, nil
}

// parseInline parses one inline (telnet) request, as processInlineBuffer
// and sdssplitargs do.
func (r *Reader) parseInline() (bool, error) {
	b := r.buf[r.r:r.w]
	nl := bytes.IndexByte(b, '\n')
	if nl >= 0 && bytes.IndexByte(b[:nl], 0) >= 0 {
		nl = -1 // Redis searches with strchr, which stops at a NUL byte
	}
	if nl < 0 {
		if len(b) > InlineMax {
			return false, &ProtocolError{"too big inline request"}
		}
		return false, nil
	}
	line := b[:nl]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	r.argOffs = r.argOffs[:0]
	base := len(r.inline)
	var ok bool
	r.inline, r.argOffs, ok = splitArgs(r.inline, r.argOffs, line)
	if !ok {
		r.inline = r.inline[:base]
		return false, &ProtocolError{"unbalanced quotes in request"}
	}
	r.r += nl + 1
	if len(r.argOffs) == 0 {
		return true, nil
	}
	// r.inline[base:] holds the unescaped args back to back; append the
	// multibulk encoding after them. Slices are taken only after the last
	// append of this command. If a later command of the same batch makes
	// r.inline grow, earlier commands keep pointing at the old array, which
	// stays alive and is never written again before the next ReadBatch.
	nargs := len(r.argOffs) / 2
	rawStart := len(r.inline)
	r.inline = appendArrayHeader(r.inline, nargs)
	for i := 0; i < nargs; i++ {
		lo, hi := base+r.argOffs[2*i], base+r.argOffs[2*i+1]
		r.inline = appendBulkHeader(r.inline, hi-lo)
		r.inline = append(r.inline, r.inline[lo:hi]...)
		r.inline = append(r.inline, '\r', '\n')
	}
	start := len(r.args)
	for i := 0; i < nargs; i++ {
		a := r.inline[base+r.argOffs[2*i] : base+r.argOffs[2*i+1]]
		r.args = append(r.args, a[:len(a):len(a)])
	}
	r.cmds = append(r.cmds, Command{Args: r.args[start:len(r.args):len(r.args)], Raw: r.inline[rawStart:len(r.inline):len(r.inline)]})
	return true, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f'
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// splitArgs is sdssplitargs: it appends each unescaped argument to dst and
// its [start,end) offsets (relative to len(dst) on entry) to offs.
func splitArgs(dst []byte, offs []int, line []byte) ([]byte, []int, bool) {
	base := len(dst)
	p := 0
	at := func(i int) byte { // C string semantics: past the end reads NUL
		if i < len(line) {
			return line[i]
		}
		return 0
	}
	for {
		for p < len(line) && isSpace(line[p]) {
			p++
		}
		if at(p) == 0 {
			return dst, offs, true
		}
		start := len(dst) - base
		inq, insq, done := false, false, false
		for !done {
			c := at(p)
			switch {
			case inq:
				switch {
				case c == '\\' && at(p+1) == 'x' && isHex(at(p+2)) && isHex(at(p+3)):
					dst = append(dst, hexVal(at(p+2))<<4|hexVal(at(p+3)))
					p += 3
				case c == '\\' && at(p+1) != 0:
					p++
					e := at(p)
					switch e {
					case 'n':
						e = '\n'
					case 'r':
						e = '\r'
					case 't':
						e = '\t'
					case 'b':
						e = '\b'
					case 'a':
						e = '\a'
					}
					dst = append(dst, e)
				case c == '"':
					if n := at(p + 1); n != 0 && !isSpace(n) {
						return dst, offs, false
					}
					done = true
				case c == 0:
					return dst, offs, false
				default:
					dst = append(dst, c)
				}
			case insq:
				switch {
				case c == '\\' && at(p+1) == '\'':
					p++
					dst = append(dst, '\'')
				case c == '\'':
					if n := at(p + 1); n != 0 && !isSpace(n) {
						return dst, offs, false
					}
					done = true
				case c == 0:
					return dst, offs, false
				default:
					dst = append(dst, c)
				}
			default:
				switch c {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inq = true
				case '\'':
					insq = true
				default:
					dst = append(dst, c)
				}
			}
			if at(p) != 0 {
				p++
			}
		}
		offs = append(offs, start, len(dst)-base)
	}
}

// parseInt is Redis's string2ll: an optional '-', no '+', no leading zeros,
// no spaces, at most 20 characters, no overflow.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if v > (1<<64-1)/10 {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
		if v < uint64(c-'0') {
			return 0, false
		}
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

// ParseInt parses a decimal integer exactly as Redis's string2ll does.
func ParseInt(b []byte) (int64, bool) { return parseInt(b) }

func printable(c byte) string {
	if c == '\r' || c == '\n' {
		return " " // addReplyErrorFormat maps CR and LF to spaces
	}
	return string([]byte{c})
}
