package telemetry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func do(t *testing.T, c *http.Client, method, url string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestAdminRoutes(t *testing.T) {
	var ready atomic.Pointer[error]
	var drains atomic.Int32
	drainErr := errors.New("journal fsync failed")
	var failDrain atomic.Bool
	a := startAdminT(t, AdminConfig{
		Pprof:   true,
		Metrics: NewMetrics(),
		Ready: func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				return errors.New("no deadline")
			}
			if p := ready.Load(); p != nil {
				return *p
			}
			return nil
		},
		Drain: func(ctx context.Context) error {
			drains.Add(1)
			if failDrain.Load() {
				return drainErr
			}
			return nil
		},
	})
	noPprof := startAdminT(t, AdminConfig{})
	base, bare := "http://"+a.Addr(), "http://"+noPprof.Addr()
	notReady := errors.New("upstream 10.0.0.7:6379: connection refused")

	tests := []struct {
		name     string
		setup    func()
		method   string
		url      string
		code     int
		body     string // substring
		header   [2]string
		drainsTo int32
	}{
		{name: "healthz", method: "GET", url: base + "/healthz", code: 200, body: "ok\n"},
		{name: "healthz HEAD", method: "HEAD", url: base + "/healthz", code: 200},
		{name: "readyz ready", method: "GET", url: base + "/readyz", code: 200, body: "ready"},
		{name: "readyz not ready", setup: func() { ready.Store(&notReady) }, method: "GET", url: base + "/readyz", code: 503, body: "connection refused"},
		{name: "readyz without Ready", method: "GET", url: bare + "/readyz", code: 200, body: "ready"},
		{name: "drain GET", method: "GET", url: base + "/drain", code: 405, header: [2]string{"Allow", "POST"}},
		{name: "drain", method: "POST", url: base + "/drain", code: 200, body: "drained", drainsTo: 1},
		{name: "drain fails", setup: func() { failDrain.Store(true) }, method: "POST", url: base + "/drain", code: 503, body: "journal fsync failed", drainsTo: 2},
		{name: "drain unavailable", method: "POST", url: bare + "/drain", code: 501, drainsTo: 2},
		{name: "metrics", method: "GET", url: base + "/metrics", code: 200, body: "go_goroutines"},
		{name: "metrics off", method: "GET", url: bare + "/metrics", code: 404},
		{name: "pprof index", method: "GET", url: base + "/debug/pprof/", code: 200, body: "goroutine"},
		{name: "pprof heap", method: "GET", url: base + "/debug/pprof/heap?debug=1", code: 200, body: "heap profile"},
		{name: "pprof cmdline", method: "GET", url: base + "/debug/pprof/cmdline", code: 200},
		{name: "pprof off", method: "GET", url: bare + "/debug/pprof/", code: 404},
		{name: "status page", method: "GET", url: base + "/", code: 200, body: "<title>respcache status</title>", header: [2]string{"Content-Type", "text/html; charset=utf-8"}},
		{name: "unknown path", method: "GET", url: base + "/nope", code: 404},
		{name: "status POST", method: "POST", url: base + "/", code: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			code, hdr, body := do(t, http.DefaultClient, tt.method, tt.url)
			if code != tt.code {
				t.Fatalf("%s %s = %d %q, want %d", tt.method, tt.url, code, body, tt.code)
			}
			if !strings.Contains(body, tt.body) {
				t.Errorf("body %q does not contain %q", body, tt.body)
			}
			if tt.header[0] != "" && !strings.Contains(hdr.Get(tt.header[0]), tt.header[1]) {
				t.Errorf("%s = %q, want %q", tt.header[0], hdr.Get(tt.header[0]), tt.header[1])
			}
			if tt.drainsTo != 0 && drains.Load() != tt.drainsTo {
				t.Errorf("Drain called %d times, want %d", drains.Load(), tt.drainsTo)
			}
		})
	}
}

func TestAdminConfig(t *testing.T) {
	if _, err := StartAdmin(context.Background(), AdminConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("empty Addr: %v, want ErrInvalidConfig", err)
	}
	a := startAdminT(t, AdminConfig{})
	if _, err := StartAdmin(context.Background(), AdminConfig{Addr: a.Addr()}); err == nil {
		t.Error("second listener on the same address succeeded")
	}
}

// TestAdminCloseNoLeak checks that Close returns only after the server's
// goroutines are gone, also with a request in flight and idle keep-alive
// connections open.
func TestAdminCloseNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	release := make(chan struct{})
	entered := make(chan struct{})
	a, err := StartAdmin(context.Background(), AdminConfig{
		Addr:    "127.0.0.1:0",
		Metrics: NewMetrics(),
		Drain: func(ctx context.Context) error {
			close(entered)
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	c := &http.Client{Transport: tr}
	for range 3 {
		if code, _, _ := do(t, c, "GET", "http://"+a.Addr()+"/metrics"); code != 200 {
			t.Fatalf("metrics: %d", code)
		}
	}
	drained := make(chan int)
	go func() {
		resp, err := c.Post("http://"+a.Addr()+"/drain", "", nil)
		if err != nil {
			drained <- 0
			return
		}
		resp.Body.Close()
		drained <- resp.StatusCode
	}()
	<-entered
	closed := make(chan error)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		closed <- a.Close(ctx)
	}()
	// Close waits for the in-flight drain...
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if code := <-drained; code != 200 {
		t.Errorf("in-flight drain got %d, want 200", code)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := a.Close(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
	tr.CloseIdleConnections()
	// ...and leaves no goroutine behind.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStatusPageContent(t *testing.T) {
	started := time.Now().Add(-(3*time.Hour + 25*time.Minute))
	a := startAdminT(t, AdminConfig{Status: func() StatusInfo {
		info := StatusInfo{Version: "v1.4.0-test", Started: started, Backend: "redis 10.0.0.7:6379 (standalone)", BackendState: "up <ok>"}
		fullSnapshot(&info.Cache)
		return info
	}})
	code, _, body := do(t, http.DefaultClient, "GET", "http://"+a.Addr()+"/")
	if code != 200 {
		t.Fatalf("GET / = %d", code)
	}
	for _, want := range []string{
		`id="version">v1.4.0-test<`, `id="uptime">3h25m0s<`, `redis 10.0.0.7:6379 (standalone)`,
		`up &lt;ok&gt;`, // escaped
		`id="tracking" class="state-up">up<`, `id="hits">900<`, `id="misses">100<`, `id="hit-ratio">90.0%<`,
		`id="items">4242<`, `id="evictions">7<`, `id="connections">37<`,
		`data-quota="global" data-used="67108864" data-limit="268435456" data-pct="25.00"`,
		`data-quota="ns:session:" data-used="53477376" data-limit="67108864" data-pct="79.69"`,
		`data-quota="dirty" data-used="62914560" data-limit="67108864" data-pct="93.75"`,
		`style="width: 25.00%"`, `64.0 MiB / 256.0 MiB (25.0%)`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
	if !strings.Contains(body, `data-quota="ns:user:" data-used="10485760" data-limit="268435456"`) {
		t.Error("a namespace without a cap of its own has no bar against the global quota")
	}
	if strings.Count(body, `class="quota"`) != 4 {
		t.Errorf("%d bars, want 4 (global, session:, user:, dirty; duplicates dropped)", strings.Count(body, `class="quota"`))
	}
	for _, banned := range []string{"<script", "<link", "src=\"http", "@import", "url("} {
		if strings.Contains(body, banned) {
			t.Errorf("status page is not self-contained: has %q", banned)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {64 << 20, "64.0 MiB"}, {3 << 30, "3.0 GiB"}, {1536, "1.5 KiB"}, {-2048, "-2.0 KiB"}} {
		if got := humanBytes(tt.n); got != tt.want {
			t.Errorf("humanBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
