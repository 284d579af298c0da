package telemetry

import (
	"html/template"
	"strconv"
	"time"
)

// statusView is StatusInfo formatted for the page.
type statusView struct {
	Version, Uptime, Backend, BackendState, Tracking string
	Hits, Misses, HitRatio, Items, Evictions         string
	Connections, DirtyKeys, FlushLag                 string
	Bars                                             []barView
}

// barView is one memory bar: Used against Limit, both bytes. Pct is the
// fill width in percent, capped at 100 (Over tells when used exceeds the
// limit); Level picks the colour.
type barView struct {
	ID, Label     string
	Used, Limit   int64
	UsedH, LimitH string
	Pct, PctText  string
	Level         string // ok | warn | full
	Over          bool
}

func newBar(id, label string, used, limit int64) barView {
	p := 0.0
	if limit > 0 {
		p = float64(used) / float64(limit) * 100
	}
	b := barView{
		ID: id, Label: label, Used: used, Limit: limit,
		UsedH: humanBytes(used), LimitH: humanBytes(limit),
		PctText: strconv.FormatFloat(p, 'f', 1, 64) + "%",
		Over:    used > limit,
	}
	b.Pct = strconv.FormatFloat(min(p, 100), 'f', 2, 64)
	switch {
	case p >= 90:
		b.Level = "full"
	case p >= 75:
		b.Level = "warn"
	default:
		b.Level = "ok"
	}
	return b
}

func newStatusView(info StatusInfo, now time.Time) statusView {
	c := info.Cache
	v := statusView{
		Version:      orDash(info.Version),
		Uptime:       now.Sub(info.Started).Truncate(time.Second).String(),
		Backend:      orDash(info.Backend),
		BackendState: orDash(info.BackendState),
		Tracking:     c.Tracking.String(),
		Hits:         strconv.FormatUint(c.Hits, 10),
		Misses:       strconv.FormatUint(c.Misses, 10),
		HitRatio:     "–",
		Items:        strconv.FormatUint(c.Items, 10),
		Evictions:    strconv.FormatUint(c.Evictions, 10),
		Connections:  strconv.FormatInt(c.Connections, 10),
		DirtyKeys:    strconv.FormatInt(c.DirtyKeys, 10),
		FlushLag:     c.FlushLag.Round(time.Millisecond).String(),
	}
	if total := c.Hits + c.Misses; total > 0 {
		v.HitRatio = strconv.FormatFloat(float64(c.Hits)/float64(total)*100, 'f', 1, 64) + "%"
	}
	if c.QuotaBytes > 0 {
		v.Bars = append(v.Bars, newBar("global", "cache (max_memory)", c.UsedBytes, c.QuotaBytes))
	}
	seen := make(map[string]bool, len(c.Namespaces))
	for _, ns := range c.Namespaces {
		if seen[ns.Name] || ns.Name == GlobalNamespace {
			continue // as the metrics do: first one wins
		}
		seen[ns.Name] = true
		switch {
		case ns.Quota > 0:
			v.Bars = append(v.Bars, newBar("ns:"+ns.Name, "namespace "+ns.Name, ns.Used, ns.Quota))
		case c.QuotaBytes > 0:
			// No cap of its own: show its share of the global quota.
			v.Bars = append(v.Bars, newBar("ns:"+ns.Name, "namespace "+ns.Name+" (shares max_memory)", ns.Used, c.QuotaBytes))
		}
	}
	if c.MaxDirtyBytes > 0 {
		v.Bars = append(v.Bars, newBar("dirty", "write-back dirty (max_dirty)", c.DirtyBytes, c.MaxDirtyBytes))
	}
	return v
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// humanBytes prints n in binary units with one decimal, as the config
// writes sizes (MiB, GiB).
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit && n > -unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	f := float64(n)
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	i := -1
	for (f >= unit || f <= -unit) && i < len(units)-1 {
		f /= unit
		i++
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " " + units[i]
}

// statusTemplate is self-contained: inline CSS, no scripts, no external
// assets, so it renders the same behind any proxy or air gap. It refreshes
// itself every 5s.
var statusTemplate = template.Must(template.New("status").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="5">
<title>respcache status</title>
<style>
:root { --ok: #2e9d57; --warn: #d99a17; --full: #d2413a; --ink: #1d2430; --muted: #667085; --line: #e3e7ee; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f5f7fa; }
header { background: #1d2430; color: #fff; padding: 14px 24px; display: flex; align-items: baseline; gap: 16px; }
header h1 { margin: 0; font-size: 18px; font-weight: 600; }
header .ver { color: #aab4c3; font-size: 13px; }
main { max-width: 960px; margin: 0 auto; padding: 20px 24px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px 20px; margin-bottom: 16px; }
h2 { margin: 0 0 12px; font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); }
dl { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 12px 20px; margin: 0; }
dt { color: var(--muted); font-size: 12px; }
dd { margin: 2px 0 0; font-size: 20px; font-weight: 600; font-variant-numeric: tabular-nums; }
.state-up { color: var(--ok); } .state-down { color: var(--full); } .state-off { color: var(--muted); }
.quota { margin: 10px 0 14px; }
.quota .head { display: flex; justify-content: space-between; font-size: 13px; margin-bottom: 4px; }
.quota .nums { color: var(--muted); font-variant-numeric: tabular-nums; }
.bar { height: 14px; background: #edf0f5; border-radius: 7px; overflow: hidden; }
.fill { display: block; height: 100%; border-radius: 7px; }
.fill.ok { background: var(--ok); } .fill.warn { background: var(--warn); } .fill.full { background: var(--full); }
.over { color: var(--full); font-weight: 600; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 8px 0 24px; }
</style>
</head>
<body>
<header><h1>respcache</h1><span class="ver" id="version">{{.Version}}</span></header>
<main>
<section>
<h2>Process</h2>
<dl>
<div><dt>Uptime</dt><dd id="uptime">{{.Uptime}}</dd></div>
<div style="grid-column: span 2"><dt>Backend</dt><dd id="backend" style="font-size:15px">{{.Backend}}</dd></div>
<div><dt>Backend state</dt><dd id="backend-state" style="font-size:15px">{{.BackendState}}</dd></div>
<div><dt>Tracking</dt><dd id="tracking" class="state-{{.Tracking}}">{{.Tracking}}</dd></div>
<div><dt>Connections</dt><dd id="connections">{{.Connections}}</dd></div>
</dl>
</section>
<section>
<h2>Cache</h2>
<dl>
<div><dt>Hits</dt><dd id="hits">{{.Hits}}</dd></div>
<div><dt>Misses</dt><dd id="misses">{{.Misses}}</dd></div>
<div><dt>Hit ratio</dt><dd id="hit-ratio">{{.HitRatio}}</dd></div>
<div><dt>Items</dt><dd id="items">{{.Items}}</dd></div>
<div><dt>Evictions</dt><dd id="evictions">{{.Evictions}}</dd></div>
<div><dt>Dirty keys</dt><dd id="dirty-keys">{{.DirtyKeys}}</dd></div>
<div><dt>Flush lag</dt><dd id="flush-lag">{{.FlushLag}}</dd></div>
</dl>
</section>
<section>
<h2>Memory against quotas</h2>
{{range .Bars}}<div class="quota" data-quota="{{.ID}}" data-used="{{.Used}}" data-limit="{{.Limit}}" data-pct="{{.Pct}}">
<div class="head"><span>{{.Label}}</span><span class="nums{{if .Over}} over{{end}}" title="{{.Used}} / {{.Limit}} bytes">{{.UsedH}} / {{.LimitH}} ({{.PctText}})</span></div>
<div class="bar"><span class="fill {{.Level}}" style="width: {{.Pct}}%"></span></div>
</div>
{{else}}<p class="nums">No quota reported.</p>
{{end}}</section>
</main>
<footer>refreshes every 5s · <a href="/metrics">/metrics</a> · <a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a></footer>
</body>
</html>
`))
