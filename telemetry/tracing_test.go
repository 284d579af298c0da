package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// emitCommand produces the span tree the proxy produces for a cache miss:
// a SERVER span for GET with a CLIENT child for the upstream fill, and a
// failed SET.
func emitCommand(t *testing.T, tr *Tracing) {
	t.Helper()
	ctx, cmd := tr.StartCommand(context.Background(), "GET", 3, "session:")
	if !cmd.Recording() {
		t.Fatal("GET not sampled at ratio 1")
	}
	cmd.SetOutcome(OutcomeMiss)
	_, up := tr.Upstream("10.1.2.3:6379").Start(ctx, "GET", 3)
	up.End(nil)
	cmd.End(nil)

	_, set := tr.StartCommand(context.Background(), "SET", 0, "")
	set.SetOutcome(OutcomeBypass)
	set.End(errors.New("WRONGTYPE Operation against a key holding the wrong kind of value"))
}

// checkCommandSpans asserts names, kinds, attributes and the parent/child
// link of what emitCommand produced, as a collector received them.
func checkCommandSpans(t *testing.T, spans []receivedSpan, service string) {
	t.Helper()
	get := spanByName(t, spans, "GET")
	set := spanByName(t, spans, "SET")
	var up receivedSpan
	for _, s := range spans {
		if s.Span.GetName() == "GET" && s.Span.GetKind() == tracepb.Span_SPAN_KIND_CLIENT {
			up = s
		}
		if s.Span.GetName() == "GET" && s.Span.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
			get = s
		}
	}
	if up.Span == nil || get.Span.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
		t.Fatalf("want a SERVER and a CLIENT span named GET, got %v", spans)
	}
	wantGet := map[string]any{
		"db.system.name":          "redis",
		"db.operation.name":       "GET",
		"db.namespace":            "3",
		"respcache.namespace":     "session:",
		"respcache.cache.outcome": "miss",
	}
	if !maps.Equal(get.Attrs, wantGet) {
		t.Errorf("GET server attrs = %v, want %v", get.Attrs, wantGet)
	}
	wantUp := map[string]any{
		"db.system.name":    "redis",
		"db.operation.name": "GET",
		"db.namespace":      "3",
		"server.address":    "10.1.2.3",
		"server.port":       int64(6379),
	}
	if !maps.Equal(up.Attrs, wantUp) {
		t.Errorf("GET client attrs = %v, want %v", up.Attrs, wantUp)
	}
	if idHex(up.Span.GetParentSpanId()) != idHex(get.Span.GetSpanId()) || idHex(up.Span.GetTraceId()) != idHex(get.Span.GetTraceId()) {
		t.Errorf("upstream span is not the command span's child: parent %x trace %x, command span %x trace %x",
			up.Span.GetParentSpanId(), up.Span.GetTraceId(), get.Span.GetSpanId(), get.Span.GetTraceId())
	}
	if len(get.Span.GetParentSpanId()) != 0 {
		t.Errorf("command span has a parent %x", get.Span.GetParentSpanId())
	}
	if idHex(set.Span.GetTraceId()) == idHex(get.Span.GetTraceId()) {
		t.Error("two commands share a trace")
	}
	wantSet := map[string]any{
		"db.system.name":          "redis",
		"db.operation.name":       "SET",
		"db.namespace":            "0",
		"respcache.cache.outcome": "bypass",
		"db.response.status_code": "WRONGTYPE",
		"error.type":              "WRONGTYPE",
	}
	if !maps.Equal(set.Attrs, wantSet) {
		t.Errorf("SET attrs = %v, want %v", set.Attrs, wantSet)
	}
	if set.Span.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("SET status = %v, want error", set.Span.GetStatus())
	}
	if got := get.Resource["service.name"]; got != service {
		t.Errorf("resource service.name = %v, want %q", got, service)
	}
	if got := get.Resource["service.version"]; got != "1.2.3" {
		t.Errorf("resource service.version = %v, want 1.2.3", got)
	}
	if get.Scope != instrumentationName {
		t.Errorf("scope = %q, want %q", get.Scope, instrumentationName)
	}
}

func TestOTLPExport(t *testing.T) {
	grpcSink, grpcAddr := startGRPCReceiver(t)
	httpSink, httpSrv := startHTTPReceiver(t)
	httpHostPort := strings.TrimPrefix(httpSrv.URL, "http://")

	tests := []struct {
		name     string
		cfg      TraceConfig
		env      []string
		sink     *otlpSink
		service  string
		path     string            // HTTP path the spans must arrive on ("grpc" for gRPC)
		wantHdrs map[string]string // headers the receiver must see
	}{
		{
			name: "grpc config", sink: grpcSink, service: "respcache", path: "grpc",
			cfg: TraceConfig{Exporter: ExporterOTLPGRPC, Endpoint: grpcAddr, Insecure: true, SampleRatio: 1, ServiceVersion: "1.2.3"},
		},
		{
			name: "http config host:port", sink: httpSink, service: "respcache", path: "/v1/traces",
			cfg: TraceConfig{Exporter: ExporterOTLPHTTP, Endpoint: httpHostPort, Insecure: true, SampleRatio: 1, ServiceVersion: "1.2.3"},
		},
		{
			name: "http config URL with path", sink: httpSink, service: "respcache", path: "/custom/traces",
			cfg: TraceConfig{Exporter: ExporterOTLPHTTP, Endpoint: httpSrv.URL + "/custom/traces", SampleRatio: 1, ServiceVersion: "1.2.3"},
		},
		{
			// Everything at its default: the OTEL_* variables decide.
			name: "http from env", sink: httpSink, service: "shop-cache", path: "/base/v1/traces",
			cfg: TraceConfig{SampleRatio: DefaultSampleRatio, ServiceVersion: "1.2.3"},
			env: []string{
				"OTEL_TRACES_EXPORTER=otlp",
				"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
				"OTEL_EXPORTER_OTLP_ENDPOINT=" + httpSrv.URL + "/base/",
				"OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%20s3cret,x-tenant=blue",
				"OTEL_EXPORTER_OTLP_COMPRESSION=gzip",
				"OTEL_SERVICE_NAME=shop-cache",
				"OTEL_TRACES_SAMPLER=parentbased_traceidratio",
				"OTEL_TRACES_SAMPLER_ARG=1",
			},
			wantHdrs: map[string]string{"authorization": "Bearer s3cret", "x-tenant": "blue", "content-encoding": "gzip"},
		},
		{
			name: "grpc from env", sink: grpcSink, service: "from-resource-attrs", path: "grpc",
			cfg: TraceConfig{Exporter: ExporterOTLPGRPC, SampleRatio: DefaultSampleRatio, ServiceVersion: "1.2.3"},
			env: []string{
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://" + grpcAddr,
				"OTEL_EXPORTER_OTLP_TRACES_HEADERS=x-api-key=k1",
				"OTEL_RESOURCE_ATTRIBUTES=service.name=from-resource-attrs,deployment.environment.name=test",
				"OTEL_TRACES_SAMPLER=always_on",
			},
			wantHdrs: map[string]string{"x-api-key": "k1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.sink.mu.Lock()
			tt.sink.spans, tt.sink.headers, tt.sink.paths = nil, nil, nil
			tt.sink.mu.Unlock()

			ctx := context.Background()
			tr, err := NewTracerProvider(ctx, tt.cfg, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if tr.SampleRatio() != 1 {
				t.Fatalf("sample ratio = %v, want 1", tr.SampleRatio())
			}
			emitCommand(t, tr)
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := tr.Shutdown(sctx); err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			spans := tt.sink.wait(t, 3)
			if len(spans) != 3 {
				t.Fatalf("got %d spans, want 3", len(spans))
			}
			checkCommandSpans(t, spans, tt.service)
			hdrs, path := tt.sink.lastHeaders()
			if path != tt.path {
				t.Errorf("spans arrived on %q, want %q", path, tt.path)
			}
			for k, v := range tt.wantHdrs {
				if hdrs[k] != v {
					t.Errorf("header %s = %q, want %q", k, hdrs[k], v)
				}
			}
		})
	}
}

func TestStdoutExporter(t *testing.T) {
	var buf bytes.Buffer
	tr, err := NewTracerProvider(context.Background(), TraceConfig{Exporter: ExporterStdout, Stdout: &buf, SampleRatio: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, sp := tr.StartCommand(context.Background(), "HGETALL", 0, "")
	sp.SetOutcome(OutcomeHit)
	sp.End(nil)
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Name       string
		Attributes []struct {
			Key   string
			Value struct{ Value any }
		}
	}
	if err := json.NewDecoder(&buf).Decode(&got); err != nil {
		t.Fatalf("stdout exporter output %q: %v", buf.String(), err)
	}
	if got.Name != "HGETALL" {
		t.Errorf("span name = %q, want HGETALL", got.Name)
	}
	found := false
	for _, a := range got.Attributes {
		if a.Key == "respcache.cache.outcome" && a.Value.Value == "hit" {
			found = true
		}
	}
	if !found {
		t.Errorf("no respcache.cache.outcome=hit in %+v", got.Attributes)
	}
}

// memTracing builds a Tracing around an in-memory exporter with a
// synchronous processor.
func memTracing(t testing.TB, ratio float64) (*Tracing, *tracetest.InMemoryExporter) {
	t.Helper()
	s, err := resolveTrace(TraceConfig{ServiceName: DefaultServiceName, Exporter: ExporterStdout, SampleRatio: ratio}, nil)
	if err != nil {
		t.Fatal(err)
	}
	exp := tracetest.NewInMemoryExporter()
	tr, err := newTracing(context.Background(), s, exp)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr, exp
}

func TestSampling(t *testing.T) {
	countSampled := func(tr *Tracing, n int) int {
		k := 0
		for range n {
			_, sp := tr.StartCommand(context.Background(), "GET", 0, "")
			if sp.Recording() {
				k++
			}
			sp.End(nil)
		}
		return k
	}
	tr, _ := memTracing(t, 0)
	tests := []struct {
		ratio    float64
		min, max int // of 20000 commands; bounds are > 6 sigma wide
	}{
		{0, 0, 0},
		{1, 20000, 20000},
		{0.25, 4600, 5400},
		{0.01, 120, 290},
	}
	for _, tt := range tests {
		if err := tr.SetSampleRatio(tt.ratio); err != nil {
			t.Fatal(err)
		}
		if got := countSampled(tr, 20000); got < tt.min || got > tt.max {
			t.Errorf("ratio %v: %d of 20000 sampled, want [%d, %d]", tt.ratio, got, tt.min, tt.max)
		}
	}
	for _, bad := range []float64{-0.1, 1.5} {
		if err := tr.SetSampleRatio(bad); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("SetSampleRatio(%v) = %v, want ErrInvalidConfig", bad, err)
		}
	}

	// Spans started through the provider by other code (no fast path) are
	// sampled by trace ID at the same ratio.
	if err := tr.SetSampleRatio(0.5); err != nil {
		t.Fatal(err)
	}
	other := tr.TracerProvider().Tracer("other")
	k := 0
	for range 4000 {
		_, sp := other.Start(context.Background(), "x")
		if sp.IsRecording() {
			k++
		}
		sp.End()
	}
	if k < 1700 || k > 2300 {
		t.Errorf("trace-ID path at ratio 0.5: %d of 4000 sampled", k)
	}
}

func TestParentBased(t *testing.T) {
	tr, exp := memTracing(t, 0)
	sampledParent := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true,
	}))
	unsampledParent := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{3}, SpanID: trace.SpanID{4}, Remote: true,
	}))
	up := tr.Upstream("cache.internal:6380")
	tests := []struct {
		name  string
		ratio float64
		run   func() Span
		want  bool
	}{
		{"command under sampled parent, ratio 0", 0, func() Span { _, s := tr.StartCommand(sampledParent, "GET", 0, ""); return s }, true},
		{"command under unsampled parent, ratio 1", 1, func() Span { _, s := tr.StartCommand(unsampledParent, "GET", 0, ""); return s }, false},
		{"upstream root, ratio 1", 1, func() Span { _, s := up.StartRoot(context.Background(), "EXEC", -1); return s }, true},
		{"upstream root, ratio 0", 0, func() Span { _, s := up.StartRoot(context.Background(), "EXEC", -1); return s }, false},
		{"upstream without command never starts a trace", 1, func() Span { _, s := up.Start(context.Background(), "GET", 0); return s }, false},
		{"upstream root under sampled parent, ratio 0", 0, func() Span { _, s := up.StartRoot(sampledParent, "EXEC", -1); return s }, true},
		{"upstream under sampled command, ratio set to 0 after", 1, func() Span {
			ctx, cmd := tr.StartCommand(context.Background(), "GET", 0, "")
			defer cmd.End(nil)
			_ = tr.SetSampleRatio(0)
			_, s := up.Start(ctx, "GET", 0)
			return s
		}, true},
		{"upstream under unsampled command, ratio set to 1 after", 0, func() Span {
			ctx, cmd := tr.StartCommand(context.Background(), "GET", 0, "")
			defer cmd.End(nil)
			_ = tr.SetSampleRatio(1)
			_, s := up.Start(ctx, "GET", 0)
			return s
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tr.SetSampleRatio(tt.ratio); err != nil {
				t.Fatal(err)
			}
			sp := tt.run()
			if sp.Recording() != tt.want {
				t.Fatalf("Recording = %v, want %v", sp.Recording(), tt.want)
			}
			sp.End(nil)
		})
	}
	// The sampled child of the remote parent joined its trace.
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	exp.Reset()
	_ = tr.SetSampleRatio(0)
	_, sp := tr.StartCommand(sampledParent, "GET", 0, "")
	sp.End(nil)
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := exp.GetSpans()
	if len(got) != 1 || got[0].Parent.SpanID() != (trace.SpanID{2}) || got[0].SpanContext.TraceID() != (trace.TraceID{1}) {
		t.Fatalf("spans = %+v, want one child of the remote parent", got)
	}
	// The upstream span without port keeps server.address alone.
	exp.Reset() // flushed above
	_ = tr.SetSampleRatio(1)
	_, us := tr.Upstream("/run/redis.sock").StartRoot(context.Background(), "PING", -1)
	us.End(nil)
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got = exp.GetSpans()
	if len(got) != 1 {
		t.Fatalf("got %d spans", len(got))
	}
	attrs := map[string]string{}
	for _, kv := range got[0].Attributes {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	want := map[string]string{"db.system.name": "redis", "db.operation.name": "PING", "server.address": "/run/redis.sock"}
	if !maps.Equal(attrs, want) {
		t.Errorf("attrs = %v, want %v", attrs, want)
	}
	if got[0].SpanKind != trace.SpanKindClient {
		t.Errorf("kind = %v, want client", got[0].SpanKind)
	}
}

func TestUnsampledDoesNotAllocate(t *testing.T) {
	none, err := NewTracerProvider(context.Background(), TraceConfig{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if none.Enabled() {
		t.Fatal("exporter none is enabled")
	}
	zero, _ := memTracing(t, 0)
	for name, tr := range map[string]*Tracing{"exporter none": none, "ratio 0": zero} {
		ctx := context.Background()
		up := tr.Upstream("127.0.0.1:6379")
		allocs := testing.AllocsPerRun(1000, func() {
			c, sp := tr.StartCommand(ctx, "GET", 0, "ns:")
			sp.SetOutcome(OutcomeHit)
			_, us := up.Start(c, "GET", 0)
			us.End(nil)
			_, root := up.StartRoot(ctx, "EXEC", 0)
			root.End(nil)
			sp.End(nil)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per unsampled command, want 0", name, allocs)
		}
	}
}

func TestErrorType(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{context.DeadlineExceeded, "timeout"},
		{context.Canceled, "canceled"},
		{errors.New("MOVED 3999 127.0.0.1:6381"), "MOVED"},
		{errors.New("ERR unknown command"), "ERR"},
		{errors.New("dial tcp: connection refused"), "_OTHER"},
		{errors.New("X y"), "_OTHER"},
	}
	for _, tt := range tests {
		if got := errorType(tt.err); got != tt.want {
			t.Errorf("errorType(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestTraceConfigValidate(t *testing.T) {
	tests := []struct {
		cfg TraceConfig
		ok  bool
	}{
		{TraceConfig{}, true},
		{TraceConfig{Exporter: "zipkin"}, false},
		{TraceConfig{SampleRatio: -1}, false},
		{TraceConfig{SampleRatio: 2}, false},
		{TraceConfig{MaxQueueSize: -1}, false},
		{TraceConfig{Exporter: ExporterOTLPGRPC, Endpoint: "no-port"}, false},
		{TraceConfig{Exporter: ExporterOTLPHTTP, Endpoint: "ftp://x:1"}, false},
	}
	for _, tt := range tests {
		_, err := NewTracerProvider(context.Background(), tt.cfg, nil)
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalidConfig)) {
			t.Errorf("%+v: err = %v, want ok=%v or ErrInvalidConfig", tt.cfg, err, tt.ok)
		}
	}
}

var _ sdktrace.Sampler = (*ratioSampler)(nil)

// TestStartRootCommand: the ratio alone decides, and the span is a root
// even when ctx holds a span.
func TestStartRootCommand(t *testing.T) {
	tr, exp := memTracing(t, 0)
	parent := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true,
	}))
	if _, sp := tr.StartRootCommand(parent, "GET", 0, ""); sp.Recording() {
		t.Fatal("sampled at ratio 0 because of a parent")
	}
	if err := tr.SetSampleRatio(1); err != nil {
		t.Fatal(err)
	}
	_, sp := tr.StartRootCommand(parent, "GET", 2, "ns:")
	if !sp.Recording() {
		t.Fatal("not sampled at ratio 1")
	}
	sp.End(nil)
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := exp.GetSpans()
	if len(got) != 1 || got[0].Parent.IsValid() || got[0].SpanKind != trace.SpanKindServer || got[0].Name != "GET" {
		t.Fatalf("spans = %+v, want one root SERVER span GET", got)
	}
	if allocs := testing.AllocsPerRun(1000, func() {
		_ = tr.SetSampleRatio(0)
		_, sp := tr.StartRootCommand(context.Background(), "GET", 0, "")
		sp.End(nil)
	}); allocs != 0 {
		t.Fatalf("%v allocations per unsampled command", allocs)
	}
}
