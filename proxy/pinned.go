package proxy

import (
	"context"
	"time"

	"github.com/respcache/respcache/resp"
	"github.com/respcache/respcache/store/redis"
)

// A client gets a pinned upstream connection while it holds state that
// lives on a server connection:
//
//   - MULTI ... EXEC/DISCARD and WATCH ... EXEC/DISCARD/UNWATCH: every
//     command in between runs on the pinned connection, in order, one
//     round trip each;
//   - a blocking command outside a transaction: pinned for that command
//     only; while it waits, the client socket is watched, and a client that
//     hangs up cancels it (its connection is closed, which unblocks Redis);
//   - the subscribe family and MONITOR: replies and pushes are relayed by a
//     pump goroutine from then on, for the rest of the connection (or until
//     RESET): a subscriber's connection is dedicated to it in practice, and
//     keeping it pinned avoids having to tell a reply from a push;
//   - CLIENT TRACKING, CACHING and NO-EVICT: for the rest of the connection.
//
// Before the first command that goes to a pinned connection, the client's
// queued lane commands are flushed and answered, so the server sees the
// client's commands in the order they were sent.

// pinFor pins a connection for cmd (node by its keys in a cluster) and
// reports success; on failure the error is in sl.
func (s *session) pinFor(cmd *resp.Command, c *Command, sl *slot) bool {
	s.flushLanes()
	var node *redis.Node
	if s.srv.up.Topology() == redis.Cluster {
		slotNo, ok := s.slotOf(cmd.Args, c, sl)
		if !ok {
			return false
		}
		if slotNo >= 0 {
			n, err := s.srv.up.Route(slotNo)
			if err != nil {
				sl.req.Err = err
				return false
			}
			node = n
		}
	}
	p, err := s.srv.up.Pin(s.ctx, node, s.db, s.proto)
	if err != nil {
		sl.req.Err = err
		return false
	}
	s.pin = p
	s.pinnedID.Store(p.ID())
	s.pinKeyDB, s.pinKeyProto = s.db, s.proto
	s.pinDB, s.pinProt = s.db, s.proto
	return true
}

// unpin releases the pinned connection, reusable only when it carries no
// state and still has the database and protocol it was pinned with.
func (s *session) unpin(reusable bool) {
	if s.pin == nil {
		return
	}
	if s.pumpDone != nil {
		s.cancel() // stops the pump's read
		<-s.pumpDone
		s.pumpDone = nil
		s.ctx, s.cancel = context.WithCancel(context.Background())
		reusable = false
	}
	reusable = reusable && s.pinDB == s.pinKeyDB && s.pinProt == s.pinKeyProto
	s.pin.Release(reusable)
	s.pin = nil
	s.pinnedID.Store(0)
	s.inMulti, s.watching, s.sticky, s.pubsub = false, false, false, false
	s.subscribed.Store(false)
	s.multiDB = -1
}

func (s *session) maybeUnpin() {
	if !s.inMulti && !s.watching && !s.sticky && !s.pubsub {
		s.unpin(true)
	}
}

// pinDo runs raw on the pinned connection into sl. A blocking command waits
// without a timeout, as long as the client is connected.
func (s *session) pinDo(raw []byte, sl *slot, blocking bool) bool {
	if !blocking {
		reply, err := s.pin.Do(s.ctx, raw, sl.req.Reply[:0], s.srv.cfg.UpstreamReadTimeout)
		if err != nil {
			return s.pinFailed(sl, err)
		}
		sl.req.Reply = reply
		return true
	}
	// A blocking command is written before anything else is set up: the
	// server should see it as early as a direct client's, or another
	// client's push sent just after it may overtake it.
	if err := s.pin.Write(s.ctx, raw); err != nil {
		return s.pinFailed(sl, err)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	s.blocked.Store(s.pin)
	stopWatch := s.watchHangup(cancel)
	reply, err := s.pin.Read(ctx, sl.req.Reply[:0], 0)
	s.blocked.Store(nil)
	stopWatch()
	if err != nil {
		return s.pinFailed(sl, err)
	}
	sl.req.Reply = reply
	return true
}

// pinFailed reports a pinned connection's failure in sl and drops the
// connection; it returns false for pinDo.
func (s *session) pinFailed(sl *slot, err error) bool {
	sl.req.Err = err
	s.unpin(false)
	return false
}

// watchHangup reads from the client while a blocking command waits; if the
// client hangs up, cancel is called. Bytes that arrive are kept for the
// next batch. The returned stop interrupts the read and waits for it.
func (s *session) watchHangup(cancel context.CancelFunc) (stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if err := s.rd.Fill(); err != nil {
				if ne, ok := err.(interface{ Timeout() bool }); !ok || !ne.Timeout() {
					cancel()
				}
				return
			}
		}
	}()
	return func() {
		s.conn.SetReadDeadline(time.Unix(1, 0))
		<-done
		s.conn.SetReadDeadline(time.Time{})
	}
}

// blockingOnce runs a blocking command on a connection pinned for it alone.
func (s *session) blockingOnce(cmd *resp.Command, c *Command, sl *slot) {
	if !s.pinFor(cmd, c, sl) {
		return
	}
	if s.pinDo(cmd.Raw, sl, true) {
		s.unpin(true)
	}
}

// dispatchPinned handles a command while a transaction, watch or sticky
// state holds a pinned connection.
func (s *session) dispatchPinned(cmd *resp.Command, c *Command, sl *slot) {
	args := cmd.Args
	name := ""
	if c != nil {
		name = c.Name
	}
	switch name {
	case "quit", "reset", "auth", "hello", "client|setname", "client|getname", "client|id",
		"client|info", "client|list", "client|reply":
		s.local(cmd, c, sl)
		return
	case "select":
		if s.inMulti {
			if db, ok := atoiDB(args[1]); ok {
				s.multiDB = db
			}
			break
		}
		if !c.arityOK(len(args)) {
			sl.errorf(wrongArity(c))
			return
		}
		s.selectDB(args[1], sl)
		if len(sl.req.Reply) > 0 && sl.req.Reply[0] == '+' && s.pinDB != s.db {
			var tmp slot
			if s.pinDo(resp.AppendCommand(nil, []byte("SELECT"), args[1]), &tmp, false) {
				s.pinDB = s.db
			}
		}
		return
	case "subscribe", "psubscribe", "ssubscribe", "monitor", "client|tracking":
		if !s.inMulti {
			s.startPubsub(cmd, c, sl)
			return
		}
	}
	if s.srv.wb != nil && (!s.inMulti || name == "exec") && !s.wbSettle(c, args, sl) {
		return
	}
	if s.inMulti && !s.multiRouted && s.srv.up.Topology() == redis.Cluster && !s.routeMulti(cmd, c, sl) {
		return
	}
	blocking := !s.inMulti && c != nil && isBlocking(c, args)
	off, n := s.beforePinned(c, args)
	if !s.pinDo(cmd.Raw, sl, blocking) {
		if n > 0 {
			s.endWrite(c, args, s.db, off, n)
		}
		return
	}
	s.afterPinned(c, args, sl.req.Reply, s.db, off, n)
	ok := len(sl.req.Reply) > 0 && sl.req.Reply[0] != '-'
	switch name {
	case "multi":
		if ok && !s.inMulti {
			s.multiRouted = false
		}
		s.inMulti = s.inMulti || ok
	case "watch":
		s.watching = s.watching || ok
	case "unwatch":
		if ok {
			s.watching = false
		}
	case "exec", "discard":
		if name == "exec" && s.multiDB >= 0 && ok && sl.req.Reply[0] != '_' && string(sl.req.Reply[:min(3, len(sl.req.Reply))]) != "*-1" {
			s.setDB(s.multiDB)
			s.pinDB = s.multiDB
		}
		s.inMulti, s.watching, s.multiDB = false, false, -1
	}
	s.maybeUnpin()
}

// switchPinnedProto tells a pinned connection about a HELLO that changed
// the client's protocol.
func (s *session) switchPinnedProto() {
	if s.pin == nil || s.pinProt == s.proto {
		return
	}
	var tmp slot
	raw := resp.AppendCommandStrings(nil, "HELLO", itoa(s.proto))
	if s.pubsub {
		// The pump relays the reply: nothing to read here. The client sees
		// the upstream's HELLO reply followed by ours; rare enough.
		if err := s.pin.Write(s.ctx, raw); err == nil {
			s.pinProt = s.proto
		}
		return
	}
	if s.pinDo(raw, &tmp, false) {
		s.pinProt = s.proto
	}
}

// startPubsub pins a connection (if none) and starts the pump that relays
// everything the server sends from now on.
func (s *session) startPubsub(cmd *resp.Command, c *Command, sl *slot) {
	s.startPump(cmd, c, sl, s.pump)
}

// startPump pins a connection (if none), switches the session to pump
// mode, where everything the server sends is relayed by relay in its own
// goroutine, and forwards cmd.
func (s *session) startPump(cmd *resp.Command, c *Command, sl *slot, relay func(context.Context, *redis.Pinned)) {
	if s.pin == nil && !s.pinFor(cmd, c, sl) {
		return
	}
	s.pubsub = true
	s.subscribed.Store(true)
	s.flushOutLocked()
	p, ctx := s.pin, s.ctx
	done := make(chan struct{})
	s.pumpDone = done
	go func() {
		defer close(done)
		relay(ctx, p)
	}()
	s.dispatchPubsub(cmd, c, sl)
}

// flushOutLocked writes replies already decided in this batch before the
// pump starts writing, so they keep their order.
func (s *session) flushOutLocked() {
	s.flushLanes()
	for i := range s.slots {
		sl := &s.slots[i]
		if sl.noReply || (len(sl.req.Reply) == 0 && sl.req.Err == nil) {
			continue
		}
		if sl.req.Err != nil {
			s.out = appendErrorReply(s.out, sl.req.Err)
		} else {
			s.out = append(s.out, sl.req.Reply...)
		}
		sl.noReply = true
	}
	s.flushOut()
}

// pump copies replies and pushes from the pinned connection to the client
// until either side fails or the session ends.
func (s *session) pump(ctx context.Context, p *redis.Pinned) {
	var buf []byte
	for {
		var err error
		buf, err = p.ReadReply(ctx, buf[:0])
		if err != nil {
			if ctx.Err() == nil {
				s.wmu.Lock()
				s.conn.Write(appendErrorReply(nil, err))
				s.wmu.Unlock()
				s.conn.Close()
			}
			return
		}
		s.wmu.Lock()
		_, err = s.conn.Write(buf)
		s.wmu.Unlock()
		if err != nil {
			s.conn.Close()
			return
		}
		if cap(buf) > 64<<10 {
			buf = nil
		}
	}
}

// dispatchPubsub forwards cmd to the subscribed connection; its reply comes
// through the pump. QUIT, RESET and AUTH stay local.
func (s *session) dispatchPubsub(cmd *resp.Command, c *Command, sl *slot) {
	name := ""
	if c != nil {
		name = c.Name
	}
	switch name {
	case "quit", "reset", "auth":
		s.local(cmd, c, sl)
		return
	case "select":
		if len(cmd.Args) == 2 {
			if db, ok := atoiDB(cmd.Args[1]); ok && db >= 0 && db < s.srv.up.Databases() {
				s.setDB(db)
				s.pinDB = db
			}
		}
	case "hello":
		// The upstream answers HELLO here; follow a protocol change so that
		// local replies (QUIT) use it too.
		if len(cmd.Args) >= 2 {
			if v, ok := atoiDB(cmd.Args[1]); ok && (v == 2 || v == 3) {
				s.setProto(v)
				s.pinProt = v
			}
		}
	}
	raw := cmd.Raw
	if name == "client|tracking" {
		raw = s.translateRedirect(cmd.Args, raw)
	}
	sl.noReply = true
	if err := s.pin.Write(s.ctx, raw); err != nil {
		sl.noReply = false
		sl.req.Err = err
		s.closeAfter = true
	}
}

// routeMulti moves a cluster transaction to the node serving its keys. MULTI
// has no keys, so it was pinned to any node; before the first command is
// queued, the still empty transaction is discarded there and opened again
// on the node that serves the first command's keys. Later commands stay on
// that node (keys of other slots get the server's MOVED or CROSSSLOT and
// EXECABORT, as a Redis Cluster client would see). After WATCH the
// connection is already on the watched keys' node. It reports false when
// the error is in sl and the transaction is gone.
func (s *session) routeMulti(cmd *resp.Command, c *Command, sl *slot) bool {
	s.multiRouted = true
	if s.watching || c == nil {
		return true
	}
	var tmp slot
	slotNo, ok := s.slotOf(cmd.Args, c, &tmp)
	if !ok || slotNo < 0 {
		return true // the server answers CROSSSLOT itself
	}
	n, err := s.srv.up.Route(slotNo)
	if err != nil || n.Addr() == s.pin.Addr() {
		return true
	}
	if !s.pinDo(resp.AppendCommandStrings(nil, "DISCARD"), &tmp, false) {
		sl.req.Err = tmp.req.Err
		return false
	}
	s.unpin(true)
	if !s.pinFor(cmd, c, sl) {
		return false
	}
	tmp.req.Reply = tmp.req.Reply[:0]
	if !s.pinDo(resp.AppendCommandStrings(nil, "MULTI"), &tmp, false) {
		sl.req.Err = tmp.req.Err
		return false
	}
	if string(tmp.req.Reply) != "+OK\r\n" {
		sl.req.Reply = append(sl.req.Reply, tmp.req.Reply...)
		s.unpin(false)
		return false
	}
	s.inMulti, s.multiRouted = true, true
	return true
}

// startReplicaRelay serves SYNC/PSYNC: the client becomes a replica of the
// upstream through respcache. The RDB payload and the replication stream
// that follow are not RESP replies, so they are copied unframed for the rest
// of the connection; what the client sends afterwards (REPLCONF ACK) is
// forwarded as in pub/sub mode.
func (s *session) startReplicaRelay(cmd *resp.Command, c *Command, sl *slot) {
	s.startPump(cmd, c, sl, func(ctx context.Context, p *redis.Pinned) {
		p.Relay(ctx, lockedWriter{s})
		if ctx.Err() == nil {
			s.conn.Close()
		}
	})
}

// lockedWriter writes to the client under the session's write lock.
type lockedWriter struct{ s *session }

func (w lockedWriter) Write(b []byte) (int, error) {
	w.s.wmu.Lock()
	defer w.s.wmu.Unlock()
	return w.s.conn.Write(b)
}

// translateRedirect rewrites CLIENT TRACKING ... REDIRECT <id>, which names
// a respcache client, to name that client's pinned upstream connection (a
// client that receives invalidations is subscribed, hence pinned). An id
// respcache does not know is passed on unchanged, and the server replies
// its own error.
func (s *session) translateRedirect(args [][]byte, raw []byte) []byte {
	for i := 2; i+1 < len(args); i++ {
		if !isName(args[i], "redirect") {
			continue
		}
		id, ok := resp.ParseInt(args[i+1])
		if !ok {
			return raw
		}
		target := s.srv.sessionByID(id)
		if target == nil {
			return raw
		}
		upID := target.pinnedID.Load()
		if upID == 0 {
			return raw
		}
		out := append([][]byte(nil), args...)
		out[i+1] = []byte(itoa(int(upID)))
		return resp.AppendCommand(nil, out...)
	}
	return raw
}
