package redis

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/respcache/respcache/resp"
)

// TrackingConfig configures the invalidation link (see Client.Track).
type TrackingConfig struct {
	// Prefixes limits BCAST tracking to keys with these prefixes; empty
	// means every key.
	Prefixes []string
	// Heartbeat is the period of the link's liveness probe; a link that
	// does not answer within three periods is down. Default 1s.
	Heartbeat time.Duration
	// Invalidate receives the keys another writer changed, in no database
	// in particular (Redis tracking does not say which). nil keys means
	// "everything": after a FLUSHALL/FLUSHDB upstream, or when a link
	// (re)connects and may have missed invalidations. The keys are valid
	// only during the call. Calls are serialized per node.
	Invalidate func(keys [][]byte)
	// State is called with true when every master's link is up, false when
	// one is down. Calls are serialized.
	State func(up bool)
}

// Tracker keeps one CLIENT TRACKING BCAST connection per master node: the
// upstream's invalidation link. See Client.Track.
type Tracker struct {
	c      *Client
	cfg    TrackingConfig
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex // guards links, up
	links map[string]*trackLink
	up    bool

	invals  atomic.Uint64
	flushes atomic.Uint64
}

type trackLink struct {
	addr   string
	cancel context.CancelFunc
	up     atomic.Bool
}

// Track starts the invalidation link: for every master (one, or each
// Cluster master), a RESP3 connection with CLIENT TRACKING ON BCAST. Every
// change of a key on that master, by anyone, arrives as an invalidation
// push and goes to cfg.Invalidate. The heartbeat is CLIENT TRACKINGINFO:
// it proves the connection answers and that tracking is still on for it
// (a CLIENT TRACKING OFF or a server restart would end it); a link that
// does not answer within three periods is declared down. It writes nothing
// to the user's keyspace.
//
// The link follows the topology: a Sentinel failover or a Cluster reshard
// moves or adds links; a new link starts with Invalidate(nil).
func (c *Client) Track(cfg TrackingConfig) *Tracker {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = time.Second
	}
	ctx, cancel := context.WithCancel(c.ctx)
	t := &Tracker{c: c, cfg: cfg, log: c.cfg.Logger, ctx: ctx, cancel: cancel, links: map[string]*trackLink{}}
	t.wg.Add(1)
	go t.manage()
	return t
}

// Close stops every link and waits for its goroutines.
func (t *Tracker) Close() {
	t.cancel()
	t.wg.Wait()
}

// Up reports whether every master's link is established.
func (t *Tracker) Up() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.up
}

// Invalidations returns the number of invalidation pushes received (keys)
// and of flush-everything events.
func (t *Tracker) Invalidations() (keys, flushes uint64) {
	return t.invals.Load(), t.flushes.Load()
}

// manage keeps one link per master address.
func (t *Tracker) manage() {
	defer t.wg.Done()
	tick := time.NewTicker(t.cfg.Heartbeat)
	defer tick.Stop()
	for {
		t.reconcile()
		select {
		case <-t.ctx.Done():
			t.mu.Lock()
			for _, l := range t.links {
				l.cancel()
			}
			t.mu.Unlock()
			return
		case <-tick.C:
		}
	}
}

func (t *Tracker) reconcile() {
	masters, err := t.c.Masters()
	want := map[string]bool{}
	for _, n := range masters {
		if a := n.Addr(); a != "" {
			want[a] = true
		}
	}
	t.mu.Lock()
	for a, l := range t.links {
		if !want[a] {
			l.cancel()
			delete(t.links, a)
		}
	}
	for a := range want {
		if t.links[a] == nil {
			ctx, cancel := context.WithCancel(t.ctx)
			l := &trackLink{addr: a, cancel: cancel}
			t.links[a] = l
			t.wg.Add(1)
			go t.run(ctx, l)
		}
	}
	t.mu.Unlock()
	if err != nil && len(want) == 0 {
		t.log.Debug("tracking: masters not known", "err", err)
	}
	t.setState()
}

// setState recomputes the overall state and reports a change.
func (t *Tracker) setState() {
	t.mu.Lock()
	up := len(t.links) > 0
	for _, l := range t.links {
		up = up && l.up.Load()
	}
	changed := up != t.up
	t.up = up
	if changed && t.cfg.State != nil {
		// Under mu so that State calls are serialized in order.
		t.cfg.State(up)
	}
	t.mu.Unlock()
}

// run keeps one link connected until ctx ends.
func (t *Tracker) run(ctx context.Context, l *trackLink) {
	defer t.wg.Done()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := t.session(ctx, l)
		if l.up.Swap(false) {
			t.setState()
			// The link was up: this is a new outage, not the next failed
			// attempt of the last one (without this, successive cuts of a
			// healthy link waited 50ms, 100ms, ... up to the heartbeat).
			backoff = 50 * time.Millisecond
		}
		if ctx.Err() != nil {
			return
		}
		t.log.Warn("tracking: invalidation link down", "addr", l.addr, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, t.cfg.Heartbeat)
	}
}

// errLinkDead is a link that stopped answering its heartbeat.
var errLinkDead = errors.New("redis: tracking link did not answer its heartbeat")

// session runs one connection of a link: dial, enable tracking, then read
// invalidations and heartbeat until an error.
func (t *Tracker) session(ctx context.Context, l *trackLink) error {
	conn, err := t.c.dial(ctx, l.addr, 0, 3, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	args := []string{"CLIENT", "TRACKING", "ON", "BCAST"}
	for _, p := range t.cfg.Prefixes {
		args = append(args, "PREFIX", p)
	}
	rr := newReplyReader(conn)
	hb := t.cfg.Heartbeat
	conn.SetDeadline(time.Now().Add(max(3*hb, t.c.cfg.DialTimeout)))
	if _, err := conn.Write(appendCmd(nil, args...)); err != nil {
		return err
	}
	reply, err := rr.next()
	if err != nil {
		return err
	}
	if string(reply) != "+OK\r\n" {
		return fmt.Errorf("redis: CLIENT TRACKING refused: %q", reply)
	}
	// Whatever changed while the link was down is unknown: start clean.
	t.flushes.Add(1)
	t.cfg.Invalidate(nil)
	l.up.Store(true)
	t.setState()

	var (
		sent      time.Time
		awaiting  bool // a heartbeat's reply is due
		lastHeard = time.Now()
		elems     [][]byte
		keys      [][]byte
		nextBeat  = time.Now()
		beat      = appendCmd(nil, "CLIENT", "TRACKINGINFO")
	)
	for {
		now := time.Now()
		if now.Sub(lastHeard) > 3*hb || awaiting && now.Sub(sent) > 3*hb {
			return errLinkDead
		}
		if !now.Before(nextBeat) {
			conn.SetWriteDeadline(now.Add(hb))
			if _, err := conn.Write(beat); err != nil {
				return err
			}
			if !awaiting {
				sent, awaiting = now, true
			}
			nextBeat = now.Add(hb)
		}
		conn.SetReadDeadline(nextBeat)
		if err := rr.fill(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		frames, err := rr.frames()
		if err != nil {
			return err
		}
		for _, f := range frames {
			lastHeard = time.Now()
			if f[0] != '>' {
				// The heartbeat's reply: tracking must still be on, in
				// BCAST mode.
				awaiting = false
				if !bytes.Contains(f, []byte("bcast")) {
					return fmt.Errorf("redis: tracking no longer on: %q", f)
				}
				continue
			}
			var ok bool
			elems, _, ok = resp.Elements(f, elems)
			if !ok || len(elems) != 2 {
				continue
			}
			if kind, _ := resp.StringValue(elems[0]); string(kind) != "invalidate" {
				continue
			}
			var null bool
			keys, null, ok = resp.Elements(elems[1], keys)
			if !ok {
				continue
			}
			if null {
				t.flushes.Add(1)
				t.cfg.Invalidate(nil)
				continue
			}
			for i, k := range keys {
				keys[i], _ = resp.StringValue(k)
			}
			t.invals.Add(uint64(len(keys)))
			t.cfg.Invalidate(keys)
		}
		rr.consumed()
	}
}
