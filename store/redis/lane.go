package redis

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/respcache/respcache/resp"
)

// Request is one command relayed over a lane. The caller fills Raw, Reply
// (usually a reused buffer truncated to length 0) and Done, and must not
// touch the Request again until Done fires.
type Request struct {
	// Raw is the request in RESP. It must stay valid and unchanged until
	// Done fires (a cluster redirect sends it again).
	Raw []byte
	// Reply receives the reply's raw bytes, appended.
	Reply []byte
	// Err is set instead of Reply when the upstream could not answer.
	Err error
	// Done is marked done once Reply or Err is set.
	Done *sync.WaitGroup

	redirects int8
	discard   bool // internal ASKING: reply dropped, Done nil
}

func (r *Request) finish(err error) {
	if r.discard {
		return
	}
	r.Err = err
	// Callers reuse a Request for their next command: the redirect budget
	// is per command, not per Request.
	r.redirects = 0
	r.Done.Done()
}

type laneKey struct{ db, proto int }

// Node is one upstream server.
type Node struct {
	c    *Client
	addr atomic.Pointer[string]

	mu    sync.Mutex // guards lanes
	lanes map[laneKey][]*Lane
	// aliveAt is when a liveness probe last found the server answering
	// (unix nanos; Lane.probe).
	aliveAt atomic.Int64
}

// Addr is the node's current address ("" while a Sentinel master is not
// known yet).
func (n *Node) Addr() string {
	if a := n.addr.Load(); a != nil {
		return *a
	}
	return ""
}

// Lane returns lane idx (any integer; taken modulo Config.Lanes) for a
// database and RESP version. Lanes live as long as the node.
func (n *Node) Lane(db, proto, idx int) *Lane {
	k := laneKey{db, proto}
	n.mu.Lock()
	ls := n.lanes[k]
	if ls == nil {
		if n.lanes == nil {
			n.lanes = map[laneKey][]*Lane{}
		}
		ls = make([]*Lane, n.c.cfg.Lanes)
		for i := range ls {
			ls[i] = &Lane{n: n, db: db, proto: proto, idx: i, kick: make(chan struct{}, 1)}
		}
		n.lanes[k] = ls
	}
	n.mu.Unlock()
	if idx < 0 {
		idx = -idx
	}
	return ls[idx%n.c.cfg.Lanes]
}

// stallAfter is how long the oldest request of a lane may wait before
// PickLane steers other clients away from it.
const stallAfter = 50 * time.Millisecond

// PickLane is Lane for a client that has no request in flight: if the
// client's own lane is stalled behind a slow command (a long script, a big
// KEYS), it returns another lane that is not, opening extra lanes (up to
// 4 x Config.Lanes) when all are stalled. Clients are thereby not held
// behind another client's slow command, as they would not be on the server
// itself. The caller must use the returned lane for all of a batch's
// commands, so its own commands keep their order.
func (n *Node) PickLane(db, proto, idx int) *Lane {
	l := n.Lane(db, proto, idx)
	now := time.Now().UnixNano()
	if !l.stalled(now) {
		return l
	}
	k := laneKey{db, proto}
	n.mu.Lock()
	defer n.mu.Unlock()
	ls := n.lanes[k]
	for _, o := range ls {
		if !o.stalled(now) {
			return o
		}
	}
	if len(ls) >= 4*n.c.cfg.Lanes {
		return l
	}
	o := &Lane{n: n, db: db, proto: proto, idx: len(ls), kick: make(chan struct{}, 1)}
	n.lanes[k] = append(ls, o)
	return o
}

// Stalled reports whether the lane's oldest request has waited longer than
// stallAfter: a client with nothing in flight should pick another.
func (l *Lane) Stalled() bool { return l.stalled(time.Now().UnixNano()) }

// stalled reports whether the lane's oldest request has waited longer than
// stallAfter.
func (l *Lane) stalled(now int64) bool {
	return l.pending.Load() > 0 && now-l.busySince.Load() > int64(stallAfter)
}

// closeLanes drops every lane connection (failover, removal, Close).
func (n *Node) closeLanes(err error) {
	n.mu.Lock()
	var all []*Lane
	for _, ls := range n.lanes {
		all = append(all, ls...)
	}
	n.mu.Unlock()
	for _, l := range all {
		l.mu.Lock()
		l.failLocked(err)
		l.mu.Unlock()
	}
}

const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// Lane is one shared upstream connection, redialled on demand.
type Lane struct {
	n              *Node
	db, proto, idx int
	// busySince is when the request now at the head of the queue started
	// waiting (unix nanos): set when the queue turns non-empty and on every
	// reply. The read timeout is measured from it.
	busySince atomic.Int64
	// probing: a liveness probe of the server runs (probe).
	probing atomic.Bool
	// pending mirrors queue.len() for PickLane, which reads it unlocked.
	pending atomic.Int32

	mu          sync.Mutex // guards the fields below
	conn        net.Conn   // nil while down or connecting
	connecting  bool
	gen         uint64 // bumped per connection; stale readers and writers give up
	wbuf, spare []byte
	queue       ring
	kick        chan struct{} // wakes the writer; capacity 1
	lastErr     error
	retryAt     time.Time
	backoff     time.Duration
}

// Submit queues req. Its reply arrives through req.Done after Flush. While
// the lane is in its redial backoff req fails at once with ErrUnavailable.
func (l *Lane) Submit(req *Request) {
	l.mu.Lock()
	if err := l.readyLocked(); err != nil {
		l.mu.Unlock()
		req.finish(err)
		return
	}
	l.enqueueLocked(req.Raw, req)
	l.mu.Unlock()
}

// SubmitGroup queues reqs back to back: no other client's request can come
// between them on the connection (a MULTI ... EXEC must not take in
// another client's command). Each gets its own reply, as with Submit.
func (l *Lane) SubmitGroup(reqs ...*Request) {
	l.mu.Lock()
	if err := l.readyLocked(); err != nil {
		l.mu.Unlock()
		for _, r := range reqs {
			r.finish(err)
		}
		return
	}
	for _, r := range reqs {
		l.enqueueLocked(r.Raw, r)
	}
	l.mu.Unlock()
}

// submitAsking queues ASKING followed by req in one write, so no other
// client's command can come between them.
func (l *Lane) submitAsking(req *Request) {
	l.mu.Lock()
	if err := l.readyLocked(); err != nil {
		l.mu.Unlock()
		req.finish(err)
		return
	}
	l.enqueueLocked([]byte("*1\r\n$6\r\nASKING\r\n"), &Request{discard: true})
	l.enqueueLocked(req.Raw, req)
	l.mu.Unlock()
	l.Flush()
}

// enqueueLocked appends raw to the write buffer and r to the reply queue,
// in the same order. l.mu must be held and the lane ready.
func (l *Lane) enqueueLocked(raw []byte, r *Request) {
	if l.queue.len() == 0 {
		l.busySince.Store(time.Now().UnixNano())
	}
	l.wbuf = append(l.wbuf, raw...)
	l.queue.push(r)
	l.pending.Add(1)
}

// readyLocked returns nil when requests may be queued: the lane is up or
// connecting. A down lane past its backoff starts connecting.
func (l *Lane) readyLocked() error {
	if l.conn != nil || l.connecting {
		return nil
	}
	if l.n.c.ctx.Err() != nil {
		return ErrClosed
	}
	if l.lastErr != nil && time.Now().Before(l.retryAt) {
		return l.lastErr
	}
	l.connecting = true
	l.n.c.wg.Add(1)
	go l.connect()
	return nil
}

func (l *Lane) connect() {
	defer l.n.c.wg.Done()
	c := l.n.c
	conn, err := c.dial(c.ctx, l.n.Addr(), l.db, l.proto, c.cfg.Topology == Sentinel)
	l.mu.Lock()
	l.connecting = false
	if err != nil {
		l.failLocked(err)
		l.mu.Unlock()
		c.cfg.Logger.Debug("upstream dial failed", "addr", l.n.Addr(), "err", err)
		if c.cfg.Topology == Cluster {
			c.askRefresh()
		}
		return
	}
	l.conn = conn
	l.gen++
	l.backoff = 0
	l.lastErr = nil
	gen := l.gen
	l.busySince.Store(time.Now().UnixNano())
	l.mu.Unlock()
	c.wg.Add(2)
	go l.readLoop(conn, gen)
	go l.writeLoop(conn, gen)
	l.Flush() // requests queued while connecting
}

// failLocked closes the connection and fails every waiting request.
func (l *Lane) failLocked(err error) {
	if !errors.Is(err, ErrUnavailable) && !errors.Is(err, ErrClosed) {
		err = fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if l.conn != nil {
		l.conn.Close()
		l.conn = nil
		l.gen++
	}
	l.lastErr = err
	if l.backoff == 0 {
		l.backoff = minBackoff
	} else if l.backoff < maxBackoff {
		l.backoff *= 2
	}
	l.retryAt = time.Now().Add(l.backoff)
	l.wbuf = l.wbuf[:0]
	for {
		r := l.queue.pop()
		if r == nil {
			break
		}
		l.pending.Add(-1)
		r.finish(err)
	}
}

// probe checks the server after a read timeout (readLoop): alive, the lane
// keeps waiting (busySince restarts the wait); dead, the lane fails if it
// is still the same connection and no reply arrived since busy.
func (l *Lane) probe(gen uint64, busy int64, rt time.Duration) {
	defer l.n.c.wg.Done()
	defer l.probing.Store(false)
	// A server that answered a probe lately is taken as alive without a new
	// connection: a slow server would otherwise get one per slow reply.
	fresh := max(rt, time.Second)
	if time.Since(time.Unix(0, l.n.aliveAt.Load())) < fresh || l.n.c.serverAlive(l.n.Addr()) {
		if now := time.Now(); now.Sub(time.Unix(0, l.n.aliveAt.Load())) >= fresh {
			l.n.aliveAt.Store(now.UnixNano())
		}
		l.busySince.CompareAndSwap(busy, time.Now().UnixNano())
		return
	}
	l.mu.Lock()
	if gen == l.gen && l.busySince.Load() == busy {
		l.failLocked(fmt.Errorf("no reply within %v", rt))
	}
	l.mu.Unlock()
}

// Flush asks the lane's writer to send what is queued. It does not wait:
// the writer goroutine takes everything appended by all clients since its
// last write and sends it in one syscall, so under load many clients'
// commands share a write (and redis-server reads them with one read).
func (l *Lane) Flush() {
	select {
	case l.kick <- struct{}{}:
	default: // a kick is already pending; the writer will see our bytes
	}
}

// writeLoop is the lane's writer for one connection.
func (l *Lane) writeLoop(conn net.Conn, gen uint64) {
	defer l.n.c.wg.Done()
	wt := l.n.c.cfg.WriteTimeout
	var armed time.Time
	for {
		select {
		case <-l.n.c.ctx.Done():
			return
		case <-l.kick:
		}
		// Yield once before taking the buffer: sessions that are already
		// runnable get to append their commands first. Measured with 50
		// unpipelined redis-benchmark clients: 0.92 upstream writes per
		// command without it, 0.16 with it, and redis-server's CPU per
		// command down from 3.1us to 2.1us.
		runtime.Gosched()
		l.mu.Lock()
		if gen != l.gen {
			l.mu.Unlock()
			// This writer belongs to a closed connection, and the kick it
			// took may have been meant for the current connection's writer:
			// pass it on, or requests would wait for the next kick.
			l.Flush()
			return
		}
		buf := l.wbuf
		// spare is cleared so that it never aliases the buffer Submit appends
		// to (a big buffer is not kept as spare, and a stale writer of an
		// older connection may still be writing it).
		l.wbuf, l.spare = l.spare[:0], nil
		l.mu.Unlock()
		if len(buf) == 0 {
			continue
		}
		// Re-arm the write deadline only when a quarter of it has passed:
		// setting it on every write costs a timer update per write.
		if now := time.Now(); now.Sub(armed) > wt/4 {
			conn.SetWriteDeadline(now.Add(wt))
			armed = now
		}
		_, err := conn.Write(buf)
		l.mu.Lock()
		if cap(buf) <= 1<<20 {
			l.spare = buf[:0]
		}
		if err != nil {
			if gen == l.gen {
				l.failLocked(err)
			}
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
	}
}

// readLoop reads reply frames and hands each to the request at the head of
// the queue.
func (l *Lane) readLoop(conn net.Conn, gen uint64) {
	defer l.n.c.wg.Done()
	rr := newReplyReader(conn)
	rt := l.n.c.cfg.ReadTimeout
	var batch []*Request
	var armed time.Time
	for {
		// The deadline is re-armed once a quarter of it has passed (not on
		// every read: that costs a timer update per read). When it fires, an
		// idle lane, or one whose oldest request has waited less than rt,
		// simply re-arms; a lane with a request waiting rt is dead.
		if now := time.Now(); now.Sub(armed) > rt/4 {
			conn.SetReadDeadline(now.Add(rt))
			armed = now
		}
		err := rr.fill()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				l.mu.Lock()
				idle := l.queue.len() == 0 && gen == l.gen
				l.mu.Unlock()
				if idle || time.Since(time.Unix(0, l.busySince.Load())) < rt {
					armed = time.Time{}
					continue
				}
				// The read timeout detects a dead server, not a slow
				// command (a long script, DEBUG SLEEP): a probe asks the
				// server on a fresh connection, in its own goroutine, while
				// this one keeps reading (a probe in line delayed replies
				// that had arrived meanwhile: measured, 200ms of upstream
				// latency with read_timeout 100ms made every write take
				// 400ms). A dead server fails the lane, unless a reply
				// came in while the probe ran.
				if l.probing.CompareAndSwap(false, true) {
					l.n.c.wg.Add(1)
					go l.probe(gen, l.busySince.Load(), rt)
				}
				armed = time.Time{}
				continue
			}
			l.mu.Lock()
			if gen == l.gen {
				l.failLocked(err)
			}
			l.mu.Unlock()
			return
		}
		l.busySince.Store(time.Now().UnixNano())
		frames, err := rr.frames()
		if err != nil {
			l.mu.Lock()
			if gen == l.gen {
				l.failLocked(err)
			}
			l.mu.Unlock()
			return
		}
		if len(frames) == 0 {
			continue
		}
		l.mu.Lock()
		if gen != l.gen {
			l.mu.Unlock()
			return
		}
		batch = batch[:0]
		replies := 0
		for i, f := range frames {
			if f[0] == '>' {
				// A push (DEBUG PROTOCOL push, say) belongs to the command
				// being answered: Redis sends it before that command's
				// reply. It goes out with the reply and pops nothing.
				if r := l.queue.peek(); r != nil && !r.discard {
					r.Reply = append(r.Reply, f...)
				}
				continue
			}
			r := l.queue.pop()
			if r == nil {
				break
			}
			l.pending.Add(-1)
			batch = append(batch, r)
			frames[replies] = frames[i]
			replies++
		}
		frames = frames[:replies]
		if len(batch) < len(frames) {
			l.failLocked(errors.New("reply without a request (protocol out of sync)"))
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
		for i, r := range batch {
			l.deliver(r, frames[i])
			batch[i] = nil
		}
		rr.consumed()
	}
}

// deliver hands one reply to its request, following cluster redirects.
func (l *Lane) deliver(r *Request, frame []byte) {
	if r.discard {
		return
	}
	if len(frame) > 0 && frame[0] == '-' && l.n.c.cfg.Topology == Cluster && r.redirects < 5 {
		if target, ask, ok := parseRedirect(frame); ok {
			r.redirects++
			c := l.n.c
			n := c.nodeFor(target)
			if !ask {
				slot, _ := strconv.Atoi(string(bytes.Fields(frame[1:])[1]))
				c.setSlot(slot, n)
				c.askRefresh()
				tl := n.Lane(l.db, l.proto, l.idx)
				tl.Submit(r)
				tl.Flush()
				return
			}
			n.Lane(l.db, l.proto, l.idx).submitAsking(r)
			return
		}
	}
	r.Reply = append(r.Reply, frame...)
	r.finish(nil)
}

// parseRedirect parses "-MOVED 3999 127.0.0.1:6381\r\n" or "-ASK ...".
func parseRedirect(frame []byte) (addr string, ask, ok bool) {
	f := bytes.Fields(frame[1:])
	if len(f) != 3 {
		return "", false, false
	}
	switch string(f[0]) {
	case "MOVED":
	case "ASK":
		ask = true
	default:
		return "", false, false
	}
	return string(f[2]), ask, true
}

// ring is a FIFO of requests.
type ring struct {
	buf        []*Request
	head, size int
}

func (q *ring) len() int { return q.size }

func (q *ring) push(r *Request) {
	if q.size == len(q.buf) {
		n := make([]*Request, max(16, 2*len(q.buf)))
		for i := 0; i < q.size; i++ {
			n[i] = q.buf[(q.head+i)%len(q.buf)]
		}
		q.buf, q.head = n, 0
	}
	q.buf[(q.head+q.size)%len(q.buf)] = r
	q.size++
}

func (q *ring) peek() *Request {
	if q.size == 0 {
		return nil
	}
	return q.buf[q.head]
}

func (q *ring) pop() *Request {
	if q.size == 0 {
		return nil
	}
	r := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.size--
	return r
}

// replyReader buffers a connection and frames complete replies.
type replyReader struct {
	rd       io.Reader
	buf      []byte
	r, w     int
	frameBuf [][]byte
	pending  int
	scan     resp.ReplyScanner // state of the incomplete reply at buf[pending:]
}

func newReplyReader(rd io.Reader) *replyReader {
	return &replyReader{rd: rd, buf: make([]byte, 32*1024)}
}

func (rr *replyReader) buffered() int { return rr.w - rr.r }

// fill reads at least one byte, making room first.
func (rr *replyReader) fill() error {
	if rr.r == rr.w {
		rr.r, rr.w = 0, 0
		if len(rr.buf) > 1<<20 {
			rr.buf = make([]byte, 32*1024)
		}
	}
	if rr.w == len(rr.buf) {
		if rr.r > 0 {
			rr.w = copy(rr.buf, rr.buf[rr.r:rr.w])
			rr.r = 0
		} else {
			nb := make([]byte, 2*len(rr.buf))
			copy(nb, rr.buf[:rr.w])
			rr.buf = nb
		}
	}
	n, err := rr.rd.Read(rr.buf[rr.w:])
	rr.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// frames returns the complete replies buffered, valid until consumed.
func (rr *replyReader) frames() ([][]byte, error) {
	rr.frameBuf = rr.frameBuf[:0]
	pos := rr.r
	for pos < rr.w {
		n, err := rr.scan.Scan(rr.buf[pos:rr.w])
		if err != nil {
			return nil, err
		}
		if n == 0 {
			break
		}
		rr.frameBuf = append(rr.frameBuf, rr.buf[pos:pos+n])
		pos += n
	}
	rr.pending = pos
	return rr.frameBuf, nil
}

// consumed drops the frames returned by the last call to frames.
func (rr *replyReader) consumed() { rr.r = rr.pending }

// next returns one complete reply (a copy), reading as needed.
func (rr *replyReader) next() ([]byte, error) { return rr.nextInto(nil) }

// nextInto appends one complete reply to dst, reading as needed. The caller
// bounds the wait with the connection's deadline.
func (rr *replyReader) nextInto(dst []byte) ([]byte, error) {
	for {
		if rr.r < rr.w {
			n, err := rr.scan.Scan(rr.buf[rr.r:rr.w])
			if err != nil {
				return dst, err
			}
			if n > 0 {
				dst = append(dst, rr.buf[rr.r:rr.r+n]...)
				rr.r += n
				return dst, nil
			}
		}
		if err := rr.fill(); err != nil {
			return dst, err
		}
	}
}
