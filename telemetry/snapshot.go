package telemetry

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// GlobalNamespace is the namespace label value of the whole cache's memory
// series (respcache_cache_memory_{used,quota}_bytes{namespace="*"}): the
// global cache.max_memory quota, next to one series per configured
// namespace. Summing over namespace therefore double counts; select it.
const GlobalNamespace = "*"

// TrackingStatus is the state of the invalidation link (INFO's
// tracking_status).
type TrackingStatus uint8

// Tracking states. TrackingOff (the zero value) means tracking does not
// apply (disk backend, cache.invalidation not tracking).
const (
	TrackingOff TrackingStatus = iota
	TrackingDown
	TrackingUp
)

// String returns "off", "down" or "up", as INFO prints it.
func (s TrackingStatus) String() string {
	switch s {
	case TrackingDown:
		return "down"
	case TrackingUp:
		return "up"
	}
	return "off"
}

// CacheSnapshot is what the cache, the write-back flusher and the proxy
// report at scrape time. Counters are totals since start (the cache keeps
// them; telemetry never counts these events itself). Filled by the function
// given to Metrics.SetSnapshotFunc.
type CacheSnapshot struct {
	// Hits, Misses, Evictions, Expirations, Invalidations: since start, as
	// INFO respcache's cache_* fields.
	Hits, Misses, Evictions, Expirations, Invalidations uint64
	// Items is the number of live items.
	Items uint64
	// UsedBytes is what is charged against the global quota (keys, values,
	// metadata, index, dirty items); QuotaBytes is cache.max_memory. Both
	// bytes; QuotaBytes 0 = unknown (no bar on the status page).
	UsedBytes, QuotaBytes int64
	// Namespaces are the configured namespaces, in config order; names are
	// the key prefixes and must be unique (later duplicates are dropped).
	// The filler owns the slice; it is read before the scrape returns.
	Namespaces []NamespaceSnapshot
	// Segments counts the pool's pages/segments by state ("free", "active",
	// "sealed", … as the pool names them); nil omits the metric.
	Segments map[string]int64
	// DirtyKeys and DirtyBytes are write-back state not yet flushed;
	// MaxDirtyBytes is write.max_dirty (0 = write-through: no bar).
	DirtyKeys, DirtyBytes, MaxDirtyBytes int64
	// FlushLag is the age of the oldest unflushed write.
	FlushLag time.Duration
	// Tracking is the invalidation link's state; while TrackingOff the
	// respcache_tracking_up series is absent instead of a misleading 0.
	Tracking TrackingStatus
	// Connections is the number of client connections open.
	Connections int64
}

// NamespaceSnapshot is one namespace's memory against its own cap.
type NamespaceSnapshot struct {
	// Name is the namespace's key prefix, e.g. "session:".
	Name string
	// Used is the bytes charged to it; Quota its max_memory (0 = no cap of
	// its own, only the global quota).
	Used, Quota int64
}

var (
	descHits          = prometheus.NewDesc("respcache_cache_hits_total", "Reads answered from the local cache.", nil, nil)
	descMisses        = prometheus.NewDesc("respcache_cache_misses_total", "Reads sent to the backend.", nil, nil)
	descEvictions     = prometheus.NewDesc("respcache_cache_evictions_total", "Items removed to make room.", nil, nil)
	descExpirations   = prometheus.NewDesc("respcache_cache_expirations_total", "Items removed by TTL.", nil, nil)
	descInvalidations = prometheus.NewDesc("respcache_cache_invalidations_total", "Items removed by invalidation.", nil, nil)
	descItems         = prometheus.NewDesc("respcache_cache_items", "Live items held.", nil, nil)
	descUsed          = prometheus.NewDesc("respcache_cache_memory_used_bytes", `Bytes charged against the quota; namespace="*" is the whole cache.`, []string{"namespace"}, nil)
	descQuota         = prometheus.NewDesc("respcache_cache_memory_quota_bytes", `Memory quota in bytes; namespace="*" is cache.max_memory.`, []string{"namespace"}, nil)
	descSegments      = prometheus.NewDesc("respcache_pool_segments", "Memory pool pages/segments by state.", []string{"state"}, nil)
	descDirtyBytes    = prometheus.NewDesc("respcache_writeback_dirty_bytes", "Write-back bytes not yet flushed.", nil, nil)
	descDirtyKeys     = prometheus.NewDesc("respcache_writeback_dirty_keys", "Write-back keys not yet flushed.", nil, nil)
	descMaxDirty      = prometheus.NewDesc("respcache_writeback_max_dirty_bytes", "write.max_dirty: writers wait beyond it.", nil, nil)
	descFlushLag      = prometheus.NewDesc("respcache_writeback_flush_lag_seconds", "Age of the oldest unflushed write.", nil, nil)
	descTrackingUp    = prometheus.NewDesc("respcache_tracking_up", "1 while the invalidation link is up, 0 while down; absent when tracking is off.", nil, nil)
	descConnections   = prometheus.NewDesc("respcache_connections", "Client connections open.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHits, descMisses, descEvictions, descExpirations, descInvalidations,
		descItems, descUsed, descQuota, descSegments, descDirtyBytes, descDirtyKeys, descMaxDirty,
		descFlushLag, descTrackingUp, descConnections} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one snapshot per scrape.
func (c *snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	s, ok := c.take()
	if !ok {
		return
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter(descHits, s.Hits)
	counter(descMisses, s.Misses)
	counter(descEvictions, s.Evictions)
	counter(descExpirations, s.Expirations)
	counter(descInvalidations, s.Invalidations)
	gauge(descItems, float64(s.Items))
	gauge(descUsed, float64(s.UsedBytes), GlobalNamespace)
	gauge(descQuota, float64(s.QuotaBytes), GlobalNamespace)
	seen := make(map[string]bool, len(s.Namespaces))
	for _, ns := range s.Namespaces {
		if seen[ns.Name] || ns.Name == GlobalNamespace {
			continue // a duplicate series would fail the whole scrape
		}
		seen[ns.Name] = true
		gauge(descUsed, float64(ns.Used), ns.Name)
		if ns.Quota > 0 {
			gauge(descQuota, float64(ns.Quota), ns.Name)
		}
	}
	for state, n := range s.Segments {
		gauge(descSegments, float64(n), state)
	}
	gauge(descDirtyBytes, float64(s.DirtyBytes))
	gauge(descDirtyKeys, float64(s.DirtyKeys))
	gauge(descMaxDirty, float64(s.MaxDirtyBytes))
	gauge(descFlushLag, s.FlushLag.Seconds())
	switch s.Tracking {
	case TrackingUp:
		gauge(descTrackingUp, 1)
	case TrackingDown:
		gauge(descTrackingUp, 0)
	}
	gauge(descConnections, float64(s.Connections))
}
