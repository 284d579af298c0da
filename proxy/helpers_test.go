package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/respcache/respcache/store/redis"
)

// testProxy is a proxy started in front of an upstream for one test.
type testProxy struct {
	Addr string
	srv  *Server
	up   *redis.Client
}

// startProxy starts a proxy on 127.0.0.1:0 in front of the upstream that
// ucfg describes, stopped when the test ends.
func startProxy(t testing.TB, cfg Config, ucfg redis.Config) *testProxy {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if ucfg.Logger == nil {
		ucfg.Logger = cfg.Logger
	}
	up, err := redis.New(ucfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	return startProxyWith(t, cfg, up)
}

// startProxyWith starts a proxy with the given upstream (nil: cfg.Store).
func startProxyWith(t testing.TB, cfg Config, up *redis.Client) *testProxy {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var u Upstream
	if up != nil {
		u = up
	}
	srv, err := New(cfg, u)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v", err)
		}
	})
	return &testProxy{Addr: ln.Addr().String(), srv: srv, up: up}
}

// startRelay starts a plain proxy in front of a standalone upstream.
func startStandalone(t testing.TB, upstream string) *testProxy {
	return startProxy(t, Config{}, redis.Config{Addrs: []string{upstream}})
}
