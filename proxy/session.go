package proxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/respcache/respcache/cache"
	"github.com/respcache/respcache/resp"
	"github.com/respcache/respcache/store/redis"
	"github.com/respcache/respcache/telemetry"
)

// maxBatch caps the commands of one pipeline handled together: it bounds the
// replies a connection holds at once.
const maxBatch = 512

// outChunk is the output size at which replies are written out while a
// batch's replies are still being copied.
const outChunk = 256 << 10

// slot holds the reply to one command of a batch.
type slot struct {
	req     redis.Request
	noReply bool // CLIENT REPLY OFF/SKIP, or the reply comes through the pump

	// Telemetry (telemetry.go).
	cmd     *Command
	span    telemetry.Span
	upSpan  telemetry.Span
	spanCtx context.Context

	// Read cache (cached.go): what to do once the upstream reply is in.
	post    uint8
	fill    cache.Fill
	args    [][]byte // the command's arguments, valid during the batch
	c       *Command
	db      int
	verOff  int // the write's keys are session.vers/wpos[verOff:verOff+verN]
	verN    int
	pre     *[4]redis.Request // a fill's MULTI, read, PTTL and OBJECT ENCODING
	fillRaw []byte            // the fill's read and PTTL commands
	// fillMulti: the fill was sent in MULTI/EXEC (no invalidation link).
	fillMulti bool
}

// session is one client connection. Everything but the fields under stateMu
// and wmu belongs to the session's goroutine.
type session struct {
	srv     *Server
	id      uint64
	conn    net.Conn
	fd      int // the socket's descriptor, for CLIENT LIST
	rd      *resp.Reader
	out     []byte
	created time.Time

	// infoMu guards writes to db, proto, name, lastCmd and lastName, and
	// other clients' reads of them (CLIENT LIST shows every client); the
	// session's own goroutine reads them without it.
	infoMu   sync.Mutex
	db       int
	proto    int
	name     []byte
	lastCmd  time.Time
	lastName string // the last command executed, for CLIENT LIST's cmd=

	authed    bool
	replyMode int // replyOn, replyOff, replySkip

	slots   []slot
	wg      sync.WaitGroup // one per slot waiting on a lane
	touched []*redis.Lane  // lanes with requests to flush in this batch
	lane    *redis.Lane    // standalone: the lane for (laneDB, laneProto)
	laneDB  int
	laneP   int
	keyPos  []int

	// Pinned state: see pinned.go.
	pin            *redis.Pinned
	pinKeyDB       int // db and proto the connection had when pinned
	pinKeyProto    int
	pinDB, pinProt int // db and proto the connection has now
	inMulti        bool
	multiDB        int  // a SELECT queued in MULTI, or -1
	multiRouted    bool // cluster: the transaction is on its keys' node (routeMulti)
	watching       bool
	sticky         bool // CLIENT TRACKING and the like: pinned for good
	pubsub         bool // replies come through the pump
	pumpDone       chan struct{}
	// blocked is the pinned connection a blocking command waits on, for
	// CLIENT UNBLOCK from other clients (read under no lock, hence atomic).
	blocked atomic.Pointer[redis.Pinned]
	// subscribed mirrors pubsub for CLIENT LIST from other clients.
	subscribed atomic.Bool
	// pinnedID is the upstream's id of the pinned connection (0: none),
	// read by other clients' CLIENT TRACKING REDIRECT.
	pinnedID atomic.Int64

	ctx    context.Context // cancelled when the session ends
	cancel context.CancelFunc

	wmu sync.Mutex // guards writes to conn while a pump runs

	stateMu  sync.Mutex // guards busy, draining
	busy     bool
	draining bool

	closeAfter bool
	dropOut    bool // over the output buffer limit: nothing more is written

	// Read cache state of the current batch (cached.go).
	batch      []resp.Command
	roKnown    bool      // ro is computed
	ro         bool      // the batch has only cacheable reads
	batchWrite bool      // a command that may change data is queued in this batch
	posts      int       // slots with post-processing
	vers       []uint64  // writes' key versions (cache.BeginWrite), this batch
	wpos       []int     // their argument positions
	wdone      []bool    // committed already
	fillStart  time.Time // when the batch's first fill was queued
	writeStart time.Time // when the batch's first updatable write was queued
	multiDrops []multiDrop
	// dconn is the client's state in an in-process store (store.go).
	dconn     StoreConn
	fillArgs  [][]byte
	fillGroup []*redis.Request
	// cur is the index of the command being dispatched in the batch.
	cur int
	// wbx is the write-back scratch memory (wbsession.go), made on first use.
	wbx *wbScratch
	// wbNow is the batch's clock for write-back (zero until first read).
	wbNow time.Time
	// Scratch buffers.
	val, val2, enc, out2, scratch []byte
	elems, fv                     [][]byte
}

const (
	replyOn = iota
	replyOff
	replySkip
)

func newSession(srv *Server, conn net.Conn) *session {
	s := &session{
		srv:     srv,
		id:      srv.nextID.Add(1),
		conn:    conn,
		rd:      resp.NewReader(conn),
		created: time.Now(),
		db:      srv.cfg.DefaultDB,
		proto:   2,
		authed:  srv.cfg.Password == "",
		multiDB: -1,
		laneDB:  -1,
	}
	s.rd.MaxBulkLen = srv.cfg.ProtoMaxBulkLen
	if srv.store != nil {
		s.dconn = srv.store.NewConn()
		s.dconn.SetDB(s.db)
	}
	s.fd = connFD(conn)
	s.lastCmd = s.created
	s.lastName = "NULL"
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// drain asks the session to end after the commands it is executing.
func (s *session) drain() {
	s.stateMu.Lock()
	s.draining = true
	if !s.busy {
		s.conn.Close() // unblocks the read
	}
	s.stateMu.Unlock()
}

// kill ends the session now.
func (s *session) kill() {
	s.cancel()
	s.conn.Close()
}

func (s *session) serve() {
	defer s.cleanup()
	idle := s.srv.cfg.IdleTimeout
	for {
		s.stateMu.Lock()
		s.busy = false
		if s.draining {
			s.stateMu.Unlock()
			return
		}
		s.stateMu.Unlock()
		if idle > 0 {
			s.conn.SetReadDeadline(time.Now().Add(idle))
		}
		max := maxBatch
		s.rd.Unauthenticated = !s.authed
		if !s.authed {
			max = 1 // the limits for unauthenticated clients apply per command
		}
		cmds, err := s.rd.ReadBatch(max)
		s.stateMu.Lock()
		s.busy = true
		s.stateMu.Unlock()
		if len(cmds) > 0 {
			// CLIENT LIST's cmd= and idle= for other clients: set once per
			// batch, before it runs, so a client blocked in its command
			// shows that command.
			s.infoMu.Lock()
			s.lastCmd = time.Now()
			if c := lookupCommand(cmds[len(cmds)-1].Args); c != nil {
				s.lastName = c.Name
			}
			s.infoMu.Unlock()
			s.runBatch(cmds)
		}
		if err != nil {
			var pe *resp.ProtocolError
			if errors.As(err, &pe) {
				s.out = append(s.out, "-ERR "...)
				s.out = append(s.out, pe.Error()...)
				s.out = append(s.out, "\r\n"...)
			} else if errors.Is(err, resp.ErrQueryBufferLimit) {
				s.srv.log.Warn("closing client over the query buffer limit", "id", s.id, "addr", s.conn.RemoteAddr().String())
			}
			s.flushOut()
			return
		}
		if !s.flushOut() || s.closeAfter {
			return
		}
	}
}

func (s *session) cleanup() {
	s.cancel()
	if s.srv.cs != nil {
		s.endMulti() // a transaction left open: its writes are over
	}
	if s.dconn != nil {
		s.dconn.Close()
	}
	if s.pin != nil {
		s.pin.Release(false)
		s.pin = nil
	}
	s.conn.Close()
	if s.pumpDone != nil {
		<-s.pumpDone
	}
}

// overOutputLimit drops a client whose pending replies exceed
// limits.client_output_buffer: nothing more is written to it.
func (s *session) overOutputLimit(bytes int64) {
	s.srv.log.Warn("closing client over the output buffer limit", "id", s.id,
		"addr", s.conn.RemoteAddr().String(), "bytes", bytes)
	s.closeAfter, s.dropOut = true, true
	s.out = s.out[:0]
}

// flushOut writes the pending replies; false means the client is gone.
func (s *session) flushOut() bool {
	if len(s.out) == 0 {
		return true
	}
	if int64(len(s.out)) > s.srv.cfg.ClientOutputBuffer {
		s.overOutputLimit(int64(len(s.out)))
		return false
	}
	s.wmu.Lock()
	_, err := s.conn.Write(s.out)
	s.wmu.Unlock()
	if cap(s.out) > 1<<20 {
		s.out = nil
	} else {
		s.out = s.out[:0]
	}
	return err == nil
}

// runBatch executes a pipeline: local commands answer at once, lane
// commands are queued per lane, every touched lane is flushed once, and the
// replies are written in order when all have arrived.
func (s *session) runBatch(cmds []resp.Command) {
	if s.lane != nil && s.lane.Stalled() {
		s.lane = nil // nothing in flight: pick a lane that is not stalled
	}
	if cap(s.slots) < len(cmds) {
		s.slots = make([]slot, len(cmds), max(len(cmds), 2*cap(s.slots)))
	}
	s.slots = s.slots[:len(cmds)]
	n := len(cmds)
	var start time.Time
	if s.srv.ins.on {
		start = time.Now()
	}
	if s.srv.cs != nil {
		s.batch, s.roKnown, s.batchWrite = cmds, false, false
		s.vers, s.wpos, s.wdone = s.vers[:0], s.wpos[:0], s.wdone[:0]
		s.fillStart, s.writeStart = time.Time{}, time.Time{}
	}
	local := 0 // reply bytes produced locally so far
	s.wbNow = time.Time{}
	for i := range cmds {
		sl := &s.slots[i]
		sl.req.Reply = sl.req.Reply[:0]
		sl.req.Err = nil
		sl.req.Done = nil // set again when the request goes to a lane
		sl.noReply = false
		s.cur = i
		s.dispatch(&cmds[i], sl)
		if s.closeAfter {
			n = i + 1
			break
		}
		// Replies answered locally (cache hits) count against the output
		// buffer as they are made: a pipeline whose replies go over it
		// disconnects the client, as redis-server's client-output-buffer
		// hard limit does, before respcache holds more of them. (A reply
		// coming from a lane is not read here: it may still be arriving.)
		if sl.req.Done != nil {
			continue
		}
		if local += len(sl.req.Reply); int64(local) > s.srv.cfg.ClientOutputBuffer {
			s.overOutputLimit(int64(local))
			n = i + 1
			break
		}
	}
	if s.srv.wb != nil {
		s.wbRelease() // journal this batch's writes before any reply goes out
	}
	s.flushLanes()
	if s.posts > 0 {
		s.postBatch(n)
	}
	s.batch = nil
	if s.srv.ins.on {
		s.observeBatch(cmds, n, start)
	}
	if !s.dropOut {
		total := int64(len(s.out))
		for i := 0; i < n; i++ {
			total += int64(len(s.slots[i].req.Reply))
		}
		if total > s.srv.cfg.ClientOutputBuffer {
			s.overOutputLimit(total)
		}
	}
	for i := 0; i < n; i++ {
		sl := &s.slots[i]
		if !sl.noReply && !s.dropOut {
			if sl.req.Err != nil {
				s.out = appendErrorReply(s.out, sl.req.Err)
			} else {
				s.out = append(s.out, sl.req.Reply...)
			}
			// Stream large outputs: the copy never holds more than about
			// outChunk beyond one reply.
			if len(s.out) >= outChunk && !s.flushOut() {
				s.closeAfter, s.dropOut = true, true
			}
		}
		if cap(sl.req.Reply) > 64<<10 {
			sl.req.Reply = nil // do not keep a large reply's memory per idle client
		}
	}
}

// flushLanes writes the queued requests and waits for their replies.
func (s *session) flushLanes() {
	m := s.srv.ins.tel.Metrics
	var start time.Time
	if m != nil && len(s.touched) > 0 {
		start = time.Now()
	}
	for i, l := range s.touched {
		l.Flush()
		s.touched[i] = nil
	}
	s.touched = s.touched[:0]
	s.wg.Wait()
	if !start.IsZero() {
		// One pipelined round trip to the upstream (all lanes the batch
		// used): respcache_upstream_duration_seconds.
		m.ObserveUpstream(time.Since(start))
	}
}

// appendErrorReply renders a backend failure as a Redis error reply.
func appendErrorReply(b []byte, err error) []byte {
	msg := err.Error()
	if errors.Is(err, context.Canceled) {
		msg = "upstream unavailable: request cancelled"
	}
	b = append(b, "-ERR "...)
	b = append(b, sanitize(msg)...)
	return append(b, "\r\n"...)
}

// reply helpers write a local reply into a slot.
// setDB, setProto and setName change the fields CLIENT LIST reads.
func (s *session) setDB(db int) {
	s.infoMu.Lock()
	s.db = db
	s.infoMu.Unlock()
}

func (s *session) setProto(p int) {
	s.infoMu.Lock()
	s.proto = p
	s.infoMu.Unlock()
}

func (s *session) setName(n []byte) {
	s.infoMu.Lock()
	s.name = append(s.name[:0], n...)
	s.infoMu.Unlock()
}

func (sl *slot) raw(b string) { sl.req.Reply = append(sl.req.Reply, b...) }
func (sl *slot) errorf(msg string) {
	sl.req.Reply = append(append(append(sl.req.Reply, '-'), msg...), "\r\n"...)
}
func (sl *slot) ok()             { sl.raw("+OK\r\n") }
func (sl *slot) bulk(b []byte)   { sl.req.Reply = appendBulk(sl.req.Reply, b) }
func (sl *slot) integer(v int64) { sl.req.Reply = appendInt(sl.req.Reply, v) }
func (s *session) null(sl *slot) {
	if s.proto == 3 {
		sl.raw("_\r\n")
	} else {
		sl.raw("$-1\r\n")
	}
}
