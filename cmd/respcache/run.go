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
	if cfg.Backend.Type != "redis" {
		fmt.Fprintln(stderr, "respcache: the embedded disk store (backend.type disk, the default) is not built yet; "+
			"run in front of a Redis instead: respcache --upstream 127.0.0.1:6379")
		return 1
	}
	up, cc, srv, err := build(cfg, log, o.proxyTelemetry())
	if err != nil {
		fmt.Fprintf(stderr, "respcache: %v\n", err)
		return 1
	}
	defer up.Close()
	defer cc.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "respcache: %v\n", err)
		return 1
	}
	log.Info("respcache listening", "addr", ln.Addr().String(), "upstream", strings.Join(cfg.Backend.Redis.Addrs, ","),
		"topology", cfg.Backend.Redis.Topology, "version", version)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var draining atomic.Bool
	// The RESP listener is bound before the admin server starts, so a
	// passing /healthz means the application can connect.
	if err := o.startAdmin(ctx, cfg, up, cc, srv, draining.Load); err != nil {
		fmt.Fprintf(stderr, "respcache: %v\n", err)
		srv.Close()
		return 1
	}
	go o.watchReload(ctx, opts, cc, srv)
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

// build maps the configuration onto the packages' own Config structs.
func build(cfg *config.Config, log *slog.Logger, tel proxy.Telemetry) (*redis.Client, *cache.Cache, *proxy.Server, error) {
	rc := cfg.Backend.Redis
	upTLS, err := upstreamTLS(rc.TLS)
	if err != nil {
		return nil, nil, nil, err
	}
	up, err := redis.New(redis.Config{
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
		return nil, nil, nil, err
	}
	lnTLS, err := listenerTLS(cfg.TLS)
	if err != nil {
		up.Close()
		return nil, nil, nil, err
	}
	cc, err := buildCache(cfg.Cache)
	if err != nil {
		up.Close()
		return nil, nil, nil, err
	}
	srv, err := proxy.New(proxy.Config{
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
		Cache: proxy.CacheConfig{
			Cache:        cc,
			NegativeTTL:  time.Duration(cfg.Cache.NegativeTTL),
			ServeStale:   cfg.Cache.ServeStaleOnError,
			Invalidation: cfg.Cache.Invalidation,
			MaxItemSize:  int(cfg.Cache.MaxItemSize),
		},
	}, up)
	if err != nil {
		up.Close()
		cc.Close()
		return nil, nil, nil, err
	}
	return up, cc, srv, nil
}

// buildCache makes the local cache from the cache section.
func buildCache(c config.Cache) (*cache.Cache, error) {
	cc, err := cache.New(cache.Config{
		MaxMemory:   int64(c.MaxMemory),
		MaxItemSize: int(c.MaxItemSize),
		TTL:         time.Duration(c.TTL),
		Namespaces:  cacheNamespaces(c),
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
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
