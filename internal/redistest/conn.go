package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DefaultReadTimeout bounds every read of a Conn unless SetReadTimeout says
// otherwise. It is generous so that slow CI machines under -race do not
// flake, yet short enough that a hung proxy fails the test with a message
// instead of hitting the go test timeout.
const DefaultReadTimeout = 10 * time.Second

// Conn is a raw RESP client for tests. It returns the exact bytes of each
// reply, so tests can assert byte-for-byte what a server or proxy sent.
//
// Every method that fails calls t.Fatal, so a Conn must be used only from the
// goroutine running the test (testing's rule for FailNow). A Conn is not safe
// for concurrent use. Use the error-returning RawConn for other goroutines.
type Conn struct {
	t   testing.TB
	raw *RawConn
}

// Dial connects to addr and registers Close with t.Cleanup.
func Dial(t testing.TB, addr string) *Conn {
	t.Helper()
	raw, err := DialRaw(addr, 5*time.Second)
	if err != nil {
		t.Fatalf("redistest: dial %s: %v", addr, err)
	}
	t.Cleanup(func() { raw.Close() })
	return &Conn{t: t, raw: raw}
}

// Addr returns the address the Conn was dialed to.
func (c *Conn) Addr() string { return c.raw.addr }

// SetReadTimeout changes the deadline applied to each ReadReply (and Do).
// Zero restores DefaultReadTimeout.
func (c *Conn) SetReadTimeout(d time.Duration) { c.raw.SetReadTimeout(d) }

// Do sends one command and returns the raw bytes of exactly one reply frame
// (see ReadFrame). The returned slice is owned by the caller.
func (c *Conn) Do(args ...string) []byte {
	c.t.Helper()
	c.Send(args...)
	return c.readReply(args)
}

// DoString is Do with the reply as a string, handy for comparisons with
// literals such as "+OK\r\n".
func (c *Conn) DoString(args ...string) string {
	c.t.Helper()
	return string(c.Do(args...))
}

// Send writes one command as a RESP array of bulk strings without reading
// the reply; pair it with ReadReply.
func (c *Conn) Send(args ...string) {
	c.t.Helper()
	if err := c.raw.Send(args...); err != nil {
		c.t.Fatalf("redistest: send %s to %s: %v", quoteArgs(args), c.raw.addr, err)
	}
}

// SendRaw writes b unchanged: inline commands, pipelines, partial frames.
func (c *Conn) SendRaw(b []byte) {
	c.t.Helper()
	if err := c.raw.SendRaw(b); err != nil {
		c.t.Fatalf("redistest: send raw %q to %s: %v", b, c.raw.addr, err)
	}
}

// ReadReply reads exactly one reply frame. It fails the test if nothing
// complete arrives within the read timeout.
func (c *Conn) ReadReply() []byte {
	c.t.Helper()
	return c.readReply(nil)
}

func (c *Conn) readReply(args []string) []byte {
	c.t.Helper()
	b, err := c.raw.ReadReply()
	if err != nil {
		what := "a reply"
		if args != nil {
			what = "the reply to " + quoteArgs(args)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("redistest: waited %v for %s from %s; nothing (complete) arrived: %v",
				c.raw.timeout, what, c.raw.addr, err)
		}
		c.t.Fatalf("redistest: reading %s from %s: %v", what, c.raw.addr, err)
	}
	return b
}

// Close closes the connection. It is safe to call more than once.
func (c *Conn) Close() { c.raw.Close() }

// RawConn is the error-returning core of Conn, usable from any goroutine
// (one at a time) and from code that must not fail a test, such as readiness
// polling.
type RawConn struct {
	addr    string
	nc      net.Conn
	r       *bufio.Reader
	timeout time.Duration
}

// DialRaw connects to addr with the given dial timeout.
func DialRaw(addr string, timeout time.Duration) (*RawConn, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	return &RawConn{addr: addr, nc: nc, r: bufio.NewReader(nc), timeout: DefaultReadTimeout}, nil
}

// SetReadTimeout sets the deadline applied to each read; zero means
// DefaultReadTimeout.
func (c *RawConn) SetReadTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultReadTimeout
	}
	c.timeout = d
}

// Do sends one command and reads one reply frame.
func (c *RawConn) Do(args ...string) ([]byte, error) {
	if err := c.Send(args...); err != nil {
		return nil, err
	}
	return c.ReadReply()
}

// Send writes args as a RESP array of bulk strings.
func (c *RawConn) Send(args ...string) error {
	return c.SendRaw(EncodeCommand(args...))
}

// SendRaw writes b unchanged.
func (c *RawConn) SendRaw(b []byte) error {
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return err
	}
	_, err := c.nc.Write(b)
	return err
}

// ReadReply reads one complete frame with the read timeout as deadline.
func (c *RawConn) ReadReply() ([]byte, error) {
	if err := c.nc.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
		return nil, err
	}
	return ReadFrame(c.r)
}

// Close closes the connection; later calls return an error and do no harm.
func (c *RawConn) Close() error { return c.nc.Close() }

// EncodeCommand returns args as a RESP array of bulk strings, the form every
// Redis client sends.
func EncodeCommand(args ...string) []byte {
	b := make([]byte, 0, 16+16*len(args))
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = strconv.Quote(a)
	}
	return strings.Join(q, " ")
}

// do is a one-shot command on a fresh connection, for helpers that must not
// touch a testing.TB (readiness polls, cleanup of half-started servers).
func do(addr, password string, timeout time.Duration, args ...string) ([]byte, error) {
	c, err := DialRaw(addr, timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetReadTimeout(timeout)
	if password != "" {
		r, err := c.Do("AUTH", password)
		if err != nil {
			return nil, err
		}
		if string(r) != "+OK\r\n" {
			return nil, fmt.Errorf("AUTH: %q", r)
		}
	}
	return c.Do(args...)
}
