package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"
)

// Timeouts of the admin HTTP server. The write timeout leaves room for
// /debug/pprof/profile's default 30s CPU profile (pprof refuses a profile
// longer than the server's WriteTimeout).
const (
	adminReadHeaderTimeout = 5 * time.Second
	adminReadTimeout       = 10 * time.Second
	adminWriteTimeout      = 65 * time.Second
	adminIdleTimeout       = 60 * time.Second
	readyTimeout           = 5 * time.Second
)

// StatusInfo is what the status page (GET /) shows. Filled by
// AdminConfig.Status at each request.
type StatusInfo struct {
	// Version is respcache's version string.
	Version string
	// Started is when the process started; the page shows the uptime.
	// Zero = when StartAdmin ran.
	Started time.Time
	// Backend describes the store, e.g. "redis 10.0.0.7:6379 (standalone)"
	// or "disk ./data".
	Backend string
	// BackendState is its health in a few words: "up", "down: connection
	// refused", "draining", …
	BackendState string
	// Cache is the same snapshot the metrics read.
	Cache CacheSnapshot
}

// AdminConfig configures the admin HTTP server (config keys admin_listen,
// admin_pprof).
type AdminConfig struct {
	// Addr is the listen address, e.g. "127.0.0.1:9380"; port 0 picks a
	// free port (see Admin.Addr). Required: main does not start the server
	// when admin_listen is "".
	Addr string
	// Pprof serves /debug/pprof/ when true. Default false: profiles expose
	// internals and cost CPU.
	Pprof bool
	// Ready answers /readyz: nil = ready (200), an error = not ready (503,
	// its text in the body). Called per request with a 5s deadline; nil
	// Ready means always ready.
	Ready func(ctx context.Context) error
	// Drain is called by POST /drain: it stops accepting work and flushes
	// write-back state, returning when done (200) or failed (503). nil
	// answers 501.
	Drain func(ctx context.Context) error
	// Status fills the status page; nil shows what Metrics' snapshot
	// function provides.
	Status func() StatusInfo
	// Metrics is served on /metrics; nil answers 404 there
	// (telemetry.metrics.prometheus false).
	Metrics *Metrics
	// Logger receives the server's errors and drain requests. Default:
	// discard.
	Logger *slog.Logger
}

// EnsureDefaults fills zero fields with their defaults (Logger: discard).
func (c *AdminConfig) EnsureDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports a missing address.
func (c *AdminConfig) Validate() error {
	if c.Addr == "" {
		return fmt.Errorf("%w: admin address is empty", ErrInvalidConfig)
	}
	return nil
}

// Admin is the running admin HTTP server.
type Admin struct {
	srv     *http.Server
	ln      net.Listener
	cfg     AdminConfig
	started time.Time
	done    chan struct{} // closed when Serve has returned
	closed  atomic.Bool
}

// StartAdmin listens on cfg.Addr and serves, in a goroutine that Close
// stops: GET /healthz, GET /readyz, GET /metrics, POST /drain, GET / (status
// page) and, with Pprof, /debug/pprof/. ctx bounds the listen only.
func StartAdmin(ctx context.Context, cfg AdminConfig) (*Admin, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("telemetry: admin listen: %w", err)
	}
	a := &Admin{ln: ln, cfg: cfg, started: time.Now(), done: make(chan struct{})}
	a.srv = &http.Server{
		Handler:           a.routes(),
		ReadHeaderTimeout: adminReadHeaderTimeout,
		ReadTimeout:       adminReadTimeout,
		WriteTimeout:      adminWriteTimeout,
		IdleTimeout:       adminIdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Logger.Error("admin server stopped", "err", err)
		}
	}()
	return a, nil
}

// Addr returns the address the server listens on (with the real port when
// AdminConfig.Addr had port 0).
func (a *Admin) Addr() string { return a.ln.Addr().String() }

// Close stops the server: no new connections, in-flight requests finish
// until ctx ends (then connections are closed). It returns once the
// serving goroutine has exited. A second call returns ErrClosed.
func (a *Admin) Close(ctx context.Context) error {
	if a.closed.Swap(true) {
		return ErrClosed
	}
	err := a.srv.Shutdown(ctx)
	if err != nil {
		_ = a.srv.Close() // ctx ended: cut the stragglers
	}
	<-a.done
	return err
}

func (a *Admin) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", a.readyz)
	mux.HandleFunc("POST /drain", a.drain)
	if a.cfg.Metrics != nil {
		mux.Handle("GET /metrics", a.cfg.Metrics.Handler())
	}
	if a.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("GET /{$}", a.statusPage)
	return mux
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

func (a *Admin) readyz(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := a.cfg.Ready(ctx); err != nil {
			writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error()+"\n")
			return
		}
	}
	writeText(w, http.StatusOK, "ready\n")
}

func (a *Admin) drain(w http.ResponseWriter, r *http.Request) {
	if a.cfg.Drain == nil {
		writeText(w, http.StatusNotImplemented, "drain is not available\n")
		return
	}
	a.cfg.Logger.Info("drain requested", "remote", r.RemoteAddr)
	start := time.Now()
	if err := a.cfg.Drain(r.Context()); err != nil {
		a.cfg.Logger.Warn("drain failed", "err", err, "elapsed", time.Since(start))
		writeText(w, http.StatusServiceUnavailable, "drain failed: "+err.Error()+"\n")
		return
	}
	a.cfg.Logger.Info("drained", "elapsed", time.Since(start))
	writeText(w, http.StatusOK, "drained\n")
}

func (a *Admin) statusPage(w http.ResponseWriter, r *http.Request) {
	var info StatusInfo
	if a.cfg.Status != nil {
		info = a.cfg.Status()
	} else if a.cfg.Metrics != nil {
		info.Cache, _ = a.cfg.Metrics.Snapshot()
	}
	if info.Started.IsZero() {
		info.Started = a.started
	}
	var buf bytes.Buffer
	if err := statusTemplate.Execute(&buf, newStatusView(info, time.Now())); err != nil {
		a.cfg.Logger.Error("status page", "err", err)
		writeText(w, http.StatusInternalServerError, "status page failed\n")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}
