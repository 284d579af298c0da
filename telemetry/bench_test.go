package telemetry

import (
	"context"
	"log/slog"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// discardExporter drops what it is given: the benchmarks measure the
// caller's cost, not an exporter's.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkCommandTracing is the tracing cost the proxy pays per command: a
// SERVER span with its outcome and one CLIENT child for the fill. The
// question it answers: what does tracing cost at the configured ratio?
func BenchmarkCommandTracing(b *testing.B) {
	none, err := NewTracerProvider(context.Background(), TraceConfig{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name  string
		ratio float64
		tr    *Tracing
	}{{name: "exporter=none", tr: none}, {name: "ratio=0", ratio: 0}, {name: "ratio=0.01", ratio: 0.01}, {name: "ratio=1", ratio: 1}}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			tr := c.tr
			if tr == nil {
				s, err := resolveTrace(TraceConfig{ServiceName: DefaultServiceName, Exporter: ExporterStdout, SampleRatio: c.ratio}, nil)
				if err != nil {
					b.Fatal(err)
				}
				if tr, err = newTracing(context.Background(), s, discardExporter{}); err != nil {
					b.Fatal(err)
				}
				defer func() { _ = tr.Shutdown(context.Background()) }()
			}
			up := tr.Upstream("127.0.0.1:6379")
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				cctx, sp := tr.StartCommand(ctx, "GET", 0, "")
				sp.SetOutcome(OutcomeMiss)
				_, us := up.Start(cctx, "GET", 0)
				us.End(nil)
				sp.End(nil)
			}
		})
	}
}

// BenchmarkCommandObserve is the metrics cost per command.
func BenchmarkCommandObserve(b *testing.B) {
	m := NewMetrics()
	c := m.Command("get")
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.Observe(150 * time.Microsecond)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				c.Observe(150 * time.Microsecond)
			}
		})
	})
}

// BenchmarkSlowLogUnder is the slow-log cost of a command under the
// threshold, i.e. nearly every command.
func BenchmarkSlowLogUnder(b *testing.B) {
	s := NewSlowLog(slog.New(slog.DiscardHandler), 10*time.Millisecond)
	args := [][]byte{[]byte("key"), []byte("value")}
	b.ReportAllocs()
	for b.Loop() {
		s.Observe("SET", args, 150*time.Microsecond, "127.0.0.1:50000")
	}
}
