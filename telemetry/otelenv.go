package telemetry

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The OTLP exporter libraries read OTEL_EXPORTER_OTLP_* from the process
// environment by themselves. respcache resolves every variable it supports
// from the env slice handed to NewTracerProvider instead and passes the
// result as explicit exporter options, which take precedence over the
// libraries' own reading. That keeps the precedence rule of DESIGN.md (the
// config wins unless it left a key at its default) in one place, and lets
// tests pass an environment without touching the process's.

// traceSettings is a TraceConfig with the OTEL_* environment applied: what
// the exporter, sampler and batch processor are built from.
type traceSettings struct {
	serviceName    string
	serviceVersion string
	resourceAttrs  []resourceAttr // OTEL_RESOURCE_ATTRIBUTES, in order

	exporter    string // ExporterNone, ExporterOTLPGRPC, ExporterOTLPHTTP, ExporterStdout
	endpoint    string // host:port; "" = the exporter's default
	urlPath     string // otlp-http only; "" = /v1/traces
	insecure    bool
	headers     map[string]string
	timeout     time.Duration // 0 = exporter default (10s)
	compression string        // "" or "gzip"

	ratio float64

	queueSize     int
	batchSize     int
	scheduleDelay time.Duration
	exportTimeout time.Duration
}

type resourceAttr struct{ key, value string }

// envLookup returns the last value of name in env ("NAME=value" entries, as
// os.Environ returns them), or "" when absent. Empty values count as unset,
// as the OpenTelemetry specification asks.
func envLookup(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if len(kv) > len(name) && kv[len(name)] == '=' && kv[:len(name)] == name {
			v = kv[len(name)+1:]
		}
	}
	return strings.TrimSpace(v)
}

// resolveTrace applies env to cfg (already defaulted and validated).
func resolveTrace(cfg TraceConfig, env []string) (traceSettings, error) {
	s := traceSettings{
		serviceName:    cfg.ServiceName,
		serviceVersion: cfg.ServiceVersion,
		exporter:       cfg.Exporter,
		insecure:       cfg.Insecure,
		ratio:          cfg.SampleRatio,
		queueSize:      cfg.MaxQueueSize,
	}
	bad := func(name, val, why string) error {
		return fmt.Errorf("%w: %s=%q: %s", ErrInvalidEnv, name, val, why)
	}

	if v := envLookup(env, "OTEL_RESOURCE_ATTRIBUTES"); v != "" {
		kvs, err := parseKeyValues(v)
		if err != nil {
			return s, bad("OTEL_RESOURCE_ATTRIBUTES", v, err.Error())
		}
		for _, kv := range kvs {
			s.resourceAttrs = append(s.resourceAttrs, resourceAttr{kv[0], kv[1]})
		}
	}
	if cfg.ServiceName == DefaultServiceName {
		// OTEL_SERVICE_NAME beats service.name in OTEL_RESOURCE_ATTRIBUTES
		// (specification), and both beat the default.
		for _, a := range s.resourceAttrs {
			if a.key == "service.name" && a.value != "" {
				s.serviceName = a.value
			}
		}
		if v := envLookup(env, "OTEL_SERVICE_NAME"); v != "" {
			s.serviceName = v
		}
	}

	if cfg.Exporter == ExporterNone {
		switch v := envLookup(env, "OTEL_TRACES_EXPORTER"); v {
		case "", "none":
		case "otlp":
			proto := envLookup(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
			if proto == "" {
				proto = envLookup(env, "OTEL_EXPORTER_OTLP_PROTOCOL")
			}
			switch proto {
			case "grpc":
				s.exporter = ExporterOTLPGRPC
			case "", "http/protobuf": // the specification's default
				s.exporter = ExporterOTLPHTTP
			default:
				return s, bad("OTEL_EXPORTER_OTLP_PROTOCOL", proto, "respcache supports grpc and http/protobuf")
			}
		case "console":
			s.exporter = ExporterStdout
		default:
			return s, bad("OTEL_TRACES_EXPORTER", v, "respcache supports otlp, console and none")
		}
	}

	if cfg.SampleRatio == DefaultSampleRatio {
		r, err := envSampleRatio(env, cfg.SampleRatio)
		if err != nil {
			return s, err
		}
		s.ratio = r
	}

	if err := resolveEndpoint(&s, cfg, env); err != nil {
		return s, err
	}

	for _, name := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		v := envLookup(env, name)
		if v == "" {
			continue
		}
		kvs, err := parseKeyValues(v)
		if err != nil {
			return s, bad(name, "…", err.Error()) // headers carry secrets: never echo them
		}
		if s.headers == nil {
			s.headers = make(map[string]string, len(kvs))
		}
		for _, kv := range kvs {
			s.headers[kv[0]] = kv[1] // the traces-specific variable comes second and wins
		}
	}

	for _, name := range []string{"OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"} {
		if v := envLookup(env, name); v != "" {
			ms, err := strconv.ParseUint(v, 10, 31)
			if err != nil {
				return s, bad(name, v, "want milliseconds")
			}
			s.timeout = time.Duration(ms) * time.Millisecond
		}
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"} {
		switch v := envLookup(env, name); v {
		case "":
		case "gzip":
			s.compression = "gzip"
		case "none":
			s.compression = ""
		default:
			return s, bad(name, v, "want gzip or none")
		}
	}

	if cfg.MaxQueueSize == 0 {
		s.queueSize = DefaultMaxQueueSize
		if v := envLookup(env, "OTEL_BSP_MAX_QUEUE_SIZE"); v != "" {
			n, err := strconv.ParseUint(v, 10, 31)
			if err != nil || n == 0 {
				return s, bad("OTEL_BSP_MAX_QUEUE_SIZE", v, "want a positive integer")
			}
			s.queueSize = int(n)
		}
	}
	s.batchSize = min(512, s.queueSize)
	if v := envLookup(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"); v != "" {
		n, err := strconv.ParseUint(v, 10, 31)
		if err != nil || n == 0 {
			return s, bad("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", v, "want a positive integer")
		}
		s.batchSize = min(int(n), s.queueSize)
	}
	s.scheduleDelay = 5 * time.Second
	if v := envLookup(env, "OTEL_BSP_SCHEDULE_DELAY"); v != "" {
		ms, err := strconv.ParseUint(v, 10, 31)
		if err != nil || ms == 0 {
			return s, bad("OTEL_BSP_SCHEDULE_DELAY", v, "want positive milliseconds")
		}
		s.scheduleDelay = time.Duration(ms) * time.Millisecond
	}
	s.exportTimeout = 30 * time.Second
	if v := envLookup(env, "OTEL_BSP_EXPORT_TIMEOUT"); v != "" {
		ms, err := strconv.ParseUint(v, 10, 31)
		if err != nil || ms == 0 {
			return s, bad("OTEL_BSP_EXPORT_TIMEOUT", v, "want positive milliseconds")
		}
		s.exportTimeout = time.Duration(ms) * time.Millisecond
	}
	return s, nil
}

// envSampleRatio reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG. The
// sampler is always parent-based (a command never has a remote parent: RESP
// carries no trace context), so the plain and parentbased_ variants are the
// same here.
func envSampleRatio(env []string, def float64) (float64, error) {
	sampler := envLookup(env, "OTEL_TRACES_SAMPLER")
	arg := envLookup(env, "OTEL_TRACES_SAMPLER_ARG")
	switch sampler {
	case "always_on", "parentbased_always_on":
		return 1, nil
	case "always_off", "parentbased_always_off":
		return 0, nil
	case "traceidratio", "parentbased_traceidratio", "":
		if arg == "" {
			if sampler == "" {
				return def, nil
			}
			return 1, nil // the specification's default argument
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(r >= 0 && r <= 1) {
			return def, fmt.Errorf("%w: OTEL_TRACES_SAMPLER_ARG=%q: want a ratio in [0, 1]", ErrInvalidEnv, arg)
		}
		return r, nil
	default:
		return def, fmt.Errorf("%w: OTEL_TRACES_SAMPLER=%q: respcache supports always_on, always_off and (parentbased_)traceidratio", ErrInvalidEnv, sampler)
	}
}

// resolveEndpoint picks the endpoint: the config's, else the traces-specific
// variable (a full URL, path used as is), else the generic one (a base URL
// to which /v1/traces is appended for HTTP), else the exporter's default.
func resolveEndpoint(s *traceSettings, cfg TraceConfig, env []string) error {
	if s.exporter != ExporterOTLPGRPC && s.exporter != ExporterOTLPHTTP {
		return nil
	}
	if !cfg.Insecure {
		for _, name := range []string{"OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_TRACES_INSECURE"} {
			if v := envLookup(env, name); v != "" {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return fmt.Errorf("%w: %s=%q: want true or false", ErrInvalidEnv, name, v)
				}
				s.insecure = b
			}
		}
	}
	raw, name, signal := cfg.Endpoint, "endpoint", true
	if raw == "" {
		if v := envLookup(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); v != "" {
			raw, name = v, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
		} else if v := envLookup(env, "OTEL_EXPORTER_OTLP_ENDPOINT"); v != "" {
			raw, name, signal = v, "OTEL_EXPORTER_OTLP_ENDPOINT", false
		} else {
			return nil
		}
	}
	hostport, path, scheme, err := parseEndpoint(raw)
	if err != nil {
		if name == "endpoint" {
			return fmt.Errorf("%w: endpoint %q: %v", ErrInvalidConfig, raw, err)
		}
		return fmt.Errorf("%w: %s=%q: %v", ErrInvalidEnv, name, raw, err)
	}
	s.endpoint = hostport
	switch scheme {
	case "http":
		s.insecure = true
	case "https":
		s.insecure = false
	}
	if s.exporter == ExporterOTLPHTTP {
		switch {
		case name == "endpoint" && (path == "" || path == "/"):
			// A bare host:port in the config means "the collector there".
		case signal:
			s.urlPath = path
			if s.urlPath == "" {
				s.urlPath = "/"
			}
		default:
			s.urlPath = strings.TrimSuffix(path, "/") + "/v1/traces"
		}
	}
	return nil
}

// parseEndpoint accepts "host:port" or "scheme://host:port/path" with scheme
// http or https; scheme is "" for the first form.
func parseEndpoint(raw string) (hostport, path, scheme string, err error) {
	if !strings.Contains(raw, "://") {
		if _, _, err := net.SplitHostPort(raw); err != nil {
			return "", "", "", fmt.Errorf("want host:port or an http(s) URL: %v", err)
		}
		return raw, "", "", nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", "", "", err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", "", "", fmt.Errorf("scheme %q: want http or https", u.Scheme)
	}
	if u.Host == "" {
		return "", "", "", fmt.Errorf("no host")
	}
	hostport = u.Host
	if u.Port() == "" {
		port := "443"
		if u.Scheme == "http" {
			port = "80"
		}
		hostport = net.JoinHostPort(u.Hostname(), port)
	}
	// url.Parse accepts hosts such as "]" that no dialer will.
	if h, _, err := net.SplitHostPort(hostport); err != nil || h == "" {
		return "", "", "", fmt.Errorf("bad host %q", u.Host)
	}
	return hostport, u.Path, u.Scheme, nil
}

// parseKeyValues parses the W3C-baggage-like list the OTEL_* variables use:
// "k1=v1,k2=v2" with percent-encoded values, surrounding spaces ignored.
// Keys must be non-empty; a value may be empty.
func parseKeyValues(s string) ([][2]string, error) {
	var out [][2]string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("entry without '='")
		}
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, fmt.Errorf("entry with an empty key")
		}
		val, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("key %q: bad percent-encoding", k)
		}
		out = append(out, [2]string{k, val})
	}
	return out, nil
}
