// Package telemetry is everything operational in respcache: traces
// (OpenTelemetry), Prometheus metrics, the admin HTTP server and logging.
// It is a library: main builds each piece from the config and hands the
// results to the proxy, the cache and the stores; nothing here touches a
// global (no otel.SetTracerProvider, no prometheus.DefaultRegisterer, no
// slog.SetDefault) — main decides that.
//
// # Traces
//
// NewTracerProvider builds a Tracing from a TraceConfig (telemetry.* keys)
// and the environment (os.Environ()). The OTEL_* variables apply where the
// config leaves a key at its default, as DESIGN.md says: OTEL_SERVICE_NAME
// and OTEL_RESOURCE_ATTRIBUTES while service_name is "respcache";
// OTEL_TRACES_EXPORTER (otlp with OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL grpc
// or http/protobuf, console) while exporter is none; OTEL_TRACES_SAMPLER(_ARG)
// while sample_ratio is 0.01; OTEL_EXPORTER_OTLP[_TRACES]_ENDPOINT while
// endpoint is ""; _INSECURE while insecure is false. HEADERS, TIMEOUT,
// COMPRESSION and OTEL_BSP_* have no config key and always apply. respcache
// reads these from the env slice and passes them to the exporters as
// explicit options, which win over the exporter libraries' own reading of
// the process environment; variables respcache does not read (client
// certificates) are still read by those libraries. An invalid variable that
// applies is an error (ErrInvalidEnv), not silently ignored.
//
// Spans follow the OpenTelemetry database semantic conventions for Redis:
// db.system.name=redis, db.operation.name (also the span name),
// db.namespace (the selected db index, as a string), server.address and
// server.port on CLIENT spans, db.response.status_code and error.type on
// failures. A client command is a SERVER span (StartCommand); each call the
// proxy makes to the store for it is a CLIENT child (Upstream.Start); work
// outside any command, such as a write-back flush, starts its own trace
// (Upstream.StartRoot). respcache adds respcache.cache.outcome (hit, miss,
// stale, coalesced, bypass) and respcache.namespace.
//
// Sampling is parent-based with a trace-ID-ratio root sampler whose bound
// is an atomic, so SetSampleRatio applies a reload at once. Because RESP
// carries no trace context, every command is a root, and the ratio decides.
// To keep unsampled commands free, StartCommand decides before any span
// exists: one atomic load and one runtime random number against the same
// bound the trace-ID rule uses (so a command is traced with probability
// ratio whichever path decides), then it returns the caller's ctx and the
// zero Span, whose methods do nothing. Only a chosen command allocates; it
// marks its context so the SDK's sampler records it without rolling again.
// Upstream.Start under an unsampled command is free too: it never starts a
// trace of its own. Spans go through a batch span processor with a bounded
// queue (MaxQueueSize, default 2048); when the collector is slow, spans are
// dropped, never waited for.
//
// # Metrics
//
// NewMetrics makes a private prometheus.Registry with the names of
// DESIGN.md "What operators read" (a contract with dashboards: add, never
// rename), upstream latency, pool segments by state, the Go runtime
// collector (runtime/metrics: GC, memory, scheduler, including the GC pause
// histogram go_sched_pauses_total_gc_seconds) and the process collector.
// What the cache counts anyway (hits, misses, evictions, expirations,
// invalidations, items, memory, dirty bytes, flush lag, tracking state,
// connections) is not counted again here: a custom collector calls the
// function given to SetSnapshotFunc at each scrape and turns the
// CacheSnapshot into const metrics. The whole cache's memory is the series
// namespace="*" (GlobalNamespace). respcache_tracking_up is absent while
// tracking is off (disk backend), so that it never alerts there.
//
// Per command, the proxy resolves a *CommandMetrics once per command name
// when it builds its command table (Metrics.Command) and calls Observe
// with the command's duration: a counter increment and a histogram
// observation, atomics only, no map, no lock, no allocation.
//
// # Admin server
//
// StartAdmin serves admin_listen: GET /healthz (200 while the process runs),
// GET /readyz (AdminConfig.Ready: 200, or 503 with the reason), GET /metrics,
// POST /drain (AdminConfig.Drain; 405 for other methods), /debug/pprof/
// when admin_pprof, and GET / — a self-contained HTML status page (inline
// CSS, no script, no external asset, refreshes every 5s) with version,
// uptime, backend and its state, tracking status, hits, misses, hit ratio,
// items, evictions, connections and one bar per quota: the global
// max_memory, each namespace (against its own cap, or its share of the
// global quota when it has none) and dirty bytes against max_dirty. Each
// bar carries data-used, data-limit and data-pct attributes and a width of
// used/limit. The http.Server has header, read, write (65s: room for a 30s
// CPU profile) and idle timeouts; Close shuts it down and returns only
// after the serving goroutine has exited. Importing net/http/pprof
// registers its handlers on http.DefaultServeMux as a side effect; the
// admin server uses its own mux, so they are served only with Pprof.
//
// # Logging
//
// NewLogger builds a slog.Logger (text or json) whose level is a
// slog.LevelVar for reloads. SlowLog logs commands at or over an atomic
// threshold (log.slow_threshold, 0 = off) at warn, with the command name,
// duration, client, argument count and at most SlowLogMaxArgs arguments,
// each cut to SlowLogMaxArgBytes: a log line must not carry whole values.
//
// # Hot-path costs
//
// Measured on the 2-core development VM, shared with other builds, so
// ranges of medians over several runs (go test -run '^$' -bench .
// -benchtime 1000000x -count 5 ./telemetry/, Go 1.26):
//
//	per command                                         ns/op     allocs/op
//	tracing, exporter none (StartCommand+child+End)     12-22     0
//	tracing, ratio 0                                    45-55     0
//	tracing, ratio 0.01                                150-260    0 (40 B/op: 21 allocs per sampled command)
//	tracing, ratio 1 (every command exported)         6500-13000  21
//	CommandMetrics.Observe                              14-17     0
//	CommandMetrics.Observe, 2 goroutines, same command  16-40     0
//	SlowLog.Observe under the threshold                  3-4      0
//
// At ratio 1 the cost is the OpenTelemetry SDK's (two spans, attributes,
// batch queue) and the exporter goroutine competing for the same cores: a
// debugging setting, not a production one. At the default 0.01 the average
// stays far under 1µs.
//
// # Wiring (main)
//
//	log, level, err := telemetry.NewLogger(os.Stderr, cfg.Log.Level, cfg.Log.Format)
//	tr, err := telemetry.NewTracerProvider(ctx, telemetry.TraceConfig{
//		ServiceName: cfg.Telemetry.ServiceName, ServiceVersion: version,
//		Exporter: cfg.Telemetry.Traces.Exporter, Endpoint: cfg.Telemetry.Traces.Endpoint,
//		SampleRatio: cfg.Telemetry.Traces.SampleRatio,
//	}, os.Environ())
//	otel.SetTracerProvider(tr.TracerProvider()) // main only, if libraries want it
//	m := telemetry.NewMetrics()
//	m.SetSnapshotFunc(func(s *telemetry.CacheSnapshot) { c.FillSnapshot(s); s.Connections = srv.Conns() })
//	slow := telemetry.NewSlowLog(log, cfg.Log.SlowThreshold)
//	// proxy: per command-table entry, entry.metrics = m.Command(name); per
//	// command: ctx, sp := tr.StartCommand(ctx, name, db, ns); …;
//	// sp.SetOutcome(o); sp.End(err); entry.metrics.Observe(d);
//	// slow.Observe(name, args[1:], d, remoteAddr). Store calls:
//	// up := tr.Upstream(addr) once, then up.Start(ctx, op, db) per call.
//	admin, err := telemetry.StartAdmin(ctx, telemetry.AdminConfig{
//		Addr: cfg.AdminListen, Pprof: cfg.AdminPprof, Metrics: m /* nil if !prometheus */,
//		Ready: ready, Drain: drain, Status: status, Logger: log,
//	})
//	// reload: level.Set(...); tr.SetSampleRatio(r); slow.SetThreshold(d)
//	// shutdown: admin.Close(ctx); tr.Shutdown(ctx)
//
// All exported methods are safe for concurrent use. Metrics.mu guards only
// the command-name map and is never held on the per-command path; there is
// no other lock in the package.
package telemetry
