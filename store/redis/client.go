package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/respcache/respcache/resp"
)

// Topologies.
const (
	Standalone = "standalone"
	Sentinel   = "sentinel"
	Cluster    = "cluster"
)

var (
	// ErrUnavailable wraps every failure to reach the upstream.
	ErrUnavailable = errors.New("upstream unavailable")
	// ErrTooManyPinned is returned by Pin when Config.MaxPinned connections
	// are already pinned.
	ErrTooManyPinned = errors.New("too many pinned upstream connections")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("redis: client closed")
)

// Config configures a Client. Zero fields take the documented defaults.
type Config struct {
	// Addrs are the server (standalone), the sentinels (sentinel) or seed
	// nodes (cluster). Default 127.0.0.1:6379.
	Addrs []string
	// Topology is Standalone (default), Sentinel or Cluster.
	Topology string
	// MasterName is the Sentinel master name; required for Sentinel.
	MasterName string
	// Username and Password authenticate every upstream connection.
	Username, Password string
	// TLS, when non-nil, is used for every upstream connection.
	TLS *tls.Config
	// Lanes is the number of shared connections per node, database and RESP
	// version. Default GOMAXPROCS.
	Lanes int
	// MaxPinned caps pinned connections. Default 1000.
	MaxPinned int
	// DialTimeout (default 5s), ReadTimeout (default 3s; a lane with requests
	// in flight and no reply for this long is dead) and WriteTimeout
	// (default 3s).
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// Logger receives connection events. Default slog.Default().
	Logger *slog.Logger
}

func (c *Config) ensureDefaults() {
	if len(c.Addrs) == 0 {
		c.Addrs = []string{"127.0.0.1:6379"}
	}
	if c.Topology == "" {
		c.Topology = Standalone
	}
	if c.Lanes <= 0 {
		c.Lanes = runtime.GOMAXPROCS(0)
	}
	if c.MaxPinned <= 0 {
		c.MaxPinned = 1000
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 5 * time.Second
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 3 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 3 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch c.Topology {
	case "", Standalone, Cluster:
	case Sentinel:
		if c.MasterName == "" {
			return errors.New("redis: sentinel topology needs a master name")
		}
	default:
		return fmt.Errorf("redis: unknown topology %q", c.Topology)
	}
	for _, a := range c.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("redis: address %q: %w", a, err)
		}
	}
	return nil
}

// Client is the upstream. It is safe for concurrent use.
type Client struct {
	cfg    Config
	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // background goroutines (topology watchers, lane readers)

	mu     sync.RWMutex // guards nodes, master, slots, closed
	nodes  map[string]*Node
	master *Node         // standalone and sentinel
	slots  *[16384]*Node // cluster; nil until the first slot map
	closed bool

	pinned    chan struct{} // semaphore of MaxPinned
	idleMu    sync.Mutex    // guards idle and refilling
	idle      map[pinKey][]*Pinned
	refilling map[pinKey]bool
	refresh   chan struct{} // asks the cluster watcher for a new slot map
	version   atomic.Pointer[string]
	dbCount   atomic.Int32
	lpEntries atomic.Int64 // hash-max-listpack-entries (0: unknown)
	lpValue   atomic.Int64 // hash-max-listpack-value
	sentinel  []*goredis.SentinelClient
}

// New returns a Client. It does not connect: lanes dial on first use, and
// topology discovery runs in the background, so respcache starts even when
// the upstream is not up yet.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.ensureDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg:       cfg,
		ctx:       ctx,
		cancel:    cancel,
		nodes:     map[string]*Node{},
		pinned:    make(chan struct{}, cfg.MaxPinned),
		idle:      map[pinKey][]*Pinned{},
		refilling: map[pinKey]bool{},
		refresh:   make(chan struct{}, 1),
	}
	c.dbCount.Store(16)
	switch cfg.Topology {
	case Standalone:
		c.master = c.nodeLocked(cfg.Addrs[0])
	case Sentinel:
		c.master = &Node{c: c} // address filled in by the sentinel watcher
		c.nodes[""] = c.master
		for _, a := range cfg.Addrs {
			c.sentinel = append(c.sentinel, goredis.NewSentinelClient(&goredis.Options{
				Addr: a, DialTimeout: cfg.DialTimeout, ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout,
				TLSConfig: cfg.TLS, MaxRetries: -1,
			}))
		}
		if err := c.resolveMaster(ctx); err != nil {
			cfg.Logger.Warn("sentinel: master not known yet", "err", err)
		}
		c.wg.Add(1)
		go c.watchSentinel()
	case Cluster:
		c.wg.Add(1)
		go c.watchCluster()
		c.askRefresh()
	}
	c.wg.Add(1)
	go c.probeServer()
	return c, nil
}

// Close closes every connection and waits for background goroutines.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	nodes := make([]*Node, 0, len(c.nodes))
	for _, n := range c.nodes {
		nodes = append(nodes, n)
	}
	c.mu.Unlock()
	c.cancel()
	for _, n := range nodes {
		n.closeLanes(ErrClosed)
	}
	c.idleMu.Lock()
	for k, list := range c.idle {
		for _, p := range list {
			p.conn.Close()
		}
		delete(c.idle, k)
	}
	c.idleMu.Unlock()
	for _, s := range c.sentinel {
		s.Close()
	}
	c.wg.Wait()
	return nil
}

// Topology returns the configured topology.
func (c *Client) Topology() string { return c.cfg.Topology }

// ServerVersion is the upstream's redis_version, or "" until it is known.
func (c *Client) ServerVersion() string {
	if v := c.version.Load(); v != nil {
		return *v
	}
	return ""
}

// Databases is the upstream's number of databases (CONFIG GET databases),
// 16 until it is known.
func (c *Client) Databases() int { return int(c.dbCount.Load()) }

// nodeLocked returns the node for addr, creating it. c.mu must be held for
// writing (or the client not yet shared).
func (c *Client) nodeLocked(addr string) *Node {
	if n := c.nodes[addr]; n != nil {
		return n
	}
	n := &Node{c: c}
	n.addr.Store(&addr)
	c.nodes[addr] = n
	return n
}

func (c *Client) nodeFor(addr string) *Node {
	c.mu.RLock()
	n := c.nodes[addr]
	c.mu.RUnlock()
	if n != nil {
		return n
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodeLocked(addr)
}

// NodeAt returns the node with the given address.
func (c *Client) NodeAt(addr string) *Node { return c.nodeFor(addr) }

// Route returns the node that serves a hash slot (Cluster), or the master.
// slot < 0 means any node.
func (c *Client) Route(slot int) (*Node, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.cfg.Topology != Cluster {
		return c.master, nil
	}
	if c.slots == nil {
		return nil, fmt.Errorf("%w: cluster slot map not known yet", ErrUnavailable)
	}
	if slot < 0 {
		for _, n := range c.slots {
			if n != nil {
				return n, nil
			}
		}
		return nil, fmt.Errorf("%w: no cluster node serves any slot", ErrUnavailable)
	}
	n := c.slots[slot]
	if n == nil {
		return nil, fmt.Errorf("%w: no cluster node serves slot %d", ErrUnavailable, slot)
	}
	return n, nil
}

// Masters returns every node that serves slots (Cluster), or the master.
func (c *Client) Masters() ([]*Node, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.cfg.Topology != Cluster {
		return []*Node{c.master}, nil
	}
	if c.slots == nil {
		return nil, fmt.Errorf("%w: cluster slot map not known yet", ErrUnavailable)
	}
	seen := map[*Node]bool{}
	var out []*Node
	for _, n := range c.slots {
		if n != nil && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// dial opens and initializes one upstream connection: AUTH, HELLO for RESP3,
// SELECT, and for Sentinel a ROLE check, pipelined in one round trip.
func (c *Client) dial(ctx context.Context, addr string, db, proto int, checkMaster bool) (net.Conn, error) {
	if addr == "" {
		return nil, fmt.Errorf("%w: master address not known yet", ErrUnavailable)
	}
	d := net.Dialer{Timeout: c.cfg.DialTimeout, KeepAlive: 30 * time.Second}
	var conn net.Conn
	var err error
	if c.cfg.TLS != nil {
		td := tls.Dialer{NetDialer: &d, Config: c.cfg.TLS}
		conn, err = td.DialContext(ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var init []byte
	n := 0
	if c.cfg.Password != "" {
		if c.cfg.Username != "" {
			init = appendCmd(init, "AUTH", c.cfg.Username, c.cfg.Password)
		} else {
			init = appendCmd(init, "AUTH", c.cfg.Password)
		}
		n++
	}
	if proto == 3 {
		init = appendCmd(init, "HELLO", "3")
		n++
	}
	if db != 0 {
		init = appendCmd(init, "SELECT", itoa(db))
		n++
	}
	if checkMaster {
		init = appendCmd(init, "ROLE")
		n++
	}
	if n == 0 {
		return conn, nil
	}
	conn.SetDeadline(time.Now().Add(c.cfg.DialTimeout))
	if _, err := conn.Write(init); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	rr := newReplyReader(conn)
	for i := 0; i < n; i++ {
		reply, err := rr.next()
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		if len(reply) > 0 && reply[0] == '-' {
			conn.Close()
			return nil, fmt.Errorf("%w: %s", ErrUnavailable, strings.TrimSpace(string(reply[1:])))
		}
		if checkMaster && i == n-1 && !isMasterRole(reply) {
			conn.Close()
			return nil, fmt.Errorf("%w: %s is not a master (failover in progress)", ErrUnavailable, addr)
		}
	}
	if rr.buffered() > 0 {
		conn.Close()
		return nil, fmt.Errorf("%w: unexpected data during handshake", ErrUnavailable)
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

// isMasterRole reports whether a ROLE reply (RESP2 or RESP3 array) names a
// master: its first element is "master".
func isMasterRole(reply []byte) bool {
	return strings.Contains(string(reply[:min(len(reply), 32)]), "master")
}

// busyReplyWindow is how long serverAlive waits for any answer: redis-server
// answers nothing at all while a script runs until busy-reply-threshold
// (5s by default), then BUSY, so a shorter probe cannot tell a busy server
// from a hung one.
const busyReplyWindow = 6 * time.Second

// serverAlive reports whether the server at addr answers anything (PONG,
// BUSY, NOAUTH, LOADING all count) to a PING on a new connection within
// max(read timeout, busyReplyWindow).
// Ping checks that every master answers PING on a fresh, authenticated
// connection (readiness).
func (c *Client) Ping(ctx context.Context) error {
	masters, err := c.Masters()
	if err != nil {
		return err
	}
	for _, n := range masters {
		conn, err := c.dial(ctx, n.Addr(), 0, 2, false)
		if err != nil {
			return err
		}
		if dl, ok := ctx.Deadline(); ok {
			conn.SetDeadline(dl)
		} else {
			conn.SetDeadline(time.Now().Add(c.cfg.ReadTimeout))
		}
		_, err = conn.Write([]byte("*1\r\n$4\r\nPING\r\n"))
		if err == nil {
			var reply []byte
			reply, err = newReplyReader(conn).next()
			if err == nil && len(reply) > 0 && reply[0] == '-' {
				err = fmt.Errorf("%w: %s", ErrUnavailable, strings.TrimSpace(string(reply[1:])))
			}
		}
		conn.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", n.Addr(), err)
		}
	}
	return nil
}

func (c *Client) serverAlive(addr string) bool {
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	var conn net.Conn
	var err error
	if c.cfg.TLS != nil {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: c.cfg.TLS}).DialContext(c.ctx, "tcp", addr)
	} else {
		conn, err = d.DialContext(c.ctx, "tcp", addr)
	}
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(max(c.cfg.ReadTimeout, busyReplyWindow)))
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return false
	}
	_, err = newReplyReader(conn).next()
	return err == nil
}

func appendCmd(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = append(b, itoa(len(args))...)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = append(b, itoa(len(a))...)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

func itoa(i int) string { return fmt.Sprint(i) }

// probeServer learns the upstream's version and database count once it is
// reachable, for HELLO replies and SELECT range checks.
func (c *Client) probeServer() {
	defer c.wg.Done()
	backoff := 50 * time.Millisecond
	for {
		if err := c.probeOnce(); err == nil {
			return
		}
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(backoff):
		}
		if backoff < 2*time.Second {
			backoff *= 2
		}
	}
}

func (c *Client) probeOnce() error {
	n, err := c.Route(-1)
	if err != nil {
		return err
	}
	addr := n.Addr()
	conn, err := c.dial(c.ctx, addr, 0, 2, false)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(c.cfg.ReadTimeout))
	req := appendCmd(appendCmd(nil, "INFO", "server"), "CONFIG", "GET", "databases")
	req = appendCmd(req, "CONFIG", "GET", "hash-max-listpack-entries", "hash-max-listpack-value")
	if _, err := conn.Write(req); err != nil {
		return err
	}
	rr := newReplyReader(conn)
	info, err := rr.next()
	if err != nil {
		return err
	}
	for _, l := range strings.Split(string(info), "\r\n") {
		if v, ok := strings.CutPrefix(l, "redis_version:"); ok {
			c.version.Store(&v)
		}
	}
	dbs, err := rr.next()
	if err != nil {
		return nil // CONFIG may be renamed or denied; keep 16
	}
	if v, ok := configValues(dbs)["databases"]; ok && v > 0 {
		c.dbCount.Store(int32(v))
	}
	if lp, err := rr.next(); err == nil {
		vals := configValues(lp)
		e, ok1 := vals["hash-max-listpack-entries"]
		v, ok2 := vals["hash-max-listpack-value"]
		if ok1 && ok2 {
			c.lpEntries.Store(e)
			c.lpValue.Store(v)
		}
	}
	return nil
}

// configValues reads the integer settings of a CONFIG GET reply (RESP2
// flat array of names and values).
func configValues(reply []byte) map[string]int64 {
	out := map[string]int64{}
	elems, _, ok := resp.Elements(reply, nil)
	if !ok {
		return out
	}
	for i := 0; i+1 < len(elems); i += 2 {
		name, ok1 := resp.StringValue(elems[i])
		val, ok2 := resp.StringValue(elems[i+1])
		if !ok1 || !ok2 {
			continue
		}
		if v, ok := resp.ParseInt(val); ok {
			out[string(name)] = v
		}
	}
	return out
}

// HashListpackLimits returns the upstream's hash-max-listpack-entries and
// hash-max-listpack-value (ok=false until known, or when CONFIG GET is not
// allowed): within them Redis keeps a hash in insertion order.
func (c *Client) HashListpackLimits() (entries, value int64, ok bool) {
	e, v := c.lpEntries.Load(), c.lpValue.Load()
	return e, v, e > 0
}
