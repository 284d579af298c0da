package telemetry

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// CommandBuckets are the upper bounds, in seconds, of
// respcache_command_duration_seconds and the upstream latency histogram:
// 1-2.5-5 steps from 10µs (a local hit) to 10s (a blocking command).
var CommandBuckets = []float64{
	10e-6, 25e-6, 50e-6,
	100e-6, 250e-6, 500e-6,
	1e-3, 2.5e-3, 5e-3,
	10e-3, 25e-3, 50e-3,
	100e-3, 250e-3, 500e-3,
	1, 2.5, 5, 10,
}

// Upstream error kinds, the values of respcache_upstream_errors_total's
// kind label. Keep the set small: every value is a time series.
const (
	UpstreamErrTimeout    = "timeout"    // dial, read or write deadline
	UpstreamErrConnection = "connection" // refused, reset, closed
	UpstreamErrProtocol   = "protocol"   // unparsable reply
	UpstreamErrTracking   = "tracking"   // invalidation link dropped
	UpstreamErrOther      = "other"
)

// Metrics is respcache's Prometheus registry and its instruments. The
// registry is its own, never the global one. Safe for concurrent use.
type Metrics struct {
	reg             *prometheus.Registry
	commands        *prometheus.CounterVec
	durations       *prometheus.HistogramVec
	upstreamErrors  *prometheus.CounterVec
	upstreamLatency prometheus.Histogram
	snap            *snapshotCollector

	mu   sync.Mutex // guards cmds
	cmds map[string]*CommandMetrics
}

// NewMetrics builds the registry with respcache's metrics, the Go runtime
// collector (runtime/metrics: GC, memory, scheduler incl. GC pause
// histograms) and the process collector.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "respcache_commands_total",
			Help: "Commands processed, by command name.",
		}, []string{"command"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "respcache_command_duration_seconds",
			Help:    "Time from a command's arrival to its reply, by command name.",
			Buckets: CommandBuckets,
		}, []string{"command"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "respcache_upstream_errors_total",
			Help: "Failed calls to the upstream store, by kind.",
		}, []string{"kind"}),
		upstreamLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "respcache_upstream_duration_seconds",
			Help:    "Round-trip time of calls to the upstream store (pipelines count once).",
			Buckets: CommandBuckets,
		}),
		snap: &snapshotCollector{},
		cmds: make(map[string]*CommandMetrics),
	}
	m.reg.MustRegister(m.commands, m.durations, m.upstreamErrors, m.upstreamLatency, m.snap,
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.MetricsGC, collectors.MetricsMemory, collectors.MetricsScheduler)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	// Errors are few and known: show every kind from the start so that
	// rate() works from the first error on.
	for _, k := range []string{UpstreamErrTimeout, UpstreamErrConnection, UpstreamErrProtocol, UpstreamErrTracking, UpstreamErrOther} {
		m.upstreamErrors.WithLabelValues(k)
	}
	return m
}

// Registry returns the registry, for registering more collectors; the
// respcache_ names above are taken.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// CommandMetrics holds one command name's counter and histogram, resolved
// once (Metrics.Command) so that the per-command path does no label lookup.
type CommandMetrics struct {
	count prometheus.Counter
	dur   prometheus.Observer
}

// Command returns name's instruments, creating them on first use; the same
// name always gives the same pointer. Call it once per command name when
// building the command table, not per command: it takes a lock and a map
// lookup. Every name is a time series: map unknown commands to one name
// (e.g. "unknown") before calling. Safe for concurrent use.
func (m *Metrics) Command(name string) *CommandMetrics {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.cmds[name]
	if !ok {
		c = &CommandMetrics{
			count: m.commands.WithLabelValues(name),
			dur:   m.durations.WithLabelValues(name),
		}
		m.cmds[name] = c
	}
	return c
}

// Observe counts one command that took d. No allocation, no lock, no map:
// a few atomic adds (~15ns, see doc.go). A nil *CommandMetrics does
// nothing, so a proxy built without metrics needs no branch. Safe for
// concurrent use.
func (c *CommandMetrics) Observe(d time.Duration) {
	if c == nil {
		return
	}
	c.count.Inc()
	c.dur.Observe(d.Seconds())
}

// UpstreamError counts one failed upstream call of kind (one of the
// UpstreamErr constants; other values make new series). Safe for
// concurrent use; takes a label lookup, fine for errors.
func (m *Metrics) UpstreamError(kind string) {
	if m == nil {
		return
	}
	m.upstreamErrors.WithLabelValues(kind).Inc()
}

// ObserveUpstream records the round-trip time of one upstream call. No
// allocation. Safe for concurrent use.
func (m *Metrics) ObserveUpstream(d time.Duration) {
	if m == nil {
		return
	}
	m.upstreamLatency.Observe(d.Seconds())
}

// SetSnapshotFunc installs the function that fills a CacheSnapshot at each
// scrape (and for the admin status page). The function is called from HTTP
// handler goroutines, possibly concurrently, with a zeroed snapshot it may
// fill but must not retain; it should be quick (no I/O). nil removes it:
// the cache metrics are then absent. main composes the cache's and the
// proxy's contributions into one function.
func (m *Metrics) SetSnapshotFunc(f func(*CacheSnapshot)) {
	if f == nil {
		m.snap.fn.Store(nil)
		return
	}
	m.snap.fn.Store(&f)
}

// Snapshot fills and returns a snapshot from the installed function; ok is
// false when none is installed.
func (m *Metrics) Snapshot() (s CacheSnapshot, ok bool) {
	return m.snap.take()
}

// snapshotCollector reads the counters the cache keeps itself at scrape
// time, so the cache does not count twice per event.
type snapshotCollector struct {
	fn atomic.Pointer[func(*CacheSnapshot)]
}

func (c *snapshotCollector) take() (CacheSnapshot, bool) {
	var s CacheSnapshot
	f := c.fn.Load()
	if f == nil {
		return s, false
	}
	(*f)(&s)
	return s, true
}
