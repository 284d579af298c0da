package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/respcache/respcache/store/redis"
	"github.com/respcache/respcache/telemetry"
)

// Upstream is what the proxy needs from a Redis backend.
type Upstream interface {
	// Route returns the node serving a hash slot (-1: any node).
	Route(slot int) (*redis.Node, error)
	// Masters returns every node serving slots.
	Masters() ([]*redis.Node, error)
	// NodeAt returns the node with an address (of a pinned connection).
	NodeAt(addr string) *redis.Node
	// Pin returns a connection owned by one client (nil node: any).
	Pin(ctx context.Context, n *redis.Node, db, proto int) (*redis.Pinned, error)
	// Topology is redis.Standalone, redis.Sentinel or redis.Cluster.
	Topology() string
	// ServerVersion is the upstream's redis_version ("" until known).
	ServerVersion() string
	// Databases is the number of databases of the upstream.
	Databases() int
	// Track starts the invalidation link (CLIENT TRACKING BCAST).
	Track(cfg redis.TrackingConfig) *redis.Tracker
	// HashListpackLimits returns hash-max-listpack-entries and -value.
	HashListpackLimits() (entries, value int64, ok bool)
}

// Config configures a Server. Zero fields take the documented defaults.
type Config struct {
	// Password, when set, must be given with AUTH or HELLO AUTH before any
	// other command. respcache consumes it; it is never forwarded.
	Password string
	// TLS, when set, is served on the listener.
	TLS *tls.Config
	// MaxClients caps connected clients (default 10000); the next one gets
	// Redis's "max number of clients reached" and is closed.
	MaxClients int
	// IdleTimeout closes a client idle that long (0: never).
	IdleTimeout time.Duration
	// DenyCommands are refused with Redis's NOPERM error. Names are
	// commands ("flushall") or container|subcommand ("config|set").
	DenyCommands []string
	// ClientOutputBuffer disconnects a client whose pending replies exceed
	// it (default 64MiB).
	ClientOutputBuffer int64
	// ProtoMaxBulkLen refuses larger bulk strings before buffering them
	// (default 512MiB).
	ProtoMaxBulkLen int64
	// UpstreamReadTimeout bounds the wait for a reply on a pinned connection
	// (blocking commands excepted). Default 3s.
	UpstreamReadTimeout time.Duration
	// DefaultDB is the database a new client starts in.
	DefaultDB int
	// Logger receives connection-level events. Default slog.Default().
	Logger *slog.Logger
	// Cache, when Cache.Cache is set, answers reads from a local cache
	// (see cached.go).
	Cache CacheConfig
	// Telemetry receives per-command metrics, spans and slow-log entries.
	Telemetry Telemetry
	// Store, when set, is the backend instead of an upstream Redis (New's
	// up is then nil): the embedded disk store.
	Store Store
	// WriteBack, when set, acknowledges writes on cached types once they
	// are journaled and flushes them in batches (writeback.go). It needs
	// Cache.Cache. New replays the journal before it returns.
	WriteBack *WriteBackConfig
}

func (c *Config) ensureDefaults() {
	if c.MaxClients <= 0 {
		c.MaxClients = 10000
	}
	if c.ClientOutputBuffer <= 0 {
		c.ClientOutputBuffer = 64 << 20
	}
	if c.UpstreamReadTimeout <= 0 {
		c.UpstreamReadTimeout = 3 * time.Second
	}
	if c.ProtoMaxBulkLen <= 0 {
		c.ProtoMaxBulkLen = 512 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Cache.Invalidation == "" {
		c.Cache.Invalidation = "tracking"
	}
	if c.Cache.MaxItemSize <= 0 {
		c.Cache.MaxItemSize = 1 << 20
	}
}

// Validate reports settings that cannot work.
func (c *Config) Validate() error {
	if c.DefaultDB < 0 {
		return errors.New("proxy: default db must not be negative")
	}
	switch c.Cache.Invalidation {
	case "", "tracking", "ttl", "off":
	default:
		return fmt.Errorf("proxy: cache invalidation %q: want tracking, ttl or off", c.Cache.Invalidation)
	}
	if c.Cache.NegativeTTL < 0 {
		return errors.New("proxy: negative_ttl must not be negative")
	}
	for _, d := range c.DenyCommands {
		name, sub, _ := strings.Cut(strings.ToLower(d), "|")
		cmd := commandTable[name]
		if cmd == nil {
			return fmt.Errorf("proxy: deny_commands: unknown command %q", d)
		}
		if sub != "" {
			found := false
			for _, s := range cmd.Subcommands {
				found = found || s.Name == name+"|"+sub
			}
			if !found {
				return fmt.Errorf("proxy: deny_commands: unknown subcommand %q", d)
			}
		}
	}
	return nil
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("proxy: server closed")

// Server is the RESP front end.
type Server struct {
	cfg   Config
	up    Upstream
	log   *slog.Logger
	deny  map[string]bool
	cs    *cacheState // nil: no local cache
	wb    *writeBack  // nil: write-through
	store Store       // nil: an upstream Redis
	ins   *instruments
	// maxItem is the largest key+value the cache keeps.
	maxItem int
	started time.Time

	nextID  atomic.Uint64
	clients atomic.Int64

	mu       sync.Mutex // guards sessions, listeners, closing
	sessions map[*session]struct{}
	lns      []net.Listener
	closing  bool
	wg       sync.WaitGroup // one per session
}

// New returns a Server relaying to up.
func New(cfg Config, up Upstream) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if up == nil {
		if cfg.Store == nil {
			return nil, errors.New("proxy: neither an upstream nor a store")
		}
		up = storeUpstream{cfg.Store}
	}
	cfg.ensureDefaults()
	s := &Server{cfg: cfg, up: up, log: cfg.Logger, sessions: map[*session]struct{}{}, deny: map[string]bool{}}
	for _, d := range cfg.DenyCommands {
		s.deny[strings.ToLower(d)] = true
	}
	s.started = time.Now()
	s.store = cfg.Store
	s.ins = newInstruments(cfg.Telemetry)
	s.maxItem = cfg.Cache.MaxItemSize
	if cc := cfg.Cache; cc.Cache != nil {
		cs := &cacheState{c: cc.Cache, cfg: cc, tracking: cc.Invalidation == "tracking", maxDBs: up.Databases}
		cs.lag.seed = maphash.MakeSeed()
		cs.negTTL.Store(int64(cc.NegativeTTL))
		s.cs = cs
		if cfg.Store != nil {
			cs.tracking = false // every write passes through respcache
		}
		if cs.tracking {
			cs.tracker = up.Track(redis.TrackingConfig{
				Prefixes:   cc.TrackingPrefixes,
				Heartbeat:  cc.Heartbeat,
				Invalidate: cs.invalidateKeys,
				State: func(ok bool) {
					cs.linkUp.Store(ok)
					if !ok && s.ins.tel.Metrics != nil {
						s.ins.tel.Metrics.UpstreamError(telemetry.UpstreamErrTracking)
					}
					if ok {
						s.log.Info("tracking: invalidation link up; serving from the cache")
					} else {
						s.log.Warn("tracking: invalidation link down; reads bypass the cache until it is back", "serve_stale", cc.ServeStale)
					}
				},
			})
		}
	}
	if wc := cfg.WriteBack; wc != nil {
		if s.cs == nil || wc.Journal == nil {
			s.stopCache()
			return nil, errors.New("proxy: write-back needs the cache and a journal")
		}
		s.wb = newWriteBack(s, *wc)
		n, err := s.wb.replay(context.Background())
		if err != nil {
			s.stopCache()
			return nil, err
		}
		if n > 0 {
			s.log.Info("write-back: journal replayed", "records", n, "dirty_keys", s.wb.count.Load())
		}
		s.wb.start()
	}
	return s, nil
}

// DrainWriteBack flushes every write acknowledged so far to the backend
// (a Kubernetes preStop hook calls it through POST /drain). It returns nil
// at once without write-back.
func (s *Server) DrainWriteBack(ctx context.Context) error {
	if s.wb == nil {
		return nil
	}
	return s.wb.drain(ctx)
}

// WriteBackStats returns the write-back state (zero without write-back).
func (s *Server) WriteBackStats() WriteBackStats {
	if s.wb == nil {
		return WriteBackStats{}
	}
	return s.wb.stats()
}

// stopWriteBack drains (bounded by ctx) and stops the flusher; what is
// not flushed stays in the journal for replay.
func (s *Server) stopWriteBack(ctx context.Context) error {
	if s.wb == nil {
		return nil
	}
	return s.wb.shutdown(ctx)
}

// SetNegativeTTL changes cache.negative_ttl (reload).
func (s *Server) SetNegativeTTL(d time.Duration) {
	if s.cs != nil {
		s.cs.negTTL.Store(int64(max(d, 0)))
	}
}

// TrackingStatus is "up", "down" or "off" (no invalidation link).
func (s *Server) TrackingStatus() string {
	switch {
	case s.cs == nil || s.cs.tracker == nil:
		return "off"
	case s.cs.linkUp.Load():
		return "up"
	}
	return "down"
}

// stopCache stops the invalidation link.
func (s *Server) stopCache() {
	if s.cs != nil && s.cs.tracker != nil {
		s.cs.tracker.Close()
	}
}

// Serve accepts clients on ln until Shutdown or Close, then returns
// ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	if s.cfg.TLS != nil {
		ln = tls.NewListener(ln, s.cfg.TLS)
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscallEMFILE) {
				// Out of file descriptors or similar: back off, keep serving.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "delay", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.accept(conn)
	}
}

func (s *Server) accept(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if s.clients.Add(1) > int64(s.cfg.MaxClients) {
		s.clients.Add(-1)
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		conn.Write([]byte("-ERR max number of clients reached\r\n"))
		conn.Close()
		return
	}
	sess := newSession(s, conn)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.clients.Add(-1)
		conn.Close()
		return
	}
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		sess.serve()
		s.mu.Lock()
		delete(s.sessions, sess)
		s.mu.Unlock()
		s.clients.Add(-1)
	}()
}

// sessionByID finds a connected client by its CLIENT ID.
func (s *Server) sessionByID(id int64) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sess := range s.sessions {
		if int64(sess.id) == id {
			return sess
		}
	}
	return nil
}

// sessionsByID returns the connected clients in CLIENT ID order.
func (s *Server) sessionsByID() []*session {
	s.mu.Lock()
	out := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		out = append(out, sess)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// Clients is the number of connected clients.
func (s *Server) Clients() int { return int(s.clients.Load()) }

// Shutdown stops accepting, lets every client finish the commands it has
// in flight, closes idle clients, and waits until all are gone or ctx
// ends; then it closes the rest.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for _, ln := range s.lns {
		ln.Close()
	}
	for sess := range s.sessions {
		sess.drain()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		err := s.stopWriteBack(ctx)
		s.stopCache()
		return err
	case <-ctx.Done():
		s.Close()
		<-done
		return ctx.Err()
	}
}

// Close closes the listeners and every client connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing = true
	for _, ln := range s.lns {
		ln.Close()
	}
	for sess := range s.sessions {
		sess.kill()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if s.wb != nil && !s.wb.stopped() {
		// No drain: what is dirty stays in the journal for replay.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s.wb.shutdown(ctx)
	}
	s.stopCache()
	return nil
}
