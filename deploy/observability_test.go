package deploy

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"gopkg.in/yaml.v3"
)

// designMetrics is DESIGN.md's "What operators read" list: name and type
// (client_model's MetricType names).
// Names are a contract with dashboards.
var designMetrics = map[string]string{
	"respcache_commands_total":              "COUNTER",
	"respcache_command_duration_seconds":    "HISTOGRAM",
	"respcache_cache_hits_total":            "COUNTER",
	"respcache_cache_misses_total":          "COUNTER",
	"respcache_cache_evictions_total":       "COUNTER",
	"respcache_cache_expirations_total":     "COUNTER",
	"respcache_cache_invalidations_total":   "COUNTER",
	"respcache_cache_items":                 "GAUGE",
	"respcache_cache_memory_used_bytes":     "GAUGE",
	"respcache_cache_memory_quota_bytes":    "GAUGE",
	"respcache_writeback_dirty_bytes":       "GAUGE",
	"respcache_writeback_flush_lag_seconds": "GAUGE",
	"respcache_tracking_up":                 "GAUGE",
	"respcache_connections":                 "GAUGE",
	"respcache_upstream_errors_total":       "COUNTER",
}

// seriesNames maps every series name a family exposes (a histogram's
// _bucket, _sum and _count, a summary's quantiles, _sum and _count) to the
// family's name.
func seriesNames(families map[string]string) map[string]string {
	out := map[string]string{}
	for name, typ := range families {
		out[name] = name
		if typ == "HISTOGRAM" || typ == "SUMMARY" {
			out[name+"_sum"] = name
			out[name+"_count"] = name
		}
		if typ == "HISTOGRAM" {
			out[name+"_bucket"] = name
		}
	}
	return out
}

// runtimeMetrics gathers what client_golang's Go and process collectors
// export (the "Go runtime metrics" DESIGN.md promises), with their defaults.
func runtimeMetrics(t *testing.T) map[string]string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf.GetType().String()
	}
	if len(out) < 10 {
		t.Fatalf("only %d runtime metrics gathered", len(out))
	}
	return out
}

// promqlKeywords are identifiers that are not metric names when not
// followed by "(".
var promqlKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"bool": true, "offset": true, "and": true, "or": true, "unless": true, "atan2": true,
	"inf": true, "nan": true, "Inf": true, "NaN": true,
	// Aggregation operators, which may be followed by "by (...)" rather
	// than "(": PromQL reserves their names.
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// labelLists are keywords followed by a parenthesised list of label names.
var labelLists = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// promqlMetricNames returns the metric names a PromQL expression (with
// Grafana's $variables) selects, in order of appearance, each once. It
// knows PromQL's lexical structure well enough for that and no further:
// strings, label matchers and range selectors are skipped, identifiers
// followed by "(" are functions or aggregations, and the label lists after
// by/without/on/ignoring/group_left/group_right are skipped.
func promqlMetricNames(expr string) ([]string, error) {
	var names []string
	s := expr
	isStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isPart := func(c byte) bool { return isStart(c) || c >= '0' && c <= '9' }
	skipSpace := func(i int) int {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
		return i
	}
	// closeOf finds the end of a bracketed or quoted span starting at i.
	closeOf := func(i int, open, close byte) (int, error) {
		depth := 0
		for j := i; j < len(s); j++ {
			switch c := s[j]; {
			case c == '"' || c == '\'' || c == '`':
				k := j + 1
				for k < len(s) && s[k] != c {
					if s[k] == '\\' && c != '`' {
						k++
					}
					k++
				}
				if k >= len(s) {
					return 0, fmt.Errorf("unterminated string in %q", expr)
				}
				j = k
			case c == open:
				depth++
			case c == close:
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("unbalanced %c%c in %q", open, close, expr)
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '{':
			j, err := closeOf(i, '{', '}')
			if err != nil {
				return nil, err
			}
			i = j
		case c == '[':
			j, err := closeOf(i, '[', ']')
			if err != nil {
				return nil, err
			}
			i = j
		case c == '"' || c == '\'' || c == '`':
			k := i + 1
			for k < len(s) && s[k] != c {
				if s[k] == '\\' && c != '`' {
					k++
				}
				k++
			}
			if k >= len(s) {
				return nil, fmt.Errorf("unterminated string in %q", expr)
			}
			i = k + 1
		case c == '$':
			i++
			for i < len(s) && (isPart(s[i]) || s[i] == '{' || s[i] == '}') {
				i++
			}
		case c >= '0' && c <= '9' || c == '.':
			for i < len(s) && (isPart(s[i]) || s[i] == '.') {
				i++
			}
		case isStart(c):
			j := i
			for j < len(s) && isPart(s[j]) {
				j++
			}
			word := s[i:j]
			next := skipSpace(j)
			switch {
			case labelLists[word] && next < len(s) && s[next] == '(':
				k, err := closeOf(next, '(', ')')
				if err != nil {
					return nil, err
				}
				j = k
			case next < len(s) && s[next] == '(':
				// A function or aggregation.
			case promqlKeywords[word]:
			default:
				if !slices.Contains(names, word) {
					names = append(names, word)
				}
			}
			i = j
		default:
			i++
		}
	}
	return names, nil
}

func TestPromQLMetricNames(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`sum(rate(respcache_cache_hits_total{instance=~"$instance"}[$__rate_interval]))`, []string{"respcache_cache_hits_total"}},
		{`histogram_quantile(0.99, sum by (le, command) (rate(x_bucket{a="b"}[5m])))`, []string{"x_bucket"}},
		{`a / on(instance) group_left(job) b`, []string{"a", "b"}},
		{`max by (instance) (go_gc_duration_seconds{quantile="1"})`, []string{"go_gc_duration_seconds"}},
		{`x{l="sum(by) y{"} offset 5m and bool y > 1e3`, []string{"x", "y"}},
		{`sum(a) without (foo, bar) / sum(rate(b[1m:10s]))`, []string{"a", "b"}},
		{`1 - c`, []string{"c"}},
	}
	for _, tt := range tests {
		got, err := promqlMetricNames(tt.expr)
		if err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.expr, got, tt.want)
		}
	}
	for _, bad := range []string{`x{a="b"`, `rate(x[5m)`, `x{a="b}`} {
		if _, err := promqlMetricNames(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// dashboardPanels flattens the dashboard's panels, rows' panels included.
func dashboardPanels(v any) []any {
	var out []any
	for _, p := range list(v, "panels") {
		out = append(out, p)
		out = append(out, dashboardPanels(p)...)
	}
	return out
}

// dashboardQueries returns every PromQL query of the dashboard: panel
// targets, and the metric argument of label_values() in template
// variables. Each is labelled for error messages.
func dashboardQueries(dash any) (map[string]string, error) {
	q := map[string]string{}
	for _, p := range dashboardPanels(dash) {
		for _, tg := range list(p, "targets") {
			expr := str(tg, "expr")
			if expr == "" {
				return nil, fmt.Errorf("panel %q target %s has no expr", str(p, "title"), str(tg, "refId"))
			}
			q[fmt.Sprintf("panel %q target %s", str(p, "title"), str(tg, "refId"))] = expr
		}
	}
	for _, v := range list(dash, "templating", "list") {
		if str(v, "type") != "query" {
			continue
		}
		query := str(v, "query", "query")
		if query == "" {
			query = str(v, "query")
		}
		inner, ok := strings.CutPrefix(strings.TrimSpace(query), "label_values(")
		if !ok {
			q["variable "+str(v, "name")] = query
			continue
		}
		args := strings.Split(strings.TrimSuffix(inner, ")"), ",")
		if len(args) == 2 {
			q["variable "+str(v, "name")] = strings.TrimSpace(args[0])
		}
	}
	return q, nil
}

func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("observability/grafana/respcache.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	if str(dash, "uid") == "" || str(dash, "title") == "" {
		t.Errorf("dashboard needs a uid and a title")
	}

	allowed := seriesNames(designMetrics)
	runtime := seriesNames(runtimeMetrics(t))
	queries, err := dashboardQueries(dash)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	labels := make([]string, 0, len(queries))
	for l := range queries {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	for _, l := range labels {
		names, err := promqlMetricNames(queries[l])
		if err != nil {
			t.Errorf("%s: %v", l, err)
			continue
		}
		if len(names) == 0 {
			t.Errorf("%s: selects no metric: %s", l, queries[l])
		}
		for _, n := range names {
			switch {
			case allowed[n] != "":
				used[allowed[n]] = true
			case runtime[n] != "":
				used[runtime[n]] = true
			default:
				t.Errorf("%s: metric %q is neither in DESIGN.md's list nor a Go runtime/process metric of client_golang", l, n)
			}
		}
	}
	for name := range designMetrics {
		if !used[name] {
			t.Errorf("no panel uses DESIGN.md's %s", name)
		}
	}
	if !used["go_gc_duration_seconds"] {
		t.Errorf("no panel shows GC pauses (go_gc_duration_seconds)")
	}

	// Panels: unique ids, inside the 24-column grid, not overlapping.
	type rect struct{ x, y, w, h int }
	var rects []rect
	var titles []string
	ids := map[int]bool{}
	for _, p := range dashboardPanels(dash) {
		id, _ := integer(p, "id")
		if ids[id] {
			t.Errorf("panel id %d used twice", id)
		}
		ids[id] = true
		x, _ := integer(p, "gridPos", "x")
		y, _ := integer(p, "gridPos", "y")
		w, _ := integer(p, "gridPos", "w")
		h, _ := integer(p, "gridPos", "h")
		if w <= 0 || h <= 0 || x < 0 || x+w > 24 {
			t.Errorf("panel %q: gridPos %v outside the 24-column grid", str(p, "title"), get(p, "gridPos"))
		}
		r := rect{x, y, w, h}
		for i, o := range rects {
			if r.x < o.x+o.w && o.x < r.x+r.w && r.y < o.y+o.h && o.y < r.y+r.h {
				t.Errorf("panels %q and %q overlap", str(p, "title"), titles[i])
			}
		}
		rects, titles = append(rects, r), append(titles, str(p, "title"))
		if str(p, "type") != "row" && str(p, "datasource", "uid") != "${datasource}" {
			t.Errorf("panel %q: datasource %v, want the ${datasource} variable", str(p, "title"), get(p, "datasource"))
		}
	}
}

// composeFile is the part of the Compose specification the compose file
// uses, decoded with KnownFields so a misspelt key fails here rather than
// being ignored by `docker compose`. Add fields as the file grows.
type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   yaml.Node         `yaml:"depends_on"`
	Healthcheck *struct {
		Test     []string `yaml:"test"`
		Interval string   `yaml:"interval"`
		Timeout  string   `yaml:"timeout"`
		Retries  int      `yaml:"retries"`
	} `yaml:"healthcheck"`
	MemLimit        string   `yaml:"mem_limit"`
	ReadOnly        bool     `yaml:"read_only"`
	SecurityOpt     []string `yaml:"security_opt"`
	CapDrop         []string `yaml:"cap_drop"`
	StopGracePeriod string   `yaml:"stop_grace_period"`
	Profiles        []string `yaml:"profiles"`
}

// dependsOn lists depends_on in either of its forms (list or map).
func (s composeService) dependsOn() []string {
	var out []string
	switch s.DependsOn.Kind {
	case yaml.SequenceNode:
		for _, n := range s.DependsOn.Content {
			out = append(out, n.Value)
		}
	case yaml.MappingNode:
		for i := 0; i < len(s.DependsOn.Content); i += 2 {
			out = append(out, s.DependsOn.Content[i].Value)
		}
	}
	return out
}

// bindMount splits a short-syntax volume "SRC:DST[:MODE]"; host is true
// for a path (bind mount) rather than a named volume.
func bindMount(v string) (src, dst string, host bool) {
	parts := strings.Split(v, ":")
	if len(parts) < 2 {
		return "", v, false
	}
	src, dst = parts[0], parts[1]
	return src, dst, strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/")
}

// composeMount returns the host file (relative to the test's directory)
// that service svc mounts at dst, or "".
func composeMount(svc composeService, dst string) string {
	for _, v := range svc.Volumes {
		if src, d, host := bindMount(v); host && d == dst {
			return filepath.Join("compose", src)
		}
	}
	return ""
}

func readYAMLFile(t *testing.T, p string) any {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return v
}

// hostPort splits "host:port" (or a URL's host) and fails the test if it
// cannot.
func hostPort(t *testing.T, what, s string) (string, int) {
	t.Helper()
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		s = u.Host
	}
	h, p, err := net.SplitHostPort(s)
	n, err2 := strconv.Atoi(p)
	if err != nil || err2 != nil {
		t.Fatalf("%s: %q is not host:port", what, s)
	}
	return h, n
}

func TestCompose(t *testing.T) {
	b, err := os.ReadFile("compose/docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := decodeStrict(b, &cf); err != nil {
		t.Fatalf("compose/docker-compose.yaml: %v", err)
	}
	for _, want := range []string{"redis", "respcache", "otel-collector", "prometheus", "grafana"} {
		if _, ok := cf.Services[want]; !ok {
			t.Errorf("no %s service", want)
		}
	}
	for name, svc := range cf.Services {
		if (svc.Image == "") == (svc.Build == nil) && svc.Build == nil {
			t.Errorf("%s: neither image nor build", name)
		}
		if svc.Build != nil {
			ctx := filepath.Join("compose", svc.Build.Context)
			df := svc.Build.Dockerfile
			if df == "" {
				df = "Dockerfile"
			}
			if _, err := os.Stat(filepath.Join(ctx, df)); err != nil {
				t.Errorf("%s: build: %v", name, err)
			}
		}
		for _, v := range svc.Volumes {
			src, _, host := bindMount(v)
			if host {
				if _, err := os.Stat(filepath.Join("compose", src)); err != nil {
					t.Errorf("%s: volume %q: %v", name, v, err)
				}
			} else if _, ok := cf.Volumes[src]; src != "" && !ok {
				t.Errorf("%s: named volume %q is not declared under volumes", name, src)
			}
		}
		for _, d := range svc.dependsOn() {
			if _, ok := cf.Services[d]; !ok {
				t.Errorf("%s: depends_on unknown service %q", name, d)
			}
		}
		for _, p := range svc.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s: port %q is published on every interface; publish on 127.0.0.1", name, p)
			}
		}
	}

	// respcache: its config, memory and telemetry wiring.
	rc := cf.Services["respcache"]
	cfgPath := ""
	for i := 0; i+1 < len(rc.Command); i++ {
		if rc.Command[i] == "--config" {
			cfgPath = rc.Command[i+1]
		}
	}
	hostCfg := composeMount(rc, cfgPath)
	if hostCfg == "" {
		t.Fatalf("respcache: --config %q is not a bind-mounted file", cfgPath)
	}
	cfgText, err := os.ReadFile(hostCfg)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for k, v := range rc.Environment {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	t.Run("respcache-config-schema", func(t *testing.T) {
		bad, err := unknownConfigKeys(cfgText)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range bad {
			t.Errorf("%s: key %q is not in DESIGN.md's configuration contract", hostCfg, k)
		}
	})
	cfg, err := effectiveConfig(cfgText, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("respcache-config-loads", func(t *testing.T) { checkConfigLoads(t, cfgText, env, &cfg) })
	limit, err := parseDockerBytes(rc.MemLimit)
	if err != nil {
		t.Fatalf("respcache mem_limit: %v", err)
	}
	if need := cfg.requiredMemory(); limit < need {
		t.Errorf("respcache mem_limit %s < %d MiB needed (README \"Memory\")", rc.MemLimit, need/mib)
	}
	if got, want := rc.Environment["GOMEMLIMIT"], wantGOMEMLIMIT(limit); got != want {
		t.Errorf("respcache GOMEMLIMIT %q, want %q", got, want)
	}
	if !rc.ReadOnly || !slices.Contains(rc.CapDrop, "ALL") {
		t.Errorf("respcache: want read_only: true and cap_drop: [ALL], as in Kubernetes")
	}
	_, adminPort := hostPort(t, "admin_listen", cfg.AdminListen)

	// The collector: pipelines reference defined components; respcache's
	// trace endpoint is the collector's OTLP gRPC receiver.
	oc := cf.Services["otel-collector"]
	ocPath := ""
	for _, v := range oc.Volumes {
		if src, _, host := bindMount(v); host {
			ocPath = filepath.Join("compose", src)
		}
	}
	col := readYAMLFile(t, ocPath)
	checkCollector(t, col)
	epHost, epPort := hostPort(t, "telemetry.traces.endpoint", cfg.TracesEndpoint)
	_, grpcPort := hostPort(t, "collector otlp grpc endpoint", str(col, "receivers", "otlp", "protocols", "grpc", "endpoint"))
	if epHost != "otel-collector" || epPort != grpcPort {
		t.Errorf("respcache traces endpoint %q is not the collector's OTLP gRPC receiver otel-collector:%d", cfg.TracesEndpoint, grpcPort)
	}
	_, promExporterPort := hostPort(t, "collector prometheus exporter", str(col, "exporters", "prometheus", "endpoint"))

	// Prometheus scrapes respcache's admin port and the collector's
	// exporter, by service name.
	prom := readYAMLFile(t, composeMount(cf.Services["prometheus"], "/etc/prometheus/prometheus.yml"))
	wantTargets := map[string]int{"respcache": adminPort, "otel-collector": promExporterPort}
	for _, job := range list(prom, "scrape_configs") {
		for _, sc := range list(job, "static_configs") {
			for _, target := range list(sc, "targets") {
				s, _ := target.(string)
				h, p := hostPort(t, "prometheus target", s)
				if _, ok := cf.Services[h]; !ok {
					t.Errorf("prometheus job %s: target %q is not a compose service", str(job, "job_name"), s)
				}
				if want, ok := wantTargets[h]; ok && p != want {
					t.Errorf("prometheus job %s: target %q, want port %d", str(job, "job_name"), s, want)
				}
				delete(wantTargets, h)
			}
		}
		if mp := str(job, "metrics_path"); mp != "" && mp != metricsPath {
			t.Errorf("prometheus job %s: metrics_path %q", str(job, "job_name"), mp)
		}
	}
	for h := range wantTargets {
		t.Errorf("prometheus does not scrape %s", h)
	}

	// Grafana: its datasource is the prometheus service; its dashboard
	// provider reads the directory the dashboard is mounted in.
	gf := cf.Services["grafana"]
	ds := readYAMLFile(t, composeMount(gf, "/etc/grafana/provisioning/datasources")+"/prometheus.yaml")
	for _, d := range list(ds, "datasources") {
		h, _ := hostPort(t, "grafana datasource url", str(d, "url"))
		if _, ok := cf.Services[h]; !ok {
			t.Errorf("grafana datasource %s: host %q is not a compose service", str(d, "name"), h)
		}
		if str(d, "uid") != "prometheus" {
			t.Errorf("grafana datasource uid %q: the dashboard's datasource variable defaults to uid prometheus", str(d, "uid"))
		}
	}
	prov := readYAMLFile(t, composeMount(gf, "/etc/grafana/provisioning/dashboards")+"/respcache.yaml")
	dashDir := str(prov, "providers", "0", "options", "path")
	if composeMount(gf, path.Join(dashDir, "respcache.json")) == "" {
		t.Errorf("grafana: the dashboard provider reads %s, where no dashboard is mounted", dashDir)
	}
}

// checkCollector checks an OpenTelemetry collector config the way the
// collector does at start: every component a pipeline names is defined
// (a connector counts as an exporter of one pipeline and a receiver of
// another), every connector is used on both sides, and every extension in
// service.extensions is defined.
func checkCollector(t *testing.T, col any) {
	t.Helper()
	defined := func(kind, id string) bool {
		if kind == "receivers" || kind == "exporters" {
			if _, ok := get(col, "connectors").(object)[id]; ok {
				return true
			}
		}
		m, _ := get(col, kind).(object)
		_, ok := m[id]
		return ok
	}
	pipelines, _ := get(col, "service", "pipelines").(object)
	if len(pipelines) == 0 {
		t.Fatalf("collector: no pipelines")
	}
	connIn, connOut := map[string]bool{}, map[string]bool{}
	for name, p := range pipelines {
		for _, kind := range []string{"receivers", "processors", "exporters"} {
			for _, c := range list(p, kind) {
				id, _ := c.(string)
				if !defined(kind, id) {
					t.Errorf("collector pipeline %s: %s %q is not defined", name, kind, id)
				}
				if _, ok := get(col, "connectors").(object)[id]; ok {
					if kind == "exporters" {
						connOut[id] = true
					} else {
						connIn[id] = true
					}
				}
			}
		}
		if len(list(p, "receivers")) == 0 || len(list(p, "exporters")) == 0 {
			t.Errorf("collector pipeline %s needs receivers and exporters", name)
		}
	}
	for id := range get(col, "connectors").(object) {
		if !connIn[id] || !connOut[id] {
			t.Errorf("collector connector %s must be an exporter of one pipeline and a receiver of another", id)
		}
	}
	for _, e := range list(col, "service", "extensions") {
		if !defined("extensions", e.(string)) {
			t.Errorf("collector extension %v is not defined", e)
		}
	}
}

// TestPrometheusKubernetesJob checks the annotation-driven scrape job
// against the annotations the manifests set.
func TestPrometheusKubernetesJob(t *testing.T) {
	cfg := readYAMLFile(t, "observability/prometheus-kubernetes.yml")
	jobs := list(cfg, "scrape_configs")
	if len(jobs) != 1 || str(jobs[0], "kubernetes_sd_configs", "0", "role") != "pod" {
		t.Fatalf("want one job with kubernetes_sd_configs role pod")
	}
	var sources []string
	for _, r := range list(jobs[0], "relabel_configs") {
		for _, s := range list(r, "source_labels") {
			sources = append(sources, s.(string))
		}
	}
	objs, err := renderKustomization("kubernetes/base")
	if err != nil {
		t.Fatal(err)
	}
	ann, _ := get(objs[findObject(objs, "Deployment", "respcache-example")], "spec", "template", "metadata", "annotations").(object)
	for a := range ann {
		if !strings.HasPrefix(a, "prometheus.io/") {
			continue
		}
		// Prometheus turns annotation names into label names this way.
		label := "__meta_kubernetes_pod_annotation_" + strings.NewReplacer(".", "_", "/", "_").Replace(a)
		if !slices.Contains(sources, label) {
			t.Errorf("the job does not read the %s annotation (%s)", a, label)
		}
	}
}

// FuzzPromQLMetricNames: the extractor must not panic or loop on any input,
// and every name it returns must be an identifier of the input.
func FuzzPromQLMetricNames(f *testing.F) {
	for _, s := range []string{
		`sum by (le) (rate(a_bucket{x="y"}[5m]))`, `a / on(i) group_left(j) b`, `x{l="}"}`, `"unterminated`,
		`histogram_quantile(0.99, sum(rate(b[$__rate_interval])) by (le))`, `$var{`, `[`, `(`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		names, err := promqlMetricNames(expr)
		if err != nil {
			return
		}
		for _, n := range names {
			if n == "" || !strings.Contains(expr, n) {
				t.Fatalf("%q: name %q is not part of the input", expr, n)
			}
		}
	})
}
