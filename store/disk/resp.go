package disk

import (
	"math"
	"strconv"
)

// writer appends RESP replies to a caller-owned buffer, in the protocol
// version of the connection (2 or 3). The methods that differ between the
// two versions (null, map, set, double, push of nulls) hide the difference
// from handlers, so a handler is written once for both.
type writer struct {
	b     []byte
	proto int // 2 or 3
}

// simple appends a status reply: +s.
func (w *writer) simple(s string) {
	w.b = append(w.b, '+')
	w.b = append(w.b, s...)
	w.b = append(w.b, '\r', '\n')
}

// ok appends +OK.
func (w *writer) ok() { w.b = append(w.b, "+OK\r\n"...) }

// err appends an error reply; msg must include the code (ERR, WRONGTYPE…).
// CR and LF are replaced by spaces, as Redis does, so that a message that
// quotes user input cannot break the protocol.
func (w *writer) err(msg string) {
	w.b = append(w.b, '-')
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		w.b = append(w.b, c)
	}
	w.b = append(w.b, '\r', '\n')
}

// int appends an integer reply.
func (w *writer) int(n int64) {
	w.b = append(w.b, ':')
	w.b = strconv.AppendInt(w.b, n, 10)
	w.b = append(w.b, '\r', '\n')
}

// bulk appends a bulk string.
func (w *writer) bulk(p []byte) {
	w.b = append(w.b, '$')
	w.b = strconv.AppendInt(w.b, int64(len(p)), 10)
	w.b = append(w.b, '\r', '\n')
	w.b = append(w.b, p...)
	w.b = append(w.b, '\r', '\n')
}

// bulkString appends a bulk string from a Go string.
func (w *writer) bulkString(s string) {
	w.b = append(w.b, '$')
	w.b = strconv.AppendInt(w.b, int64(len(s)), 10)
	w.b = append(w.b, '\r', '\n')
	w.b = append(w.b, s...)
	w.b = append(w.b, '\r', '\n')
}

// bulkInt appends n formatted as a bulk string (HINCRBY-style replies that
// Redis sends as bulk, e.g. SCAN cursors).
func (w *writer) bulkInt(n int64) {
	var tmp [20]byte
	w.bulk(strconv.AppendInt(tmp[:0], n, 10))
}

// bulkUint appends n formatted as a bulk string.
func (w *writer) bulkUint(n uint64) {
	var tmp [20]byte
	w.bulk(strconv.AppendUint(tmp[:0], n, 10))
}

// null appends the null bulk string: $-1 in RESP2, _ in RESP3.
func (w *writer) null() {
	if w.proto == 3 {
		w.b = append(w.b, "_\r\n"...)
		return
	}
	w.b = append(w.b, "$-1\r\n"...)
}

// nullArray appends the null array: *-1 in RESP2, _ in RESP3 (EXEC aborted
// by WATCH, BLPOP timeout).
func (w *writer) nullArray() {
	if w.proto == 3 {
		w.b = append(w.b, "_\r\n"...)
		return
	}
	w.b = append(w.b, "*-1\r\n"...)
}

func (w *writer) header(c byte, n int) {
	w.b = append(w.b, c)
	w.b = strconv.AppendInt(w.b, int64(n), 10)
	w.b = append(w.b, '\r', '\n')
}

// array appends an array header of n elements.
func (w *writer) array(n int) { w.header('*', n) }

// mapHeader appends a map header of n key/value pairs: %n in RESP3, an array
// of 2n elements in RESP2. The caller then appends 2n values.
func (w *writer) mapHeader(n int) {
	if w.proto == 3 {
		w.header('%', n)
		return
	}
	w.header('*', 2*n)
}

// setHeader appends a set header: ~n in RESP3, *n in RESP2.
func (w *writer) setHeader(n int) {
	if w.proto == 3 {
		w.header('~', n)
		return
	}
	w.header('*', n)
}

// double appends a double as Redis 7.0's addReplyDouble does: a bulk string
// of "%.17g" in RESP2, a ,double in RESP3; infinities as inf/-inf.
func (w *writer) double(f float64) {
	var tmp [32]byte
	var s []byte
	switch {
	case math.IsInf(f, 1):
		s = append(tmp[:0], "inf"...)
	case math.IsInf(f, -1):
		s = append(tmp[:0], "-inf"...)
	default:
		s = appendG17(tmp[:0], f)
	}
	if w.proto == 3 {
		w.b = append(w.b, ',')
		w.b = append(w.b, s...)
		w.b = append(w.b, '\r', '\n')
		return
	}
	w.bulk(s)
}

// boolean appends a RESP3 boolean, or the integer 1/0 in RESP2.
func (w *writer) boolean(v bool) {
	if w.proto == 3 {
		if v {
			w.b = append(w.b, "#t\r\n"...)
		} else {
			w.b = append(w.b, "#f\r\n"...)
		}
		return
	}
	if v {
		w.int(1)
	} else {
		w.int(0)
	}
}

// verbatim appends a RESP3 verbatim string of format "txt" (INFO), or a bulk
// string in RESP2.
func (w *writer) verbatim(s string) {
	if w.proto == 3 {
		w.b = append(w.b, '=')
		w.b = strconv.AppendInt(w.b, int64(len(s)+4), 10)
		w.b = append(w.b, "\r\ntxt:"...)
		w.b = append(w.b, s...)
		w.b = append(w.b, '\r', '\n')
		return
	}
	w.bulkString(s)
}

// raw appends already-encoded RESP.
func (w *writer) raw(p []byte) { w.b = append(w.b, p...) }

// appendG17 formats f as C's printf("%.17g").
func appendG17(dst []byte, f float64) []byte {
	return strconv.AppendFloat(dst, f, 'g', 17, 64)
}
