package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"time"
)

type pinKey struct {
	addr      string
	db, proto int
}

// Pinned is an upstream connection owned by one client while the state it
// carries lasts (a transaction, a subscription, a blocking command). It is
// not safe for concurrent use, except that Write may run concurrently with
// ReadReply (a subscriber's commands and its message pump).
type Pinned struct {
	c    *Client
	key  pinKey
	conn net.Conn
	rr   *replyReader
	id   int64       // the server's CLIENT ID for this connection
	bad  atomic.Bool // an I/O error or cancellation left the connection unusable (set by the pump too)
	// idleSince is when the connection was last put in the idle pool.
	idleSince time.Time
}

// Pin returns a pinned connection to node n (nil: the master, or any node of
// a cluster) with the given database and RESP version selected. It fails
// with ErrTooManyPinned when Config.MaxPinned connections are pinned.
func (c *Client) Pin(ctx context.Context, n *Node, db, proto int) (*Pinned, error) {
	if n == nil {
		var err error
		if n, err = c.Route(-1); err != nil {
			return nil, err
		}
	}
	select {
	case c.pinned <- struct{}{}:
	default:
		return nil, fmt.Errorf("%w (backend.redis.max_pinned is %d)", ErrTooManyPinned, c.cfg.MaxPinned)
	}
	key := pinKey{n.Addr(), db, proto}
	defer c.refillIdle(key)
	if p := c.takeIdle(key); p != nil {
		return p, nil
	}
	p, err := c.dialPinned(ctx, key)
	if err != nil {
		<-c.pinned
		return nil, err
	}
	return p, nil
}

// minIdlePinned connections per (server, db, protocol) are kept dialled
// once a client has needed one there, so that pinning costs no round trip.
// It matters for ordering, not only latency: a client that sends a blocking
// command and another that then pushes to the same list over a warm lane
// expect the server to see them in that order, as it would directly.
const minIdlePinned = 2

// takeIdle returns an idle connection for key that is still open, or nil.
func (c *Client) takeIdle(key pinKey) *Pinned {
	for {
		c.idleMu.Lock()
		list := c.idle[key]
		if len(list) == 0 {
			c.idleMu.Unlock()
			return nil
		}
		p := list[len(list)-1]
		c.idle[key] = list[:len(list)-1]
		c.idleMu.Unlock()
		// A connection idle for long may have been closed by the server
		// (restart, timeout); one just released is used without the probe,
		// which would delay its command.
		if time.Since(p.idleSince) < time.Second || p.alive() {
			return p
		}
		p.conn.Close()
	}
}

// alive checks, without blocking, that the server has not closed an idle
// connection (a restart, its timeout) nor sent anything on it.
func (p *Pinned) alive() bool {
	var b [1]byte
	p.conn.SetReadDeadline(time.Now())
	n, err := p.conn.Read(b[:])
	p.conn.SetReadDeadline(time.Time{})
	var ne net.Error
	return n == 0 && errors.As(err, &ne) && ne.Timeout()
}

// refillIdle dials, in the background, the idle connections key lacks.
// One refill per key runs at a time.
func (c *Client) refillIdle(key pinKey) {
	c.idleMu.Lock()
	if len(c.idle[key]) >= minIdlePinned || c.refilling[key] || c.ctx.Err() != nil {
		c.idleMu.Unlock()
		return
	}
	c.refilling[key] = true
	c.idleMu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() {
			c.idleMu.Lock()
			delete(c.refilling, key)
			c.idleMu.Unlock()
		}()
		for {
			c.idleMu.Lock()
			n := len(c.idle[key])
			c.idleMu.Unlock()
			if n >= minIdlePinned || c.ctx.Err() != nil {
				return
			}
			p, err := c.dialPinned(c.ctx, key)
			if err != nil {
				return
			}
			c.idleMu.Lock()
			if c.ctx.Err() != nil {
				c.idleMu.Unlock()
				p.conn.Close()
				return
			}
			c.idle[key] = append(c.idle[key], p)
			c.idleMu.Unlock()
		}
	}()
}

// dialPinned opens a connection for key and learns its server-side id.
func (c *Client) dialPinned(ctx context.Context, key pinKey) (*Pinned, error) {
	conn, err := c.dial(ctx, key.addr, key.db, key.proto, c.cfg.Topology == Sentinel)
	if err != nil {
		return nil, err
	}
	p := &Pinned{c: c, key: key, conn: conn, rr: newReplyReader(conn)}
	// The server's id for this connection, so that CLIENT UNBLOCK and
	// tracking REDIRECT naming a respcache client can be translated. A
	// server that refuses CLIENT ID (renamed, ACL) leaves it 0.
	reply, err := p.Do(ctx, []byte("*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n"), nil, c.cfg.ReadTimeout)
	if err != nil {
		conn.Close()
		return nil, err
	}
	if len(reply) > 3 && reply[0] == ':' {
		p.id, _ = strconv.ParseInt(string(reply[1:len(reply)-2]), 10, 64)
	}
	return p, nil
}

// ID is the server's client id of this connection (0 if unknown).
func (p *Pinned) ID() int64 { return p.id }

// Addr is the address of the server the connection is pinned to.
func (p *Pinned) Addr() string { return p.key.addr }

// watch expires the connection's deadlines when ctx is cancelled, which
// unblocks any read or write in progress. The returned stop must be called
// when the I/O is over.
func (p *Pinned) watch(ctx context.Context) (stop func() bool) {
	return context.AfterFunc(ctx, func() {
		p.conn.SetDeadline(time.Unix(1, 0))
	})
}

func (p *Pinned) fail(err error) error {
	p.bad.Store(true)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%w: no reply within the read timeout", ErrUnavailable)
	}
	return fmt.Errorf("%w: %v", ErrUnavailable, err)
}

// Do sends raw and appends the one reply to dst. timeout bounds the wait
// for the reply (0: wait until ctx is cancelled, for blocking commands).
func (p *Pinned) Do(ctx context.Context, raw, dst []byte, timeout time.Duration) ([]byte, error) {
	if err := p.Write(ctx, raw); err != nil {
		return dst, err
	}
	return p.Read(ctx, dst, timeout)
}

// Read appends the reply to a command sent with Write (and any pushes that
// precede it) to dst. timeout as for Do.
func (p *Pinned) Read(ctx context.Context, dst []byte, timeout time.Duration) ([]byte, error) {
	if p.bad.Load() {
		return dst, fmt.Errorf("%w: pinned connection broken", ErrUnavailable)
	}
	stop := p.watch(ctx)
	defer stop()
	if timeout > 0 {
		p.conn.SetReadDeadline(time.Now().Add(timeout))
	} else {
		p.conn.SetReadDeadline(time.Time{})
	}
	for {
		start := len(dst)
		out, err := p.rr.nextInto(dst)
		if err != nil {
			if ctx.Err() != nil {
				p.bad.Store(true)
				return dst, ctx.Err()
			}
			return dst, p.fail(err)
		}
		dst = out
		if out[start] != '>' {
			return out, nil
		}
		// A push precedes the reply it came with: keep reading.
	}
}

// Write sends raw without waiting for a reply.
func (p *Pinned) Write(ctx context.Context, raw []byte) error {
	if p.bad.Load() {
		return fmt.Errorf("%w: pinned connection broken", ErrUnavailable)
	}
	p.conn.SetWriteDeadline(time.Now().Add(p.c.cfg.WriteTimeout))
	if _, err := p.conn.Write(raw); err != nil {
		if ctx.Err() != nil {
			p.bad.Store(true)
			return ctx.Err()
		}
		return p.fail(err)
	}
	return nil
}

// ReadReply appends the next reply or push message to dst, waiting until
// one arrives or ctx is cancelled.
func (p *Pinned) ReadReply(ctx context.Context, dst []byte) ([]byte, error) {
	stop := p.watch(ctx)
	defer stop()
	p.conn.SetReadDeadline(time.Time{})
	out, err := p.rr.nextInto(dst)
	if err != nil {
		if ctx.Err() != nil {
			p.bad.Store(true)
			return dst, ctx.Err()
		}
		return dst, p.fail(err)
	}
	return out, nil
}

// Relay copies everything the server sends, unframed, to w until either
// side fails or ctx is cancelled: for SYNC/PSYNC, whose RDB payload and
// replication stream are not RESP replies. The connection cannot be
// reused afterwards.
func (p *Pinned) Relay(ctx context.Context, w io.Writer) error {
	p.bad.Store(true)
	stop := p.watch(ctx)
	defer stop()
	p.conn.SetReadDeadline(time.Time{})
	if n := p.rr.buffered(); n > 0 {
		if _, err := w.Write(p.rr.buf[p.rr.r:p.rr.w]); err != nil {
			return err
		}
		p.rr.r = p.rr.w
	}
	_, err := io.Copy(w, p.conn)
	return err
}

// Release returns the connection. reusable says the connection carries no
// state any more (no transaction, watch or subscription, same database and
// RESP version as when pinned); otherwise, or after an error, it is closed.
func (p *Pinned) Release(reusable bool) {
	c := p.c
	defer func() { <-c.pinned }()
	if !reusable || p.bad.Load() || p.rr.buffered() > 0 || c.ctx.Err() != nil {
		p.conn.Close()
		return
	}
	c.idleMu.Lock()
	defer c.idleMu.Unlock()
	if list := c.idle[p.key]; len(list) < 16 {
		p.idleSince = time.Now()
		c.idle[p.key] = append(list, p)
		return
	}
	p.conn.Close()
}
