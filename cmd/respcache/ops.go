package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/respcache/respcache/cache"
	"github.com/respcache/respcache/config"
	"github.com/respcache/respcache/proxy"
	"github.com/respcache/respcache/telemetry"
)

// setMemoryLimit derives GOMEMLIMIT from the container's memory limit (90%
// of the cgroup's, leaving room for what the Go runtime does not count)
// unless the environment sets GOMEMLIMIT itself.
func setMemoryLimit(log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	limit := cgroupMemoryLimit()
	if limit <= 0 {
		return
	}
	debug.SetMemoryLimit(limit / 10 * 9)
	log.Info("GOMEMLIMIT set from the cgroup memory limit", "cgroup_limit", limit, "gomemlimit", limit/10*9)
}

// cgroupMemoryLimit reads cgroup v2's memory.max or v1's
// memory.limit_in_bytes; 0 when there is none.
func cgroupMemoryLimit() int64 {
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v <= 0 || v >= 1<<60 { // v1 reports "no limit" as a huge number
			return 0
		}
		return v
	}
	return 0
}

// ops is the operational side of a running respcache: telemetry, the
// admin server and reloads.
type ops struct {
	log     *slog.Logger
	level   *slog.LevelVar
	tr      *telemetry.Tracing
	metrics *telemetry.Metrics
	slow    *telemetry.SlowLog
	admin   *telemetry.Admin
	started time.Time

	mu  sync.Mutex // guards cfg
	cfg *config.Config
}

// newOps builds logging, tracing, metrics and the slow log from cfg.
func newOps(ctx context.Context, cfg *config.Config, stderr io.Writer) (*ops, error) {
	log, level, err := telemetry.NewLogger(stderr, cfg.Log.Level, cfg.Log.Format)
	if err != nil {
		return nil, err
	}
	tr, err := telemetry.NewTracerProvider(ctx, telemetry.TraceConfig{
		ServiceName:    cfg.Telemetry.ServiceName,
		ServiceVersion: version,
		Exporter:       cfg.Telemetry.Traces.Exporter,
		Endpoint:       cfg.Telemetry.Traces.Endpoint,
		SampleRatio:    cfg.Telemetry.Traces.SampleRatio,
	}, os.Environ())
	if err != nil {
		return nil, err
	}
	o := &ops{log: log, level: level, tr: tr, slow: telemetry.NewSlowLog(log, time.Duration(cfg.Log.SlowThreshold)),
		started: time.Now(), cfg: cfg}
	if cfg.Telemetry.Metrics.Prometheus {
		o.metrics = telemetry.NewMetrics()
	}
	return o, nil
}

// proxyTelemetry is what the proxy reports to.
func (o *ops) proxyTelemetry() proxy.Telemetry {
	t := proxy.Telemetry{Metrics: o.metrics, Slow: o.slow}
	if o.tr.Enabled() {
		t.Tracing = o.tr
	}
	return t
}

// snapshot fills the metrics' and status page's view of the cache.
func snapshot(srv *proxy.Server, s *telemetry.CacheSnapshot) {
	in := srv.Info()
	s.Hits, s.Misses = in.CacheHits, in.CacheMisses
	s.Evictions, s.Expirations, s.Invalidations = in.CacheEvictions, in.CacheExpirations, in.CacheInvalidations
	s.Items = uint64(max(in.CacheItems, 0))
	s.UsedBytes, s.QuotaBytes = in.CacheUsedMemory, in.CacheMaxMemory
	s.Namespaces = s.Namespaces[:0]
	for _, ns := range in.Namespaces {
		s.Namespaces = append(s.Namespaces, telemetry.NamespaceSnapshot{Name: ns.Prefix, Used: ns.Used, Quota: ns.MaxMemory})
	}
	s.DirtyKeys, s.DirtyBytes = in.DirtyKeys, in.DirtyBytes
	s.MaxDirtyBytes, s.FlushLag = in.MaxDirty, in.FlushLag
	s.Segments = in.PoolSegments
	switch in.TrackingStatus {
	case "up":
		s.Tracking = telemetry.TrackingUp
	case "down":
		s.Tracking = telemetry.TrackingDown
	default:
		s.Tracking = telemetry.TrackingOff
	}
	s.Connections = int64(srv.Clients())
}

// startAdmin serves admin_listen (unless it is "").
func (o *ops) startAdmin(ctx context.Context, cfg *config.Config, b *built, draining func() bool) error {
	srv := b.srv
	if o.metrics != nil {
		o.metrics.SetSnapshotFunc(func(s *telemetry.CacheSnapshot) { snapshot(srv, s) })
	}
	if cfg.AdminListen == "" {
		return nil
	}
	backend := b.desc
	admin, err := telemetry.StartAdmin(ctx, telemetry.AdminConfig{
		Addr:    cfg.AdminListen,
		Pprof:   cfg.AdminPprof,
		Metrics: o.metrics,
		Logger:  o.log,
		Ready: func(ctx context.Context) error {
			if draining() {
				return errors.New("draining")
			}
			if srv.TrackingStatus() == "down" && !cfg.Cache.ServeStaleOnError {
				return errors.New("invalidation link down: reads bypass the cache until it is back")
			}
			if err := b.ping(ctx); err != nil && !cfg.Cache.ServeStaleOnError {
				return fmt.Errorf("backend unreachable: %w", err)
			}
			return nil
		},
		// Flushes every write-back write acknowledged so far (write-through
		// has nothing to flush: its writes are in the backend already).
		Drain: srv.DrainWriteBack,
		Status: func() telemetry.StatusInfo {
			info := telemetry.StatusInfo{Version: version, Started: o.started, Backend: backend, BackendState: "up"}
			snapshot(srv, &info.Cache)
			if err := b.ping(context.Background()); err != nil {
				info.BackendState = "down: " + err.Error()
			}
			return info
		},
	})
	if err != nil {
		return fmt.Errorf("admin_listen: %w", err)
	}
	o.admin = admin
	o.log.Info("admin server listening", "addr", admin.Addr(), "pprof", cfg.AdminPprof)
	return nil
}

// close stops the admin server and flushes traces.
func (o *ops) close(ctx context.Context) {
	if o.admin != nil {
		o.admin.Close(ctx)
	}
	o.tr.Shutdown(ctx)
}

// watchReload reloads the configuration on SIGHUP and when the file
// changes (polled every 2s), until ctx ends.
func (o *ops) watchReload(ctx context.Context, opts config.LoadOptions, cc *cache.Cache, srv *proxy.Server) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	mtime := fileMtime(opts.Path)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			o.reload(opts, cc, srv, "SIGHUP")
			mtime = fileMtime(opts.Path)
		case <-tick.C:
			if opts.Path == "" {
				continue
			}
			if m := fileMtime(opts.Path); !m.Equal(mtime) {
				mtime = m
				o.reload(opts, cc, srv, "file change")
			}
		}
	}
}

func fileMtime(path string) time.Time {
	if path == "" {
		return time.Time{}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// reload applies a new configuration's live keys. An invalid configuration
// is rejected with all its errors and the running one stays.
func (o *ops) reload(opts config.LoadOptions, cc *cache.Cache, srv *proxy.Server, why string) {
	next, err := config.Load(opts)
	if err != nil {
		o.log.Error("reload rejected; the running configuration stays", "trigger", why, "errors", err.Error())
		return
	}
	o.mu.Lock()
	prev := o.cfg
	o.mu.Unlock()
	live, restart := config.Diff(prev, next)
	for _, p := range live {
		var err error
		switch {
		case p == "cache.max_memory":
			err = cc.SetMaxMemory(int64(next.Cache.MaxMemory))
		case p == "cache.ttl":
			cc.SetTTL(time.Duration(next.Cache.TTL))
		case p == "cache.negative_ttl":
			srv.SetNegativeTTL(time.Duration(next.Cache.NegativeTTL))
		case strings.HasPrefix(p, "cache.namespaces"):
			err = cc.SetNamespaces(cacheNamespaces(next.Cache))
		case p == "telemetry.traces.sample_ratio":
			err = o.tr.SetSampleRatio(next.Telemetry.Traces.SampleRatio)
		case p == "log.level":
			var l slog.Level
			if l, err = telemetry.ParseLevel(next.Log.Level); err == nil {
				o.level.Set(l)
			}
		case p == "log.slow_threshold":
			o.slow.SetThreshold(time.Duration(next.Log.SlowThreshold))
		}
		if err != nil {
			o.log.Error("reload: could not apply", "key", p, "err", err)
			continue
		}
		o.log.Info("reload: applied", "key", p, "trigger", why)
	}
	for _, p := range restart {
		o.log.Warn("reload: changed key needs a restart to apply", "key", p)
	}
	o.mu.Lock()
	o.cfg = next
	o.mu.Unlock()
}

// runDrain is `respcache drain`: it asks a running respcache (its admin
// server, from the same configuration) to flush its write-back state, for
// a Kubernetes preStop hook, and waits up to shutdown_timeout.
func runDrain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("respcache drain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "YAML configuration `file` of the respcache to drain")
	addr := fs.String("admin", "", "admin `host:port` (default: admin_listen of the configuration)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg, err := config.Load(config.LoadOptions{Path: *cfgPath, Env: os.Environ()})
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	target := *addr
	if target == "" {
		target = cfg.AdminListen
	}
	if target == "" {
		fmt.Fprintln(stderr, "respcache drain: admin_listen is empty: no admin server to ask")
		return 1
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		fmt.Fprintf(stderr, "respcache drain: %v\n", err)
		return 1
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1" // listening on every interface: loopback reaches it
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownTimeout))
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+net.JoinHostPort(host, port)+"/drain", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "respcache drain: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "respcache drain: %s: %s\n", resp.Status, strings.TrimSpace(string(body)))
		return 1
	}
	fmt.Fprintln(stdout, "drained")
	return 0
}
