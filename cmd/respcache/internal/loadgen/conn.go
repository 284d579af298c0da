package loadgen

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/respcache/respcache/resp"
)

// conn is one client connection: raw RESP over TCP, replies framed in place
// by resp.ReplyScanner, so reading a reply copies and allocates nothing.
// Owned by one goroutine, except SetDeadline which stop() may call from
// another (net.Conn allows that).
type conn struct {
	nc      net.Conn
	timeout time.Duration

	buf        []byte // read buffer; buf[start:end] is received, not yet consumed
	start, end int
	scan       resp.ReplyScanner
	readAt     time.Time // when the last Read returned
	deadline   time.Time // the deadline currently set on nc
}

// readBufSize is the initial read buffer; it grows to the largest reply.
const readBufSize = 64 << 10

// dial connects and runs the handshake Options ask for: AUTH, HELLO 3,
// SELECT, in that order (each only when needed, so that proxies which
// refuse them, like twemproxy, still work with the defaults).
func dial(ctx context.Context, o *Options) (*conn, error) {
	d := net.Dialer{Timeout: o.Timeout}
	nc, err := d.DialContext(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("loadgen: dial %s: %w", o.Addr, err)
	}
	c := &conn{nc: nc, timeout: o.Timeout, buf: make([]byte, readBufSize)}
	var hs [][]string
	if o.Password != "" {
		hs = append(hs, []string{"AUTH", o.Password})
	}
	if o.RESP == 3 {
		hs = append(hs, []string{"HELLO", "3"})
	}
	if o.DB != 0 {
		hs = append(hs, []string{"SELECT", strconv.Itoa(o.DB)})
	}
	for _, args := range hs {
		reply, err := c.do(args...)
		if err != nil {
			nc.Close()
			return nil, err
		}
		if text, isErr := errorText(reply); isErr {
			nc.Close()
			return nil, fmt.Errorf("%w: %s: %s", ErrHandshake, args[0], text)
		}
	}
	return c, nil
}

// do sends one command and returns its reply, valid until the next read.
// It is for the handshake and INFO, not the load loop.
func (c *conn) do(args ...string) ([]byte, error) {
	c.refreshDeadline(time.Now())
	if _, err := c.nc.Write(resp.AppendCommandStrings(nil, args...)); err != nil {
		return nil, fmt.Errorf("loadgen: %s: %w", args[0], err)
	}
	reply, err := c.next()
	if err != nil {
		return nil, fmt.Errorf("loadgen: %s: %w", args[0], err)
	}
	return reply, nil
}

// refreshDeadline keeps a deadline of about timeout ahead of now. Setting a
// deadline re-arms a runtime timer, so it is done only when the current one
// has less than 90% of the timeout left, not once per batch: a stalled
// connection fails after 0.9 to 1 timeout.
func (c *conn) refreshDeadline(now time.Time) {
	if c.timeout <= 0 || c.deadline.Sub(now) > c.timeout-c.timeout/10 {
		return
	}
	c.deadline = now.Add(c.timeout)
	c.nc.SetDeadline(c.deadline)
}

// next returns the next reply frame, reading as needed; RESP3 push frames
// (out-of-band, not answers to a command) are skipped. The slice aliases
// the read buffer and is valid until the next call.
func (c *conn) next() ([]byte, error) {
	for {
		if c.start < c.end {
			n, err := c.scan.Scan(c.buf[c.start:c.end])
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrBadReply, err)
			}
			if n > 0 {
				frame := c.buf[c.start : c.start+n]
				c.start += n
				if frame[0] == '>' {
					continue
				}
				return frame, nil
			}
		}
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads more bytes, first making room: unconsumed bytes move to the
// front, and the buffer doubles when a single reply fills it.
func (c *conn) fill() error {
	if c.start == c.end {
		c.start, c.end = 0, 0
	} else if c.end == len(c.buf) {
		if c.start > 0 {
			c.end = copy(c.buf, c.buf[c.start:c.end])
			c.start = 0
		} else {
			nb := make([]byte, 2*len(c.buf))
			c.end = copy(nb, c.buf[:c.end])
			c.buf = nb
		}
	}
	n, err := c.nc.Read(c.buf[c.end:])
	c.readAt = time.Now()
	c.end += n
	if n > 0 {
		return nil
	}
	return err
}

func (c *conn) close() error { return c.nc.Close() }

// errorText returns the text of an error reply (RESP2 "-…" or RESP3 blob
// error "!…") and true, or nil and false.
func errorText(reply []byte) ([]byte, bool) {
	if text, ok := resp.IsError(reply); ok {
		return text, true
	}
	if len(reply) > 0 && reply[0] == '!' {
		return bulkPayload(reply), true
	}
	return nil, false
}

// bulkPayload returns the payload of a complete bulk-like frame ($, !, =),
// or nil for a null or anything else.
func bulkPayload(frame []byte) []byte {
	if len(frame) < 4 {
		return nil
	}
	for i := 1; i < len(frame)-1; i++ {
		if frame[i] == '\r' && frame[i+1] == '\n' {
			n, err := strconv.Atoi(string(frame[1:i]))
			if err != nil || n < 0 || i+2+n > len(frame) {
				return nil
			}
			return frame[i+2 : i+2+n]
		}
	}
	return nil
}
