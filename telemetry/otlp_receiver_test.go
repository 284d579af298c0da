package telemetry

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// receivedSpan is one span as an OTLP collector received it, flattened
// with its resource and scope.
type receivedSpan struct {
	Resource map[string]any
	Scope    string
	Span     *tracepb.Span
	Attrs    map[string]any
}

// otlpSink collects what the in-process receivers get.
type otlpSink struct {
	mu      sync.Mutex
	spans   []receivedSpan
	headers []map[string]string // one per export request, lower-case keys
	paths   []string
}

func (s *otlpSink) add(req *collectortrace.ExportTraceServiceRequest, headers map[string]string, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.headers = append(s.headers, headers)
	s.paths = append(s.paths, path)
	for _, rs := range req.GetResourceSpans() {
		res := attrMap(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				s.spans = append(s.spans, receivedSpan{Resource: res, Scope: ss.GetScope().GetName(), Span: sp, Attrs: attrMap(sp.GetAttributes())})
			}
		}
	}
}

// wait polls until n spans have arrived or the deadline passes.
func (s *otlpSink) wait(t *testing.T, n int) []receivedSpan {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		got := append([]receivedSpan(nil), s.spans...)
		s.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("received %d spans, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *otlpSink) lastHeaders() (map[string]string, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.headers) == 0 {
		return nil, ""
	}
	return s.headers[len(s.headers)-1], s.paths[len(s.paths)-1]
}

func attrMap(kvs []*commonpb.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		switch v := kv.GetValue().GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = v.IntValue
		case *commonpb.AnyValue_BoolValue:
			m[kv.GetKey()] = v.BoolValue
		case *commonpb.AnyValue_DoubleValue:
			m[kv.GetKey()] = v.DoubleValue
		default:
			m[kv.GetKey()] = fmt.Sprint(kv.GetValue())
		}
	}
	return m
}

// grpcReceiver is a real OTLP/gRPC TraceService.
type grpcReceiver struct {
	collectortrace.UnimplementedTraceServiceServer
	sink *otlpSink
}

func (r *grpcReceiver) Export(ctx context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	h := map[string]string{}
	md, _ := metadata.FromIncomingContext(ctx)
	for k, v := range md {
		h[strings.ToLower(k)] = strings.Join(v, ",")
	}
	r.sink.add(req, h, "grpc")
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// startGRPCReceiver serves OTLP/gRPC on 127.0.0.1:0 until the test ends.
func startGRPCReceiver(t *testing.T) (*otlpSink, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink := &otlpSink{}
	srv := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(srv, &grpcReceiver{sink: sink})
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return sink, ln.Addr().String()
}

// startHTTPReceiver serves OTLP/HTTP (protobuf bodies, optionally gzip) on
// any path until the test ends.
func startHTTPReceiver(t *testing.T) (*otlpSink, *httptest.Server) {
	t.Helper()
	sink := &otlpSink{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want POST application/x-protobuf", http.StatusUnsupportedMediaType)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		raw, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := &collectortrace.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(raw, req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h := map[string]string{}
		for k, v := range r.Header {
			h[strings.ToLower(k)] = strings.Join(v, ",")
		}
		sink.add(req, h, r.URL.Path)
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return sink, srv
}

func spanByName(t *testing.T, spans []receivedSpan, name string) receivedSpan {
	t.Helper()
	for _, s := range spans {
		if s.Span.GetName() == name {
			return s
		}
	}
	t.Fatalf("no span named %q among %d", name, len(spans))
	return receivedSpan{}
}

func idHex(b []byte) string { return hex.EncodeToString(b) }
