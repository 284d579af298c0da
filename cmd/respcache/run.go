package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/respcache/respcache/cache"
	"github.com/respcache/respcache/config"
	"github.com/respcache/respcache/proxy"
	"github.com/respcache/respcache/store/disk"
	"github.com/respcache/respcache/store/journal"
	"github.com/respcache/respcache/store/redis"
)

// serve builds respcache from cfg, runs it until SIGTERM or SIGINT, then
// drains: stop accepting, finish in-flight commands within
// shutdown_timeout, exit 0. SIGHUP and changes of the config file reload
// the live keys.
func serve(cfg *config.Config, opts config.LoadOptions, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o, err := newOps(ctx, cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "respcache: %v\n", err)
		return 1
	}
	log := o.log
	setMemoryLimit(log)
	b, err := build(cfg, log, o.proxyTelemetry())
	if err != nil {
		fmt.Fprintf(stderr, "respcache: %v\n", err)
		return 1
	}
	defer b.close()
	srv := b.srv
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "respcache: %v\n", err)
		return 1
	}
	log.Info("respcache listening", "addr", ln.Addr().String(), "backend", b.desc, "version", version)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var draining atomic.Bool
	// The RESP listener is bound before the admin server starts, so a
	// passing /healthz means the application can connect.
	if err := o.startAdmin(ctx, cfg, b, draining.Load); err != nil {
		fmt.Fprintf(stderr, "respcache: %v\n", err)
		srv.Close()
		return 1
	}
	go o.watchReload(ctx, opts, b.cache, srv)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	code := 0
	select {
	case err := <-errc:
		log.Error("listener failed", "err", err)
		code = 1
	case s := <-sig:
		log.Info("draining", "signal", s.String(), "timeout", time.Duration(cfg.ShutdownTimeout).String())
	}
	draining.Store(true)
	sctx, scancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownTimeout))
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown timeout reached; closed the remaining clients", "err", err)
	}
	o.close(sctx)
	log.Info("stopped")
	return code
}

// built is a running respcache's parts.
type built struct {
	up    *redis.Client // nil with the disk backend
	disk  *disk.Store   // nil with a redis backend
	cache *cache.Cache
	jrnl  *journal.Journal // nil: write-through
	srv   *proxy.Server
	desc  string // the backend, for logs and the status page
}

// close releases the cache and the backend (after the server stopped);
// parts never built are skipped.
func (b *built) close() {
	if b.jrnl != nil {
		if err := b.jrnl.Close(); err != nil {
			slog.Error("closing the write-back journal", "err", err)
		}
	}
	if b.cache != nil {
		b.cache.Close()
	}
	if b.up != nil {
		b.up.Close()
	}
	if b.disk != nil {
		if err := b.disk.Close(); err != nil {
			slog.Error("closing the disk store", "err", err)
		}
	}
}

// ping checks the backend (readiness).
func (b *built) ping(ctx context.Context) error {
	if b.up != nil {
		return b.up.Ping(ctx)
	}
	return nil // in-process: up while the process is
}

// diskStore adapts *disk.Store to proxy.Store.
type diskStore struct{ *disk.Store }

func (d diskStore) NewConn() proxy.StoreConn { return d.Store.NewConn() }

// build maps the configuration onto the packages' own Config structs.
func build(cfg *config.Config, log *slog.Logger, tel proxy.Telemetry) (*built, error) {
	b := &built{}
	fail := func(err error) (*built, error) {
		b.close()
		return nil, err
	}
	rc := cfg.Backend.Redis
	var up proxy.Upstream
	var store proxy.Store
	if cfg.Backend.Type == "redis" {
		upTLS, err := upstreamTLS(rc.TLS)
		if err != nil {
			return nil, err
		}
		b.up, err = redis.New(redis.Config{
			Addrs:        rc.Addrs,
			Topology:     rc.Topology,
			MasterName:   rc.MasterName,
			Username:     rc.Username,
			Password:     rc.Password,
			TLS:          upTLS,
			Lanes:        rc.PoolSize,
			MaxPinned:    rc.MaxPinned,
			DialTimeout:  time.Duration(rc.DialTimeout),
			ReadTimeout:  time.Duration(rc.ReadTimeout),
			WriteTimeout: time.Duration(rc.WriteTimeout),
			Logger:       log,
		})
		if err != nil {
			return nil, err
		}
		up = b.up
		b.desc = fmt.Sprintf("redis %s (%s)", strings.Join(rc.Addrs, ","), rc.Topology)
	} else {
		dc := cfg.Backend.Disk
		st, err := disk.Open(disk.Options{
			Dir: dc.Dir, Fsync: dc.Fsync, BlockCache: int64(dc.BlockCache), Memtable: int64(dc.Memtable), Logger: log,
		})
		if err != nil {
			return nil, fmt.Errorf("backend.disk: %w", err)
		}
		b.disk = st
		store = diskStore{st}
		b.desc = "disk " + dc.Dir
	}
	lnTLS, err := listenerTLS(cfg.TLS)
	if err != nil {
		return fail(err)
	}
	if b.cache, err = buildCache(cfg.Cache, cfg.Write); err != nil {
		return fail(err)
	}
	var wb *proxy.WriteBackConfig
	if w := cfg.Write; w.Mode == "write-back" {
		// Opened before the server: New replays it before serving.
		b.jrnl, err = journal.Open(context.Background(), journal.Options{Dir: w.JournalDir, Fsync: w.Fsync, Logger: log})
		if err != nil {
			return fail(fmt.Errorf("write.journal_dir: %w", err))
		}
		wb = &proxy.WriteBackConfig{
			Journal:       b.jrnl,
			FlushInterval: time.Duration(w.FlushInterval),
			MaxBatch:      w.MaxBatch,
			FlushTimeout:  time.Duration(rc.WriteTimeout) + time.Duration(rc.ReadTimeout),
		}
	}
	b.srv, err = proxy.New(proxy.Config{
		Password:            cfg.Auth.ResolvedPassword,
		TLS:                 lnTLS,
		MaxClients:          cfg.Limits.MaxClients,
		IdleTimeout:         time.Duration(cfg.Limits.IdleTimeout),
		DenyCommands:        cfg.Limits.DenyCommands,
		ClientOutputBuffer:  int64(cfg.Limits.ClientOutputBuffer),
		ProtoMaxBulkLen:     int64(cfg.Limits.ProtoMaxBulkLen),
		UpstreamReadTimeout: time.Duration(rc.ReadTimeout),
		DefaultDB:           rc.DB,
		Logger:              log,
		Telemetry:           tel,
		Store:               store,
		WriteBack:           wb,
		Cache: proxy.CacheConfig{
			Cache:        b.cache,
			NegativeTTL:  time.Duration(cfg.Cache.NegativeTTL),
			ServeStale:   cfg.Cache.ServeStaleOnError,
			Invalidation: cfg.Cache.Invalidation,
			MaxItemSize:  int(cfg.Cache.MaxItemSize),
		},
	}, up)
	if err != nil {
		return fail(err)
	}
	return b, nil
}

// buildCache makes the local cache from the cache section.
func buildCache(c config.Cache, w config.Write) (*cache.Cache, error) {
	cfg := cache.Config{
		MaxMemory:   int64(c.MaxMemory),
		MaxItemSize: int(c.MaxItemSize),
		TTL:         time.Duration(c.TTL),
		Namespaces:  cacheNamespaces(c),
	}
	if w.Mode == "write-back" {
		// Only write-back has dirty items; in write-through mode the
		// default max_dirty must not constrain a small quota.
		cfg.MaxDirty, cfg.BackpressureTimeout = int64(w.MaxDirty), time.Duration(w.BackpressureTimeout)
	}
	cc, err := cache.New(cfg)
	if err != nil {
		return nil, err // the cache package's errors say "cache: ..."
	}
	return cc, nil
}

// cacheNamespaces maps cache.namespaces onto the cache's own type.
func cacheNamespaces(c config.Cache) []cache.Namespace {
	var out []cache.Namespace
	for _, ns := range c.Namespaces {
		mode := cache.ModeCache
		if ns.Mode == "bypass" {
			mode = cache.ModeBypass
		}
		out = append(out, cache.Namespace{
			Prefix: ns.Prefix, MaxMemory: int64(ns.MaxMemory), TTL: time.Duration(ns.TTL), Mode: mode,
		})
	}
	return out
}

func listenerTLS(t config.TLS) (*tls.Config, error) {
	if !t.Enabled() {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pool, err := loadCAs(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		tc.ClientCAs = pool
	}
	switch t.ClientAuth {
	case "request":
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	case "require":
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

func upstreamTLS(t config.RedisTLS) (*tls.Config, error) {
	if !t.Active() {
		return nil, nil
	}
	tc := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pool, err := loadCAs(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("backend.redis.tls.ca_file: %w", err)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("backend.redis.tls: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func loadCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New(file + ": no PEM certificates found")
	}
	return pool, nil
}
