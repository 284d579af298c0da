package telemetry

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Trace exporters accepted in TraceConfig.Exporter (config key
// telemetry.traces.exporter).
const (
	ExporterNone     = "none"
	ExporterOTLPGRPC = "otlp-grpc"
	ExporterOTLPHTTP = "otlp-http"
	ExporterStdout   = "stdout"
)

// Defaults of TraceConfig, equal to the config package's defaults: a key
// holding one of these values counts as "left at its default", so the
// matching OTEL_* variable applies.
const (
	DefaultServiceName  = "respcache"
	DefaultSampleRatio  = 0.01
	DefaultMaxQueueSize = 2048
)

// instrumentationName names the tracer (the instrumentation scope).
const instrumentationName = "github.com/respcache/respcache/telemetry"

// TraceConfig configures tracing. Zero fields take the documented defaults
// (EnsureDefaults), except SampleRatio, whose zero means "sample nothing".
type TraceConfig struct {
	// ServiceName is the resource's service.name. Default "respcache";
	// while it is the default, OTEL_SERVICE_NAME (then service.name in
	// OTEL_RESOURCE_ATTRIBUTES) applies.
	ServiceName string
	// ServiceVersion is the resource's service.version; "" omits it.
	ServiceVersion string
	// Exporter is ExporterNone (default), ExporterOTLPGRPC,
	// ExporterOTLPHTTP or ExporterStdout. While it is none,
	// OTEL_TRACES_EXPORTER (otlp with OTEL_EXPORTER_OTLP_PROTOCOL, console)
	// applies.
	Exporter string
	// Endpoint of the OTLP collector: "host:port" or an http(s) URL (the
	// scheme then decides TLS; for otlp-http a URL path other than "/" is
	// used as is, else /v1/traces). "" = OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
	// then OTEL_EXPORTER_OTLP_ENDPOINT, then localhost:4317 (gRPC) or
	// localhost:4318 (HTTP).
	Endpoint string
	// SampleRatio is the fraction of commands traced, in [0, 1]; changeable
	// live with Tracing.SetSampleRatio. While it equals DefaultSampleRatio,
	// OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG apply.
	SampleRatio float64
	// Insecure sends OTLP without TLS to a host:port endpoint. While false,
	// OTEL_EXPORTER_OTLP(_TRACES)_INSECURE applies.
	Insecure bool
	// Stdout receives the stdout exporter's JSON. Default os.Stdout.
	Stdout io.Writer
	// MaxQueueSize bounds the spans waiting for export; spans beyond it are
	// dropped, never waited for. 0 = OTEL_BSP_MAX_QUEUE_SIZE, else
	// DefaultMaxQueueSize.
	MaxQueueSize int
}

// EnsureDefaults fills zero fields with their defaults.
func (c *TraceConfig) EnsureDefaults() {
	if c.ServiceName == "" {
		c.ServiceName = DefaultServiceName
	}
	if c.Exporter == "" {
		c.Exporter = ExporterNone
	}
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
}

// Validate reports the first field outside its range.
func (c *TraceConfig) Validate() error {
	switch c.Exporter {
	case ExporterNone, ExporterOTLPGRPC, ExporterOTLPHTTP, ExporterStdout:
	default:
		return fmt.Errorf("%w: exporter %q: want none, otlp-grpc, otlp-http or stdout", ErrInvalidConfig, c.Exporter)
	}
	if !(c.SampleRatio >= 0 && c.SampleRatio <= 1) {
		return fmt.Errorf("%w: sample ratio %v: want [0, 1]", ErrInvalidConfig, c.SampleRatio)
	}
	if c.MaxQueueSize < 0 {
		return fmt.Errorf("%w: max queue size %d: want >= 0", ErrInvalidConfig, c.MaxQueueSize)
	}
	return nil
}

// Tracing owns the tracer provider and starts the proxy's spans. Its methods
// are safe for concurrent use.
type Tracing struct {
	tp       *sdktrace.TracerProvider // nil when nothing is exported
	tracer   trace.Tracer
	sampler  *ratioSampler
	settings traceSettings
}

// NewTracerProvider builds the tracing pipeline cfg describes: exporter,
// batch span processor with a bounded queue (spans are dropped when it is
// full), parent-based trace-ID-ratio sampler and a resource naming the
// service. env holds "NAME=value" entries (os.Environ() in main); the OTEL_*
// variables among them apply where cfg leaves a key at its default (see
// TraceConfig). ctx bounds the exporter's setup only. With exporter none
// the returned Tracing starts no spans and costs nothing. Call Shutdown to
// flush and stop.
func NewTracerProvider(ctx context.Context, cfg TraceConfig, env []string) (*Tracing, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := resolveTrace(cfg, env)
	if err != nil {
		return nil, err
	}
	var exp sdktrace.SpanExporter
	switch s.exporter {
	case ExporterNone:
		return newTracing(ctx, s, nil)
	case ExporterStdout:
		exp, err = stdouttrace.New(stdouttrace.WithWriter(cfg.Stdout))
	case ExporterOTLPGRPC:
		opts := []otlptracegrpc.Option{}
		if s.endpoint != "" {
			opts = append(opts, otlptracegrpc.WithEndpoint(s.endpoint))
		}
		if s.insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		if s.headers != nil {
			opts = append(opts, otlptracegrpc.WithHeaders(s.headers))
		}
		if s.timeout > 0 {
			opts = append(opts, otlptracegrpc.WithTimeout(s.timeout))
		}
		if s.compression != "" {
			opts = append(opts, otlptracegrpc.WithCompressor(s.compression))
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	case ExporterOTLPHTTP:
		opts := []otlptracehttp.Option{}
		if s.endpoint != "" {
			opts = append(opts, otlptracehttp.WithEndpoint(s.endpoint))
		}
		if s.urlPath != "" {
			opts = append(opts, otlptracehttp.WithURLPath(s.urlPath))
		}
		if s.insecure {
			opts = append(opts, otlptracehttp.WithInsecure())
		}
		if s.headers != nil {
			opts = append(opts, otlptracehttp.WithHeaders(s.headers))
		}
		if s.timeout > 0 {
			opts = append(opts, otlptracehttp.WithTimeout(s.timeout))
		}
		if s.compression == "gzip" {
			opts = append(opts, otlptracehttp.WithCompression(otlptracehttp.GzipCompression))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("telemetry: %s exporter: %w", s.exporter, err)
	}
	return newTracing(ctx, s, exp)
}

// newTracing builds the provider around exp (nil = export nothing). Tests
// and benchmarks hand it their own exporter.
func newTracing(ctx context.Context, s traceSettings, exp sdktrace.SpanExporter) (*Tracing, error) {
	t := &Tracing{sampler: newRatioSampler(s.ratio), settings: s}
	if exp == nil {
		t.tracer = noop.NewTracerProvider().Tracer(instrumentationName)
		return t, nil
	}
	attrs := []attribute.KeyValue{}
	for _, a := range s.resourceAttrs {
		attrs = append(attrs, attribute.String(a.key, a.value))
	}
	attrs = append(attrs, semconv.ServiceName(s.serviceName))
	if s.serviceVersion != "" {
		attrs = append(attrs, semconv.ServiceVersion(s.serviceVersion))
	}
	// resource.Default() is not used: it reads OTEL_RESOURCE_ATTRIBUTES from
	// the process environment behind the env slice's back.
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithAttributes(attrs...),
	)
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("telemetry: trace resource: %w", err)
	}
	bsp := sdktrace.NewBatchSpanProcessor(exp,
		sdktrace.WithMaxQueueSize(s.queueSize),
		sdktrace.WithMaxExportBatchSize(s.batchSize),
		sdktrace.WithBatchTimeout(s.scheduleDelay),
		sdktrace.WithExportTimeout(s.exportTimeout),
	)
	t.tp = sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.ParentBased(t.sampler)),
		sdktrace.WithSpanProcessor(bsp),
		sdktrace.WithResource(res),
	)
	t.tracer = t.tp.Tracer(instrumentationName)
	return t, nil
}

// TracerProvider returns the provider, for main to install as the global
// one (otel.SetTracerProvider) and for libraries that take a provider. It is
// a no-op provider when nothing is exported.
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t.tp == nil {
		return noop.NewTracerProvider()
	}
	return t.tp
}

// Enabled reports whether spans are exported at all (exporter not none).
func (t *Tracing) Enabled() bool { return t.tp != nil }

// Exporter returns the exporter in effect after the OTEL_* variables.
func (t *Tracing) Exporter() string { return t.settings.exporter }

// Endpoint returns the OTLP endpoint (host:port) in effect; "" = the
// exporter's default, or not an OTLP exporter.
func (t *Tracing) Endpoint() string { return t.settings.endpoint }

// ServiceName returns the service.name in effect.
func (t *Tracing) ServiceName() string { return t.settings.serviceName }

// SampleRatio returns the current ratio of traced commands.
func (t *Tracing) SampleRatio() float64 { return t.sampler.ratio() }

// SetSampleRatio changes the ratio of traced commands live (config reload);
// commands already started keep their decision.
func (t *Tracing) SetSampleRatio(r float64) error {
	if !(r >= 0 && r <= 1) {
		return fmt.Errorf("%w: sample ratio %v: want [0, 1]", ErrInvalidConfig, r)
	}
	t.sampler.set(r)
	return nil
}

// ForceFlush exports the spans queued so far.
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if t.tp == nil {
		return nil
	}
	return t.tp.ForceFlush(ctx)
}

// Shutdown flushes the queued spans and stops the exporter; spans started
// afterwards are dropped. ctx bounds the flush.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.tp == nil {
		return nil
	}
	return t.tp.Shutdown(ctx)
}

// ratioSampler is the root sampler: the trace-ID-ratio rule of the SDK's
// TraceIDRatioBased with the bound in an atomic, so reloads change it
// without rebuilding the provider. The same bound serves the proxy's fast
// path (sampleRoot), which decides before any span exists.
type ratioSampler struct {
	bound atomic.Uint64 // trace IDs whose low 63 bits are below it are sampled
	bits  atomic.Uint64 // math.Float64bits of the ratio, for reporting
}

func newRatioSampler(r float64) *ratioSampler {
	s := &ratioSampler{}
	s.set(r)
	return s
}

func (s *ratioSampler) set(r float64) {
	s.bound.Store(uint64(r * (1 << 63))) // r == 1 gives 1<<63: everything
	s.bits.Store(math.Float64bits(r))
}

func (s *ratioSampler) ratio() float64 { return math.Float64frombits(s.bits.Load()) }

// draw is the fast path's decision for a root span: a fresh random number
// against the same bound the trace-ID rule uses, so a command is traced with
// probability ratio whichever path decides. About 5ns, no allocation.
func (s *ratioSampler) draw() bool {
	b := s.bound.Load()
	return b != 0 && rand.Uint64()>>1 < b
}

// preSampledKey marks a context whose root span the fast path already chose;
// the sampler then records it instead of rolling the dice a second time.
type preSampledKey struct{}

// ShouldSample implements sdktrace.Sampler for root spans (ParentBased
// handles spans with a parent).
func (s *ratioSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	ts := trace.SpanContextFromContext(p.ParentContext).TraceState()
	if p.ParentContext != nil && p.ParentContext.Value(preSampledKey{}) != nil {
		return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: ts}
	}
	if binary.BigEndian.Uint64(p.TraceID[8:16])>>1 < s.bound.Load() {
		return sdktrace.SamplingResult{Decision: sdktrace.RecordAndSample, Tracestate: ts}
	}
	return sdktrace.SamplingResult{Decision: sdktrace.Drop, Tracestate: ts}
}

// Description implements sdktrace.Sampler.
func (s *ratioSampler) Description() string {
	return fmt.Sprintf("RespcacheTraceIDRatio{%g}", s.ratio())
}

// NewTracingWithExporter is NewTracerProvider with the caller's exporter
// (an in-memory one in other packages' tests, or an embedding program's):
// cfg.Exporter and the OTEL_* exporter variables are ignored, the rest of
// cfg and env apply as in NewTracerProvider.
func NewTracingWithExporter(ctx context.Context, cfg TraceConfig, env []string, exp sdktrace.SpanExporter) (*Tracing, error) {
	cfg.EnsureDefaults()
	if cfg.Exporter == ExporterNone {
		cfg.Exporter = ExporterStdout // any exporting value: exp replaces it
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s, err := resolveTrace(cfg, env)
	if err != nil {
		return nil, err
	}
	return newTracing(ctx, s, exp)
}
