package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"

	"github.com/respcache/respcache/internal/redistest"
)

// e2eReceiver is a real OTLP/gRPC trace receiver collecting every span.
type e2eReceiver struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []*tracepb.Span
}

func (r *e2eReceiver) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			r.spans = append(r.spans, ss.GetSpans()...)
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (r *e2eReceiver) snapshot() []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*tracepb.Span(nil), r.spans...)
}

func e2eAttrs(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		v := kv.GetValue()
		switch {
		case v.GetStringValue() != "":
			m[kv.GetKey()] = v.GetStringValue()
		default:
			m[kv.GetKey()] = strconv.FormatInt(v.GetIntValue(), 10)
		}
	}
	return m
}

// TestTracingEndToEnd runs the respcache binary with the OTLP/gRPC exporter
// against a real OTLP receiver started in the test, sends real traffic
// (a write-back SET, a GET hit, a GET miss) and checks the spans: names,
// kinds, the database semantic-convention and cache attributes, the
// upstream CLIENT span under its command, the journal append under the SET,
// and the write-back flush span linked to the SET.
func TestTracingEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts respcache and redis-server; skipped with -short")
	}
	rs := redistest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	recv := &e2eReceiver{}
	gs := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(gs, recv)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)

	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := filepath.Join(dir, "respcache.yaml")
	conf := fmt.Sprintf(`listen: %s
admin_listen: ""
backend:
  type: redis
  redis:
    addrs: [%s]
write:
  mode: write-back
  journal_dir: %s
telemetry:
  traces:
    exporter: otlp-grpc
    endpoint: http://%s
    sample_ratio: 1
`, addr, rs.Addr(), filepath.Join(dir, "journal"), ln.Addr())
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(buildBinary(t), "--config", cfg)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("respcache log:\n%s", logs.String())
		}
	})
	redistest.Eventually(t, 15*time.Second, func() bool {
		c, err := redistest.DialRaw(addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "respcache up")
	c := redistest.Dial(t, addr)
	for _, step := range []struct{ args, want string }{
		{"SET traced v", "+OK\r\n"},
		{"GET traced", "$1\r\nv\r\n"},
		{"GET absent", "$-1\r\n"},
	} {
		if got := c.DoString(splitFields(step.args)...); got != step.want {
			t.Fatalf("%s = %q, want %q", step.args, got, step.want)
		}
	}
	c.Close()
	// SIGTERM drains the write-back state and exports what is left.
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("respcache exited with %v", err)
	}

	var spans []*tracepb.Span
	redistest.Eventually(t, 10*time.Second, func() bool {
		spans = recv.snapshot()
		for _, s := range spans {
			if s.GetName() == "respcache.writeback.flush" {
				return true
			}
		}
		return false
	}, "the flush span at the receiver")
	byID := map[string]*tracepb.Span{}
	for _, s := range spans {
		byID[hex.EncodeToString(s.GetSpanId())] = s
	}
	find := func(name string, kind tracepb.Span_SpanKind, attr, value string) *tracepb.Span {
		t.Helper()
		for _, s := range spans {
			if s.GetName() == name && s.GetKind() == kind && (attr == "" || e2eAttrs(s.GetAttributes())[attr] == value) {
				return s
			}
		}
		var names []string
		for _, s := range spans {
			names = append(names, fmt.Sprintf("%s/%v%v", s.GetName(), s.GetKind(), e2eAttrs(s.GetAttributes())))
		}
		t.Fatalf("no %v span %q with %s=%q among %v", kind, name, attr, value, names)
		return nil
	}
	childOf := func(child, parent *tracepb.Span) {
		t.Helper()
		if !bytes.Equal(child.GetParentSpanId(), parent.GetSpanId()) || !bytes.Equal(child.GetTraceId(), parent.GetTraceId()) {
			t.Errorf("span %q is not a child of %q", child.GetName(), parent.GetName())
		}
	}
	server := tracepb.Span_SPAN_KIND_SERVER
	set := find("SET", server, "", "")
	hit := find("GET", server, "respcache.cache.outcome", "hit")
	miss := find("GET", server, "respcache.cache.outcome", "miss")
	for _, s := range []*tracepb.Span{set, hit, miss} {
		a := e2eAttrs(s.GetAttributes())
		if a["db.system.name"] != "redis" || a["db.operation.name"] != s.GetName() || a["db.namespace"] != "0" {
			t.Errorf("span %s attributes %v: want db.system.name redis, db.operation.name %s, db.namespace 0", s.GetName(), a, s.GetName())
		}
		if len(s.GetParentSpanId()) != 0 {
			t.Errorf("command span %s has a parent: RESP carries no trace context, it must be a root", s.GetName())
		}
	}
	fill := find("GET", tracepb.Span_SPAN_KIND_CLIENT, "", "")
	childOf(fill, miss)
	host, port, _ := net.SplitHostPort(rs.Addr())
	if a := e2eAttrs(fill.GetAttributes()); a["server.address"] != host || a["server.port"] != port {
		t.Errorf("fill span attributes %v: want server.address %s, server.port %s", a, host, port)
	}
	for _, s := range spans {
		if s.GetKind() == tracepb.Span_SPAN_KIND_CLIENT && bytes.Equal(s.GetParentSpanId(), hit.GetSpanId()) {
			t.Errorf("the cache hit has an upstream span %q", s.GetName())
		}
	}
	appendSp := find("respcache.journal.append", tracepb.Span_SPAN_KIND_INTERNAL, "", "")
	childOf(appendSp, set)
	flush := find("respcache.writeback.flush", tracepb.Span_SPAN_KIND_INTERNAL, "respcache.writeback.keys", "1")
	linked := false
	for _, l := range flush.GetLinks() {
		linked = linked || bytes.Equal(l.GetSpanId(), set.GetSpanId()) && bytes.Equal(l.GetTraceId(), set.GetTraceId())
	}
	if !linked {
		t.Errorf("the flush span is not linked to the SET span")
	}
	t.Logf("%d spans received; SET, GET hit, GET miss with its fill, journal append and the linked flush all checked", len(spans))
}

func splitFields(s string) []string {
	var out []string
	for _, f := range bytes.Fields([]byte(s)) {
		out = append(out, string(f))
	}
	return out
}
