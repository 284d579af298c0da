package telemetry

import (
	"context"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// startAdminT starts an admin server on a free port, closed when the test
// ends.
func startAdminT(t *testing.T, cfg AdminConfig) *Admin {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	a, err := StartAdmin(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Close(ctx)
	})
	return a
}

// scrape GETs /metrics the way Prometheus does and parses the text format.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %s: %s", resp.Status, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

func labelNames(mf *dto.MetricFamily) []string {
	set := map[string]bool{}
	for _, m := range mf.GetMetric() {
		for _, l := range m.GetLabel() {
			set[l.GetName()] = true
		}
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// value returns the sample of mf whose labels are exactly labels (name,
// value pairs).
func value(t *testing.T, mf *dto.MetricFamily, labels ...string) float64 {
	t.Helper()
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		match := true
		for i, l := range m.GetLabel() {
			// the text format sorts labels by name; callers pass them sorted
			if l.GetName() != labels[2*i] || l.GetValue() != labels[2*i+1] {
				match = false
			}
		}
		if !match {
			continue
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("%s has no sample %v", mf.GetName(), labels)
	return 0
}

func fullSnapshot(s *CacheSnapshot) {
	*s = CacheSnapshot{
		Hits: 900, Misses: 100, Evictions: 7, Expirations: 3, Invalidations: 11, Items: 4242,
		UsedBytes: 64 << 20, QuotaBytes: 256 << 20,
		Namespaces: []NamespaceSnapshot{
			{Name: "session:", Used: 51 << 20, Quota: 64 << 20},
			{Name: "user:", Used: 10 << 20},            // no cap of its own
			{Name: "session:", Used: 1, Quota: 1},      // duplicate: dropped
			{Name: GlobalNamespace, Used: 1, Quota: 1}, // would collide: dropped
		},
		Segments:  map[string]int64{"free": 12, "active": 3, "sealed": 49},
		DirtyKeys: 17, DirtyBytes: 60 << 20, MaxDirtyBytes: 64 << 20,
		FlushLag:    1500 * time.Millisecond,
		Tracking:    TrackingUp,
		Connections: 37,
	}
}

func TestMetricsContract(t *testing.T) {
	m := NewMetrics()
	m.SetSnapshotFunc(fullSnapshot)
	get, set := m.Command("get"), m.Command("set")
	if m.Command("get") != get {
		t.Fatal("Command returned a different pointer for the same name")
	}
	for _, d := range []time.Duration{5 * time.Microsecond, 300 * time.Microsecond, 2 * time.Second} {
		get.Observe(d)
	}
	set.Observe(20 * time.Millisecond)
	m.UpstreamError(UpstreamErrTimeout)
	m.UpstreamError(UpstreamErrTimeout)
	m.ObserveUpstream(time.Millisecond)
	var nilCmd *CommandMetrics
	nilCmd.Observe(time.Second) // must not panic

	a := startAdminT(t, AdminConfig{Metrics: m})
	mfs := scrape(t, a.Addr())

	// The contract of DESIGN.md "What operators read", exactly: name, type,
	// label names.
	contract := []struct {
		name   string
		typ    dto.MetricType
		labels []string
	}{
		{"respcache_commands_total", dto.MetricType_COUNTER, []string{"command"}},
		{"respcache_command_duration_seconds", dto.MetricType_HISTOGRAM, []string{"command"}},
		{"respcache_cache_hits_total", dto.MetricType_COUNTER, nil},
		{"respcache_cache_misses_total", dto.MetricType_COUNTER, nil},
		{"respcache_cache_evictions_total", dto.MetricType_COUNTER, nil},
		{"respcache_cache_expirations_total", dto.MetricType_COUNTER, nil},
		{"respcache_cache_invalidations_total", dto.MetricType_COUNTER, nil},
		{"respcache_cache_items", dto.MetricType_GAUGE, nil},
		{"respcache_cache_memory_used_bytes", dto.MetricType_GAUGE, []string{"namespace"}},
		{"respcache_cache_memory_quota_bytes", dto.MetricType_GAUGE, []string{"namespace"}},
		{"respcache_writeback_dirty_bytes", dto.MetricType_GAUGE, nil},
		{"respcache_writeback_flush_lag_seconds", dto.MetricType_GAUGE, nil},
		{"respcache_tracking_up", dto.MetricType_GAUGE, nil},
		{"respcache_connections", dto.MetricType_GAUGE, nil},
		{"respcache_upstream_errors_total", dto.MetricType_COUNTER, []string{"kind"}},
		// additions
		{"respcache_upstream_duration_seconds", dto.MetricType_HISTOGRAM, nil},
		{"respcache_pool_segments", dto.MetricType_GAUGE, []string{"state"}},
		{"respcache_writeback_dirty_keys", dto.MetricType_GAUGE, nil},
		{"respcache_writeback_max_dirty_bytes", dto.MetricType_GAUGE, nil},
	}
	var ours []string
	for name := range mfs {
		if strings.HasPrefix(name, "respcache_") {
			ours = append(ours, name)
		}
	}
	sort.Strings(ours)
	var want []string
	for _, c := range contract {
		want = append(want, c.name)
		mf, ok := mfs[c.name]
		if !ok {
			t.Errorf("%s missing", c.name)
			continue
		}
		if mf.GetType() != c.typ {
			t.Errorf("%s is a %v, want %v", c.name, mf.GetType(), c.typ)
		}
		if got := labelNames(mf); !slices.Equal(got, c.labels) {
			t.Errorf("%s labels = %v, want %v", c.name, got, c.labels)
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s has no help", c.name)
		}
	}
	sort.Strings(want)
	if !slices.Equal(ours, want) {
		t.Errorf("respcache_ metrics = %v, want exactly %v", ours, want)
	}

	values := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"respcache_commands_total", []string{"command", "get"}, 3},
		{"respcache_commands_total", []string{"command", "set"}, 1},
		{"respcache_command_duration_seconds", []string{"command", "get"}, 3},
		{"respcache_cache_hits_total", nil, 900},
		{"respcache_cache_misses_total", nil, 100},
		{"respcache_cache_evictions_total", nil, 7},
		{"respcache_cache_expirations_total", nil, 3},
		{"respcache_cache_invalidations_total", nil, 11},
		{"respcache_cache_items", nil, 4242},
		{"respcache_cache_memory_used_bytes", []string{"namespace", "*"}, 64 << 20},
		{"respcache_cache_memory_quota_bytes", []string{"namespace", "*"}, 256 << 20},
		{"respcache_cache_memory_used_bytes", []string{"namespace", "session:"}, 51 << 20},
		{"respcache_cache_memory_quota_bytes", []string{"namespace", "session:"}, 64 << 20},
		{"respcache_cache_memory_used_bytes", []string{"namespace", "user:"}, 10 << 20},
		{"respcache_pool_segments", []string{"state", "sealed"}, 49},
		{"respcache_writeback_dirty_bytes", nil, 60 << 20},
		{"respcache_writeback_dirty_keys", nil, 17},
		{"respcache_writeback_max_dirty_bytes", nil, 64 << 20},
		{"respcache_writeback_flush_lag_seconds", nil, 1.5},
		{"respcache_tracking_up", nil, 1},
		{"respcache_connections", nil, 37},
		{"respcache_upstream_errors_total", []string{"kind", "timeout"}, 2},
		{"respcache_upstream_errors_total", []string{"kind", "connection"}, 0},
		{"respcache_upstream_duration_seconds", nil, 1},
	}
	for _, v := range values {
		if mf := mfs[v.name]; mf != nil {
			if got := value(t, mf, v.labels...); got != v.want {
				t.Errorf("%s%v = %v, want %v", v.name, v.labels, got, v.want)
			}
		}
	}
	if n := len(mfs["respcache_cache_memory_used_bytes"].GetMetric()); n != 3 {
		t.Errorf("memory_used series = %d, want 3 (*, session:, user:): duplicates must be dropped", n)
	}
	if n := len(mfs["respcache_cache_memory_quota_bytes"].GetMetric()); n != 2 {
		t.Errorf("memory_quota series = %d, want 2 (*, session:): a namespace without a cap has none", n)
	}

	// Histogram buckets: exactly CommandBuckets (10µs to 10s) plus +Inf,
	// and the observations of "get" (5µs, 300µs, 2s) land in the right ones.
	var h *dto.Histogram
	for _, mm := range mfs["respcache_command_duration_seconds"].GetMetric() {
		if mm.GetLabel()[0].GetValue() == "get" {
			h = mm.GetHistogram()
		}
	}
	bs := h.GetBucket()
	if len(bs) != len(CommandBuckets)+1 || !math.IsInf(bs[len(bs)-1].GetUpperBound(), 1) {
		t.Fatalf("buckets = %v", bs)
	}
	for i, ub := range CommandBuckets {
		want := uint64(0)
		for _, obs := range []float64{5e-6, 300e-6, 2} {
			if obs <= ub {
				want++
			}
		}
		if bs[i].GetUpperBound() != ub || bs[i].GetCumulativeCount() != want {
			t.Errorf("bucket %d = le %v count %d, want le %v count %d", i, bs[i].GetUpperBound(), bs[i].GetCumulativeCount(), ub, want)
		}
	}
	if CommandBuckets[0] != 10e-6 || CommandBuckets[len(CommandBuckets)-1] != 10 {
		t.Errorf("CommandBuckets span %v to %v, want 10µs to 10s", CommandBuckets[0], CommandBuckets[len(CommandBuckets)-1])
	}

	// Go runtime (runtime/metrics, incl. GC pauses) and process collectors.
	for _, name := range []string{"go_goroutines", "go_sched_pauses_total_gc_seconds", "go_gc_heap_allocs_bytes_total", "go_memory_classes_total_bytes", "process_resident_memory_bytes"} {
		if _, ok := mfs[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
}

func TestSnapshotStates(t *testing.T) {
	m := NewMetrics()
	a := startAdminT(t, AdminConfig{Metrics: m})

	// No snapshot function: no cache series, the scrape still works.
	mfs := scrape(t, a.Addr())
	if _, ok := mfs["respcache_cache_hits_total"]; ok {
		t.Error("cache series without a snapshot function")
	}
	if _, ok := mfs["respcache_commands_total"]; ok {
		t.Error("commands_total with no command resolved yet")
	}

	for _, tt := range []struct {
		tracking TrackingStatus
		want     []float64 // respcache_tracking_up samples
	}{{TrackingOff, nil}, {TrackingDown, []float64{0}}, {TrackingUp, []float64{1}}} {
		m.SetSnapshotFunc(func(s *CacheSnapshot) { s.Tracking = tt.tracking })
		var got []float64
		for _, mm := range scrape(t, a.Addr())["respcache_tracking_up"].GetMetric() {
			got = append(got, mm.GetGauge().GetValue())
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("tracking %v: respcache_tracking_up = %v, want %v", tt.tracking, got, tt.want)
		}
	}
	m.SetSnapshotFunc(nil)
	if _, ok := m.Snapshot(); ok {
		t.Error("Snapshot ok after SetSnapshotFunc(nil)")
	}
}

func TestCommandObserveConcurrent(t *testing.T) {
	m := NewMetrics()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := m.Command([]string{"get", "set"}[g%2])
			for range 1000 {
				c.Observe(time.Microsecond)
			}
		}()
	}
	wg.Wait()
	a := startAdminT(t, AdminConfig{Metrics: m})
	mf := scrape(t, a.Addr())["respcache_commands_total"]
	if got := value(t, mf, "command", "get"); got != 2000 {
		t.Errorf("get = %v, want 2000", got)
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	m := NewMetrics()
	c := m.Command("get")
	if n := testing.AllocsPerRun(1000, func() {
		c.Observe(123 * time.Microsecond)
		m.ObserveUpstream(time.Millisecond)
	}); n != 0 {
		t.Errorf("Observe allocates %v per call", n)
	}
}
