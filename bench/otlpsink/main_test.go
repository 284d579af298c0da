package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// TestMain lets TestSIGTERM run the real main in a child process: the test
// binary re-executed with otlpsinkMainEnv set is the sink.
func TestMain(m *testing.M) {
	if os.Getenv(otlpsinkMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const otlpsinkMainEnv = "OTLPSINK_TEST_RUN_MAIN"

// waitFile polls until path exists and returns its content.
func waitFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear: %v", path, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// parseCounts reads the "name value" lines of the sink's report.
func parseCounts(t *testing.T, s string) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			t.Fatalf("bad line %q in report:\n%s", sc.Text(), s)
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatalf("bad value in %q: %v", sc.Text(), err)
		}
		m[f[0]] = v
	}
	return m
}

// addrOf returns the address of proto ("grpc", "http") in an addr file.
func addrOf(t *testing.T, addrFile, proto string) string {
	t.Helper()
	for _, line := range strings.Split(addrFile, "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == proto {
			return f[1]
		}
	}
	t.Fatalf("no %s address in %q", proto, addrFile)
	return ""
}

// startSink runs the sink in-process on free ports; stop ends it and
// returns what it printed and what it wrote to -out.
func startSink(t *testing.T, interval time.Duration) (addrs, outFile string, stop func() (stdout, out string)) {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		AddrFile: filepath.Join(dir, "addrs"), OutFile: filepath.Join(dir, "counts"), Interval: interval}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, &stdout) }()
	stopped := false
	stop = func() (string, string) {
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("run: %v", err)
		}
		b, err := os.ReadFile(cfg.OutFile)
		if err != nil {
			t.Fatal(err)
		}
		return stdout.String(), string(b)
	}
	t.Cleanup(func() {
		if !stopped {
			cancel()
			<-done
		}
	})
	return waitFile(t, cfg.AddrFile), cfg.OutFile, stop
}

// exportRespcacheLike sends, through exp, the spans respcache makes for a
// sampled GET miss (SERVER + CLIENT), a SET (SERVER), a journal append
// (INTERNAL) and one PRODUCER span, in one batch: 5 spans.
func exportRespcacheLike(t *testing.T, exp sdktrace.SpanExporter) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The batcher's timeout is far away: Shutdown sends everything as one
	// request.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(time.Hour)))
	tr := tp.Tracer("otlpsink-test")
	gctx, get := tr.Start(ctx, "GET", trace.WithSpanKind(trace.SpanKindServer))
	_, up := tr.Start(gctx, "GET", trace.WithSpanKind(trace.SpanKindClient))
	up.End()
	get.End()
	sctx, set := tr.Start(ctx, "SET", trace.WithSpanKind(trace.SpanKindServer))
	_, j := tr.Start(sctx, "respcache.journal.append", trace.WithSpanKind(trace.SpanKindInternal))
	j.End()
	set.End()
	_, p := tr.Start(ctx, "publish", trace.WithSpanKind(trace.SpanKindProducer))
	p.End()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatalf("export: %v", err)
	}
}

func TestExport(t *testing.T) {
	want := map[string]int64{
		"requests": 1, "rejected": 0, "spans": 5, "spans_server": 2, "spans_client": 1,
		"spans_internal": 1, "spans_other": 1,
		"span_name:GET": 2, "span_name:SET": 1, "span_name:respcache.journal.append": 1, "span_name:publish": 1,
	}
	tests := []struct {
		name string
		exp  func(ctx context.Context, addr string) (sdktrace.SpanExporter, error)
		// framing is wire_bytes - payload_bytes when uncompressed; -1 when
		// compressed (the sizes are then unrelated).
		proto   string
		framing int64
	}{
		{"grpc", func(ctx context.Context, addr string) (sdktrace.SpanExporter, error) {
			return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure())
		}, "grpc", 5},
		{"grpc gzip", func(ctx context.Context, addr string) (sdktrace.SpanExporter, error) {
			return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure(), otlptracegrpc.WithCompressor("gzip"))
		}, "grpc", -1},
		{"http", func(ctx context.Context, addr string) (sdktrace.SpanExporter, error) {
			return otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(addr), otlptracehttp.WithInsecure())
		}, "http", 0},
		{"http gzip", func(ctx context.Context, addr string) (sdktrace.SpanExporter, error) {
			return otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(addr), otlptracehttp.WithInsecure(),
				otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
		}, "http", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addrs, _, stop := startSink(t, 0)
			exp, err := tt.exp(context.Background(), addrOf(t, addrs, tt.proto))
			if err != nil {
				t.Fatal(err)
			}
			exportRespcacheLike(t, exp)
			stdout, out := stop()
			if stdout != out {
				t.Errorf("stdout and -out differ:\n%s\n---\n%s", stdout, out)
			}
			got := parseCounts(t, out)
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %d, want %d\n%s", k, got[k], v, out)
				}
			}
			if got["payload_bytes"] < 200 {
				t.Errorf("payload_bytes = %d, want a 5-span request's size (hundreds of bytes)", got["payload_bytes"])
			}
			switch {
			case tt.framing >= 0 && got["wire_bytes"]-got["payload_bytes"] != tt.framing:
				t.Errorf("wire_bytes %d - payload_bytes %d = %d, want %d", got["wire_bytes"], got["payload_bytes"],
					got["wire_bytes"]-got["payload_bytes"], tt.framing)
			case tt.framing < 0 && (got["wire_bytes"] <= 0 || got["wire_bytes"] >= got["payload_bytes"]):
				t.Errorf("compressed wire_bytes = %d, want in (0, payload_bytes %d)", got["wire_bytes"], got["payload_bytes"])
			}
		})
	}
}

// TestInterval checks that -out follows the counts while the sink runs.
func TestInterval(t *testing.T) {
	addrs, outFile, stop := startSink(t, 10*time.Millisecond)
	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(addrOf(t, addrs, "grpc")), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	exportRespcacheLike(t, exp)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(outFile)
		if got := parseCounts(t, string(b)); got["spans"] == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("-out never showed 5 spans while running; last:\n%s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
}

func TestHTTPRejects(t *testing.T) {
	tests := []struct {
		name, method, ctype, encoding string
		body                          []byte
		code                          int
	}{
		{"GET", http.MethodGet, "", "", nil, http.StatusMethodNotAllowed},
		{"JSON", http.MethodPost, "application/json", "", []byte("{}"), http.StatusUnsupportedMediaType},
		{"not protobuf", http.MethodPost, "application/x-protobuf", "", []byte{0xff, 0xff, 0xff}, http.StatusBadRequest},
		{"not gzip", http.MethodPost, "application/x-protobuf", "gzip", []byte("plain"), http.StatusBadRequest},
		{"brotli", http.MethodPost, "application/x-protobuf", "br", []byte{}, http.StatusUnsupportedMediaType},
	}
	addrs, _, stop := startSink(t, 0)
	url := "http://" + addrOf(t, addrs, "http") + "/v1/traces"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, url, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			if tt.encoding != "" {
				req.Header.Set("Content-Encoding", tt.encoding)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.code)
			}
		})
	}
	_, out := stop()
	got := parseCounts(t, out)
	if got["rejected"] != int64(len(tests)) || got["requests"] != 0 || got["spans"] != 0 {
		t.Errorf("rejected %d requests %d spans %d, want %d, 0, 0", got["rejected"], got["requests"], got["spans"], len(tests))
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want Config
		err  error
	}{
		{"defaults", nil, Config{GRPCAddr: DefaultGRPCAddr, MaxRequestBytes: DefaultMaxRequestBytes}, nil},
		{"http only", []string{"-grpc", "", "-http", "127.0.0.1:0", "-out", "c"},
			Config{HTTPAddr: "127.0.0.1:0", OutFile: "c", MaxRequestBytes: DefaultMaxRequestBytes}, nil},
		{"no listener", []string{"-grpc", ""}, Config{}, ErrNoListener},
		{"unknown flag", []string{"-bogus"}, Config{}, ErrUsage},
		{"argument", []string{"extra"}, Config{}, ErrUsage},
		{"interval", []string{"-interval", "250ms"},
			Config{GRPCAddr: DefaultGRPCAddr, MaxRequestBytes: DefaultMaxRequestBytes, Interval: 250 * time.Millisecond}, nil},
		{"negative interval", []string{"-interval", "-1s"}, Config{}, ErrUsage},
		{"negative limit", []string{"-max-request-bytes", "-1"}, Config{}, ErrUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseFlags(tt.args, io.Discard)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err == nil && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestSIGTERM runs the sink as bench/tracing.sh does, as its own process,
// and stops it with SIGTERM.
func TestSIGTERM(t *testing.T) {
	dir := t.TempDir()
	addrFile, outFile := filepath.Join(dir, "addrs"), filepath.Join(dir, "counts")
	cmd := exec.Command(os.Args[0], "-grpc", "127.0.0.1:0", "-addr-file", addrFile, "-out", outFile)
	cmd.Env = append(os.Environ(), otlpsinkMainEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	t.Cleanup(func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	addr := addrOf(t, waitFile(t, addrFile), "grpc")
	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	exportRespcacheLike(t, exp)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	waited = true
	if err != nil {
		t.Fatalf("sink exited with %v; stderr:\n%s", err, stderr.String())
	}
	got := parseCounts(t, stdout.String())
	if got["spans"] != 5 || got["requests"] != 1 {
		t.Errorf("spans %d requests %d, want 5 and 1; stdout:\n%s", got["spans"], got["requests"], stdout.String())
	}
	if out := waitFile(t, outFile); out != stdout.String() {
		t.Errorf("-out differs from stdout:\n%s\n---\n%s", out, stdout.String())
	}
}

// FuzzHTTPExport feeds arbitrary bodies to the OTLP/HTTP handler: each
// request is either counted with its spans or rejected, never both, and
// nothing panics.
func FuzzHTTPExport(f *testing.F) {
	valid, err := proto.Marshal(&collectortrace.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{{
		ScopeSpans: []*tracepb.ScopeSpans{{Spans: []*tracepb.Span{
			{Name: "GET", Kind: tracepb.Span_SPAN_KIND_SERVER},
			{Name: "GET", Kind: tracepb.Span_SPAN_KIND_CLIENT},
		}}},
	}}})
	if err != nil {
		f.Fatal(err)
	}
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write(valid)
	_ = zw.Close()
	f.Add(valid, false)
	f.Add(zipped.Bytes(), true)
	f.Add(valid[:len(valid)/2], false)
	f.Add([]byte{}, false)
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, false)
	f.Fuzz(func(t *testing.T, body []byte, gz bool) {
		c := &Counts{}
		h := &httpHandler{counts: c, maxBytes: 1 << 20}
		req := httptest.NewRequest(http.MethodPost, "/v1/traces", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-protobuf")
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		accepted, rejected := c.requests.Load(), c.rejected.Load()
		if accepted+rejected != 1 {
			t.Fatalf("accepted %d rejected %d, want exactly one", accepted, rejected)
		}
		if (rec.Code == http.StatusOK) != (accepted == 1) {
			t.Fatalf("status %d with accepted=%d", rec.Code, accepted)
		}
		if rejected == 1 && c.spans.Load() != 0 {
			t.Fatalf("rejected request counted %d spans", c.spans.Load())
		}
		if c.spans.Load() != c.server.Load()+c.client.Load()+c.internal.Load()+c.other.Load() {
			t.Fatalf("span kinds do not add up")
		}
	})
}
