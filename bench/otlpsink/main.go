// Command otlpsink is the OTLP trace receiver of bench/tracing.sh: a real
// collector endpoint that accepts every ExportTraceServiceRequest, keeps
// nothing but counts, and reports them when it stops.
//
//	otlpsink [-grpc ADDR] [-http ADDR] [-addr-file FILE] [-out FILE] [-interval D]
//
// It serves OTLP/gRPC (collector.trace.v1.TraceService/Export, gzip
// accepted) on -grpc and OTLP/HTTP (POST of application/x-protobuf to any
// path, /v1/traces by convention, gzip accepted) on -http; an empty address
// turns that protocol off, port 0 picks a free port. The addresses actually
// bound are written to -addr-file as "grpc HOST:PORT" and "http HOST:PORT"
// lines (the file appears whole, by rename), so a script can start the sink
// on port 0 and wait for the file instead of racing for a port.
//
// With -interval, -out is also rewritten with the counts so far every
// interval while the sink runs, so a script can wait for spans to arrive
// (bench/tracing.sh waits for a warm-up's spans before measuring).
//
// On SIGTERM or SIGINT it stops listening, lets exports in flight finish
// (at most 5 seconds), then prints the counts to stdout and writes them to
// -out, one "name value" line each:
//
//	requests       export requests accepted
//	rejected       OTLP/HTTP requests refused (bad method, type or body)
//	spans          spans received, of every kind
//	spans_server   SERVER spans (respcache: one per sampled client command)
//	spans_client   CLIENT spans (respcache: one per upstream call of one)
//	spans_internal INTERNAL spans (journal appends, write-back flushes)
//	spans_other    spans of any other kind
//	payload_bytes  serialized ExportTraceServiceRequest bytes, uncompressed
//	wire_bytes     request bytes as received: gzip-compressed when the
//	               exporter compresses, plus gRPC's 5-byte message framing
//	               (HTTP/2 and HTTP/1 framing and headers not counted)
//	span_name:NAME spans named NAME, one line per name, sorted
//
// Why a sink of its own rather than an OpenTelemetry Collector: the
// benchmark needs only an endpoint that accepts exports as fast as a
// collector would and says how many spans arrived; a Collector with a
// debug exporter would cost more CPU on the 2-core machine the benchmark
// shares with respcache and redis-benchmark, and is not installed there.
// The sink does the minimum a collector must (decode the request) and no
// more, so respcache's measured cost is its own.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // accept gzip-compressed exports (OTEL_EXPORTER_OTLP_COMPRESSION=gzip)
	"google.golang.org/grpc/stats"
	"google.golang.org/protobuf/proto"
)

// Errors of the sink, checked with errors.Is.
var (
	// ErrNoListener is returned when both -grpc and -http are empty.
	ErrNoListener = errors.New("otlpsink: no listener (set -grpc or -http)")
	// ErrUsage wraps a command-line parsing error.
	ErrUsage = errors.New("otlpsink: usage")
)

// Defaults of Config.
const (
	// DefaultGRPCAddr is OTLP/gRPC's conventional port on loopback.
	DefaultGRPCAddr = "127.0.0.1:4317"
	// DefaultMaxRequestBytes bounds one request's body (decompressed for
	// OTLP/HTTP) and gRPC message: 64 MiB, far above an SDK's batch of
	// 512 spans and far below what would hurt the machine.
	DefaultMaxRequestBytes = 64 << 20
	// drainTimeout bounds how long stopping waits for exports in flight.
	drainTimeout = 5 * time.Second
)

// Config is the sink's command line.
type Config struct {
	// GRPCAddr is the OTLP/gRPC listen address; "" disables gRPC. Default
	// DefaultGRPCAddr (set by the flag's default).
	GRPCAddr string
	// HTTPAddr is the OTLP/HTTP listen address; "" (default) disables HTTP.
	HTTPAddr string
	// AddrFile, when set, receives the bound addresses once listening.
	AddrFile string
	// OutFile, when set, receives the counts on stop (stdout always does).
	OutFile string
	// MaxRequestBytes bounds one request; 0 means DefaultMaxRequestBytes.
	MaxRequestBytes int
	// Interval, when positive and OutFile is set, rewrites OutFile with the
	// counts so far this often while running. Default 0: only on stop.
	// Such an interim report may catch a request half counted (each line
	// is exact, the lines are not read at one instant); the final one,
	// written after the servers stopped, is consistent.
	Interval time.Duration
}

// EnsureDefaults fills zero fields that have a default.
func (c *Config) EnsureDefaults() {
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
}

// Validate reports a configuration the sink cannot run with.
func (c *Config) Validate() error {
	if c.GRPCAddr == "" && c.HTTPAddr == "" {
		return ErrNoListener
	}
	if c.Interval < 0 {
		return fmt.Errorf("%w: -interval %v: want >= 0", ErrUsage, c.Interval)
	}
	if c.MaxRequestBytes < 0 {
		return fmt.Errorf("%w: -max-request-bytes %d: want >= 0", ErrUsage, c.MaxRequestBytes)
	}
	return nil
}

// Counts are what the sink received. Safe for concurrent use; the zero
// value is ready.
type Counts struct {
	requests, rejected              atomic.Int64
	spans, server, client, internal atomic.Int64
	other, payloadBytes, wireBytes  atomic.Int64
	mu                              sync.Mutex       // guards byName
	byName                          map[string]int64 // spans per span name
}

// add counts one decoded export request.
func (c *Counts) add(req *collectortrace.ExportTraceServiceRequest, payload int) {
	var n, server, client, internal, other int64
	names := map[string]int64{}
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				n++
				names[sp.GetName()]++
				switch sp.GetKind() {
				case tracepb.Span_SPAN_KIND_SERVER:
					server++
				case tracepb.Span_SPAN_KIND_CLIENT:
					client++
				case tracepb.Span_SPAN_KIND_INTERNAL:
					internal++
				default:
					other++
				}
			}
		}
	}
	c.requests.Add(1)
	c.spans.Add(n)
	c.server.Add(server)
	c.client.Add(client)
	c.internal.Add(internal)
	c.other.Add(other)
	c.payloadBytes.Add(int64(payload))
	c.mu.Lock()
	if c.byName == nil {
		c.byName = map[string]int64{}
	}
	for k, v := range names {
		c.byName[k] += v
	}
	c.mu.Unlock()
}

// WriteTo writes the counts as "name value" lines (see the package doc).
func (c *Counts) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	for _, kv := range []struct {
		k string
		v int64
	}{
		{"requests", c.requests.Load()},
		{"rejected", c.rejected.Load()},
		{"spans", c.spans.Load()},
		{"spans_server", c.server.Load()},
		{"spans_client", c.client.Load()},
		{"spans_internal", c.internal.Load()},
		{"spans_other", c.other.Load()},
		{"payload_bytes", c.payloadBytes.Load()},
		{"wire_bytes", c.wireBytes.Load()},
	} {
		fmt.Fprintf(&b, "%s %d\n", kv.k, kv.v)
	}
	c.mu.Lock()
	names := make([]string, 0, len(c.byName))
	for k := range c.byName {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		// A span name with a space or newline would break the line format.
		fmt.Fprintf(&b, "span_name:%s %d\n", strings.Map(func(r rune) rune {
			if r == ' ' || r == '\n' || r == '\r' || r == '\t' {
				return '_'
			}
			return r
		}, k), c.byName[k])
	}
	c.mu.Unlock()
	return b.WriteTo(w)
}

// traceService is the OTLP/gRPC TraceService.
type traceService struct {
	collectortrace.UnimplementedTraceServiceServer
	counts *Counts
}

// Export counts the request. proto.Size re-measures the decoded message:
// gRPC does not hand the handler the raw bytes, and a message decodes and
// re-encodes to the same size.
func (s *traceService) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	s.counts.add(req, proto.Size(req))
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// wireStats counts received gRPC message bytes as they came off the wire.
type wireStats struct{ counts *Counts }

func (w wireStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (w wireStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (w wireStats) HandleConn(context.Context, stats.ConnStats) {}
func (w wireStats) HandleRPC(_ context.Context, s stats.RPCStats) {
	if in, ok := s.(*stats.InPayload); ok && !in.Client {
		w.counts.wireBytes.Add(int64(in.WireLength))
	}
}

// httpHandler serves OTLP/HTTP with protobuf bodies.
type httpHandler struct {
	counts   *Counts
	maxBytes int
}

// countingReader counts the bytes read through it (the body as sent).
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (h *httpHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		h.reject(w, http.StatusMethodNotAllowed, "want POST")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		h.reject(w, http.StatusUnsupportedMediaType, "want Content-Type application/x-protobuf, got "+ct)
		return
	}
	wire := &countingReader{r: http.MaxBytesReader(w, r.Body, int64(h.maxBytes))}
	var body io.Reader = wire
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(wire)
		if err != nil {
			h.reject(w, http.StatusBadRequest, "gzip: "+err.Error())
			return
		}
		// The limit applies to the decompressed size too: a small
		// compressed body must not expand without bound.
		body = io.LimitReader(zr, int64(h.maxBytes)+1)
	default:
		h.reject(w, http.StatusUnsupportedMediaType, "unsupported Content-Encoding "+enc)
		return
	}
	raw, err := io.ReadAll(body)
	if err == nil && len(raw) > h.maxBytes {
		err = fmt.Errorf("request over %d bytes", h.maxBytes)
	}
	if err != nil {
		h.reject(w, http.StatusBadRequest, err.Error())
		return
	}
	req := &collectortrace.ExportTraceServiceRequest{}
	if err := proto.Unmarshal(raw, req); err != nil {
		h.reject(w, http.StatusBadRequest, "protobuf: "+err.Error())
		return
	}
	h.counts.add(req, len(raw))
	h.counts.wireBytes.Add(wire.n)
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (h *httpHandler) reject(w http.ResponseWriter, code int, msg string) {
	h.counts.rejected.Add(1)
	http.Error(w, msg, code)
}

// parseFlags reads the command line into a Config.
func parseFlags(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("otlpsink", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.GRPCAddr, "grpc", DefaultGRPCAddr, "OTLP/gRPC listen address (port 0: any free port; empty: off)")
	fs.StringVar(&c.HTTPAddr, "http", "", "OTLP/HTTP listen address (port 0: any free port; empty: off)")
	fs.StringVar(&c.AddrFile, "addr-file", "", "write the bound addresses here once listening")
	fs.StringVar(&c.OutFile, "out", "", "write the counts here on SIGTERM/SIGINT (stdout gets them too)")
	fs.DurationVar(&c.Interval, "interval", 0, "also rewrite -out with the counts so far this often (0: only on stop)")
	fs.IntVar(&c.MaxRequestBytes, "max-request-bytes", DefaultMaxRequestBytes, "largest request accepted, bytes")
	if err := fs.Parse(args); err != nil {
		return c, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	}
	c.EnsureDefaults()
	return c, c.Validate()
}

// writeFileAtomic writes data to path through a rename, so a reader polling
// for path never sees it half written.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".otlpsink-*")
	if err != nil {
		return fmt.Errorf("otlpsink: %w", err)
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("otlpsink: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("otlpsink: %w", err)
	}
	return nil
}

// writeCounts writes the counts so far to path.
func writeCounts(c *Counts, path string) error {
	var b bytes.Buffer
	_, _ = c.WriteTo(&b)
	return writeFileAtomic(path, b.Bytes())
}

// run serves until ctx is done, then stops both servers (waiting for
// exports in flight, at most drainTimeout) and reports the counts to stdout
// and cfg.OutFile. Every goroutine it starts has returned when it returns.
func run(ctx context.Context, cfg Config, stdout io.Writer) error {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	counts := &Counts{}
	var (
		wg    sync.WaitGroup
		gsrv  *grpc.Server
		hsrv  *http.Server
		addrs strings.Builder
		errc  = make(chan error, 2) // a server that stopped on its own
	)
	if cfg.GRPCAddr != "" {
		ln, err := net.Listen("tcp", cfg.GRPCAddr)
		if err != nil {
			return fmt.Errorf("otlpsink: grpc: %w", err)
		}
		gsrv = grpc.NewServer(grpc.StatsHandler(wireStats{counts}), grpc.MaxRecvMsgSize(cfg.MaxRequestBytes))
		collectortrace.RegisterTraceServiceServer(gsrv, &traceService{counts: counts})
		fmt.Fprintf(&addrs, "grpc %s\n", ln.Addr())
		wg.Go(func() {
			if err := gsrv.Serve(ln); err != nil {
				errc <- fmt.Errorf("otlpsink: grpc: %w", err)
			}
		})
	}
	if cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			if gsrv != nil {
				gsrv.Stop()
				wg.Wait()
			}
			return fmt.Errorf("otlpsink: http: %w", err)
		}
		hsrv = &http.Server{Handler: &httpHandler{counts: counts, maxBytes: cfg.MaxRequestBytes}, ReadHeaderTimeout: 10 * time.Second}
		fmt.Fprintf(&addrs, "http %s\n", ln.Addr())
		wg.Go(func() {
			if err := hsrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("otlpsink: http: %w", err)
			}
		})
	}
	var err error
	if cfg.AddrFile != "" {
		err = writeFileAtomic(cfg.AddrFile, []byte(addrs.String()))
	}
	var tick <-chan time.Time
	if cfg.Interval > 0 && cfg.OutFile != "" {
		t := time.NewTicker(cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
serve:
	for err == nil {
		select {
		case <-ctx.Done():
			break serve
		case err = <-errc:
		case <-tick:
			err = writeCounts(counts, cfg.OutFile)
		}
	}
	stop(gsrv, hsrv)
	wg.Wait()

	var out bytes.Buffer
	_, _ = counts.WriteTo(&out)
	if _, werr := stdout.Write(out.Bytes()); werr != nil && err == nil {
		err = fmt.Errorf("otlpsink: stdout: %w", werr)
	}
	if cfg.OutFile != "" {
		if werr := writeFileAtomic(cfg.OutFile, out.Bytes()); werr != nil && err == nil {
			err = werr
		}
	}
	return err
}

// stop shuts the servers down gracefully, each within drainTimeout, so the
// counts include every export that had started.
func stop(gsrv *grpc.Server, hsrv *http.Server) {
	var wg sync.WaitGroup
	if gsrv != nil {
		wg.Go(func() {
			done := make(chan struct{})
			go func() { gsrv.GracefulStop(); close(done) }()
			t := time.NewTimer(drainTimeout)
			defer t.Stop()
			select {
			case <-done:
			case <-t.C:
				gsrv.Stop() // makes GracefulStop return too
				<-done
			}
		})
	}
	if hsrv != nil {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
			defer cancel()
			if hsrv.Shutdown(ctx) != nil {
				_ = hsrv.Close()
			}
		})
	}
	wg.Wait()
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
