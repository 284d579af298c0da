package telemetry

import (
	"errors"
	"maps"
	"net"
	"strings"
	"testing"
	"time"
)

func TestResolveTrace(t *testing.T) {
	def := TraceConfig{ServiceName: DefaultServiceName, Exporter: ExporterNone, SampleRatio: DefaultSampleRatio}
	with := func(f func(*TraceConfig)) TraceConfig { c := def; f(&c); return c }
	tests := []struct {
		name  string
		cfg   TraceConfig
		env   []string
		check func(t *testing.T, s traceSettings)
		err   error
	}{
		{
			name: "defaults", cfg: def,
			check: func(t *testing.T, s traceSettings) {
				want := traceSettings{serviceName: "respcache", exporter: ExporterNone, ratio: DefaultSampleRatio,
					queueSize: DefaultMaxQueueSize, batchSize: 512, scheduleDelay: 5 * time.Second, exportTimeout: 30 * time.Second}
				if s.serviceName != want.serviceName || s.exporter != want.exporter || s.ratio != want.ratio ||
					s.queueSize != want.queueSize || s.batchSize != want.batchSize || s.scheduleDelay != want.scheduleDelay ||
					s.exportTimeout != want.exportTimeout || s.endpoint != "" || s.headers != nil {
					t.Errorf("got %+v, want %+v", s, want)
				}
			},
		},
		{
			name: "config beats env", env: []string{"OTEL_SERVICE_NAME=env", "OTEL_TRACES_SAMPLER_ARG=0.5",
				"OTEL_TRACES_EXPORTER=console", "OTEL_EXPORTER_OTLP_ENDPOINT=http://env:1", "OTEL_BSP_MAX_QUEUE_SIZE=7"},
			cfg: with(func(c *TraceConfig) {
				c.ServiceName, c.SampleRatio, c.Exporter, c.Endpoint, c.MaxQueueSize = "cfg", 0.2, ExporterOTLPGRPC, "cfg:4317", 100
			}),
			check: func(t *testing.T, s traceSettings) {
				if s.serviceName != "cfg" || s.ratio != 0.2 || s.exporter != ExporterOTLPGRPC || s.endpoint != "cfg:4317" || s.queueSize != 100 || s.batchSize != 100 {
					t.Errorf("got %+v", s)
				}
			},
		},
		{
			name: "env fills defaults", cfg: def,
			env: []string{"OTEL_SERVICE_NAME=env", "OTEL_TRACES_SAMPLER_ARG=0.5", "OTEL_TRACES_EXPORTER=otlp",
				"OTEL_EXPORTER_OTLP_PROTOCOL=grpc", "OTEL_EXPORTER_OTLP_ENDPOINT=https://collector:4317",
				"OTEL_EXPORTER_OTLP_TIMEOUT=2500", "OTEL_BSP_MAX_QUEUE_SIZE=7", "OTEL_BSP_SCHEDULE_DELAY=100"},
			check: func(t *testing.T, s traceSettings) {
				if s.serviceName != "env" || s.ratio != 0.5 || s.exporter != ExporterOTLPGRPC || s.endpoint != "collector:4317" ||
					s.insecure || s.timeout != 2500*time.Millisecond || s.queueSize != 7 || s.batchSize != 7 || s.scheduleDelay != 100*time.Millisecond {
					t.Errorf("got %+v", s)
				}
			},
		},
		{
			name: "traces endpoint beats generic, path as is", cfg: with(func(c *TraceConfig) { c.Exporter = ExporterOTLPHTTP }),
			env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://generic:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://specific/otlp"},
			check: func(t *testing.T, s traceSettings) {
				if s.endpoint != "specific:80" || s.urlPath != "/otlp" || !s.insecure {
					t.Errorf("got %+v", s)
				}
			},
		},
		{
			name: "generic endpoint gets /v1/traces", cfg: with(func(c *TraceConfig) { c.Exporter = ExporterOTLPHTTP }),
			env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=https://generic:4318/prefix"},
			check: func(t *testing.T, s traceSettings) {
				if s.endpoint != "generic:4318" || s.urlPath != "/prefix/v1/traces" || s.insecure {
					t.Errorf("got %+v", s)
				}
			},
		},
		{
			name: "insecure from env for host:port", cfg: with(func(c *TraceConfig) { c.Exporter = ExporterOTLPGRPC; c.Endpoint = "c:4317" }),
			env: []string{"OTEL_EXPORTER_OTLP_INSECURE=true"},
			check: func(t *testing.T, s traceSettings) {
				if !s.insecure || s.endpoint != "c:4317" {
					t.Errorf("got %+v", s)
				}
			},
		},
		{
			name: "headers merge, traces-specific wins", cfg: with(func(c *TraceConfig) { c.Exporter = ExporterOTLPGRPC }),
			env: []string{"OTEL_EXPORTER_OTLP_HEADERS=a=1, b = two%2C2 ", "OTEL_EXPORTER_OTLP_TRACES_HEADERS=a=override"},
			check: func(t *testing.T, s traceSettings) {
				want := map[string]string{"a": "override", "b": "two,2"}
				if !maps.Equal(s.headers, want) {
					t.Errorf("headers = %v, want %v", s.headers, want)
				}
			},
		},
		{
			name: "sampler names", cfg: def, env: []string{"OTEL_TRACES_SAMPLER=always_off", "OTEL_TRACES_SAMPLER_ARG=0.7"},
			check: func(t *testing.T, s traceSettings) {
				if s.ratio != 0 {
					t.Errorf("ratio = %v, want 0", s.ratio)
				}
			},
		},
		{
			name: "ratio sampler without arg means 1", cfg: def, env: []string{"OTEL_TRACES_SAMPLER=traceidratio"},
			check: func(t *testing.T, s traceSettings) {
				if s.ratio != 1 {
					t.Errorf("ratio = %v, want 1", s.ratio)
				}
			},
		},
		{
			name: "last duplicate wins, empty is unset", cfg: def,
			env: []string{"OTEL_SERVICE_NAME=first", "OTEL_SERVICE_NAME=second", "OTEL_SERVICE_NAMEX=no"},
			check: func(t *testing.T, s traceSettings) {
				if s.serviceName != "second" {
					t.Errorf("service = %q", s.serviceName)
				}
			},
		},
		{name: "bad sampler", cfg: def, env: []string{"OTEL_TRACES_SAMPLER=jaeger_remote"}, err: ErrInvalidEnv},
		{name: "bad sampler arg", cfg: def, env: []string{"OTEL_TRACES_SAMPLER_ARG=1.5"}, err: ErrInvalidEnv},
		{name: "bad exporter", cfg: def, env: []string{"OTEL_TRACES_EXPORTER=zipkin"}, err: ErrInvalidEnv},
		{name: "bad protocol", cfg: def, env: []string{"OTEL_TRACES_EXPORTER=otlp", "OTEL_EXPORTER_OTLP_PROTOCOL=http/json"}, err: ErrInvalidEnv},
		{name: "bad headers", cfg: with(func(c *TraceConfig) { c.Exporter = ExporterOTLPGRPC }), env: []string{"OTEL_EXPORTER_OTLP_HEADERS=novalue"}, err: ErrInvalidEnv},
		{name: "bad timeout", cfg: def, env: []string{"OTEL_EXPORTER_OTLP_TIMEOUT=5s"}, err: ErrInvalidEnv},
		{name: "bad endpoint env", cfg: with(func(c *TraceConfig) { c.Exporter = ExporterOTLPGRPC }), env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=grpc://x:1"}, err: ErrInvalidEnv},
		{name: "bad queue", cfg: def, env: []string{"OTEL_BSP_MAX_QUEUE_SIZE=0"}, err: ErrInvalidEnv},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := resolveTrace(tt.cfg, tt.env)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, s)
		})
	}
}

func TestHeaderErrorsHideValues(t *testing.T) {
	_, err := resolveTrace(TraceConfig{ServiceName: DefaultServiceName, Exporter: ExporterOTLPGRPC},
		[]string{"OTEL_EXPORTER_OTLP_HEADERS=authorization=Bearer%zzsecret"})
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("err = %v: want an error that does not echo the header", err)
	}
}

func FuzzParseKeyValues(f *testing.F) {
	for _, s := range []string{"", "a=b", "a=b,c=d", " a = b%20c ,", "=x", "a", "a=%zz", "a==b,,c=", "k=v%2Cw"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kvs, err := parseKeyValues(s)
		if err != nil {
			return
		}
		for _, kv := range kvs {
			if kv[0] == "" || strings.TrimSpace(kv[0]) != kv[0] || strings.ContainsAny(kv[0], ",=") {
				t.Fatalf("parseKeyValues(%q) gave key %q", s, kv[0])
			}
		}
		if len(kvs) > strings.Count(s, "=") {
			t.Fatalf("parseKeyValues(%q) gave %d entries from %d '='", s, len(kvs), strings.Count(s, "="))
		}
	})
}

func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"localhost:4317", "http://c:4318/v1/traces", "https://c", "c", "ftp://c:1", "http://", "[::1]:4317", "http://[::1]/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hostport, _, scheme, err := parseEndpoint(s)
		if err != nil {
			return
		}
		if _, _, err := net.SplitHostPort(hostport); err != nil {
			t.Fatalf("parseEndpoint(%q) = %q, not host:port: %v", s, hostport, err)
		}
		if scheme != "" && scheme != "http" && scheme != "https" {
			t.Fatalf("parseEndpoint(%q) scheme %q", s, scheme)
		}
	})
}
