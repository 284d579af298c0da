package loadgen

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Result is what a run measured. Latencies are in milliseconds, the unit
// redis-benchmark prints. Every count covers the measurement only (not
// fill, not warmup). The JSON field names are the machine-readable contract
// of `respcache bench --json`.
type Result struct {
	// Options are the options the run used, defaults filled in.
	Options Options `json:"-"`
	// Workload repeats Options in JSON-friendly form.
	Workload Workload `json:"workload"`
	// Seconds is the wall time of the measurement: from the first write
	// until the last client finished.
	Seconds float64 `json:"seconds"`
	// Requests is the number of replies received (errors included).
	Requests int64 `json:"requests"`
	// Errors is how many of those replies were errors.
	Errors int64 `json:"errors"`
	// OpsPerSec is Requests / Seconds.
	OpsPerSec float64 `json:"ops_per_sec"`
	// Latency is over every command of the mix.
	Latency Latency `json:"latency_ms"`
	// Commands holds one entry per command of the mix, in mix order.
	Commands []CommandResult `json:"commands"`
	// ErrorTexts lists the most frequent error replies (at most
	// Options.MaxErrorTexts), most frequent first.
	ErrorTexts []ErrorCount `json:"error_texts,omitempty"`
	// OtherErrors counts the error replies not in ErrorTexts.
	OtherErrors int64 `json:"other_errors,omitempty"`
	// ConnectionErrors lists, per distinct text, the connections that
	// broke (reset, timeout, malformed reply). A broken connection stops
	// sending, so a --requests run then sends fewer commands.
	ConnectionErrors []ErrorCount `json:"connection_errors,omitempty"`
	// Cache is the server's cache hit ratio over the measurement, from the
	// INFO respcache fields cache_hits and cache_misses; nil when the
	// server has no such section (redis-server, twemproxy).
	Cache *CacheResult `json:"cache,omitempty"`
	// Fill reports the fill; nil without Options.Fill.
	Fill *FillResult `json:"fill,omitempty"`
	// Interrupted is set when the context was canceled: the result covers
	// the time until then.
	Interrupted bool `json:"interrupted"`
}

// Workload is the part of Options a reader of a result needs.
type Workload struct {
	Addr      string  `json:"addr"`
	Clients   int     `json:"clients"`
	Pipeline  int     `json:"pipeline"`
	Keys      uint64  `json:"keys"`
	KeyPrefix string  `json:"key_prefix"`
	Dist      Dist    `json:"dist"`
	ZipfS     float64 `json:"zipf_s,omitempty"`
	ValueSize string  `json:"value_size"`
	ReadRatio float64 `json:"read_ratio"`
	Commands  string  `json:"commands"`
	RESP      int     `json:"resp"`
	Seed      uint64  `json:"seed"`
}

// Latency summarizes a histogram, in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// CommandResult is one command of the mix.
type CommandResult struct {
	Name     string  `json:"name"` // "GET", "MGET:10"
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Latency  Latency `json:"latency_ms"`
}

// ErrorCount is one distinct error text and how often it came.
type ErrorCount struct {
	Text  string `json:"text"`
	Count int64  `json:"count"`
}

// CacheResult is the delta of INFO respcache over the measurement.
type CacheResult struct {
	Hits     int64   `json:"hits"`
	Misses   int64   `json:"misses"`
	HitRatio float64 `json:"hit_ratio"` // Hits / (Hits + Misses); 0 when both are 0
}

// FillResult reports the fill.
type FillResult struct {
	Keys       uint64       `json:"keys"`
	Seconds    float64      `json:"seconds"`
	Errors     int64        `json:"errors"`
	ErrorTexts []ErrorCount `json:"error_texts,omitempty"`
}

// finish folds the clients' measurements into r.
func (r *Result) finish(clients []*client, maxTexts int) {
	o := &r.Options
	names := make([]string, len(o.Commands))
	for i, c := range o.Commands {
		names[i] = strings.ToLower(c.Name())
	}
	r.Workload = Workload{
		Addr: o.Addr, Clients: o.Clients, Pipeline: o.Pipeline, Keys: o.Keys, KeyPrefix: o.KeyPrefix,
		Dist: o.Dist, ValueSize: o.ValueSize.String(), ReadRatio: o.ReadRatio,
		Commands: strings.Join(names, ","), RESP: o.RESP, Seed: o.Seed,
	}
	if o.Dist == DistZipf {
		r.Workload.ZipfS = o.ZipfS
	}
	all := newHist()
	for j, c := range o.Commands {
		h := newHist()
		cr := CommandResult{Name: c.Name()}
		for _, cl := range clients {
			st := &cl.stats[j]
			cr.Requests += st.count
			cr.Errors += st.errors
			h.Merge(st.hist)
		}
		cr.Latency = summarize(h)
		all.Merge(h)
		r.Commands = append(r.Commands, cr)
		r.Requests += cr.Requests
		r.Errors += cr.Errors
	}
	r.Latency = summarize(all)
	if r.Seconds > 0 {
		r.OpsPerSec = float64(r.Requests) / r.Seconds
	}
	r.ErrorTexts, r.OtherErrors = mergeErrors(clients, maxTexts)
	conns := map[string]int64{}
	for _, cl := range clients {
		if cl.failed != nil && !errors.Is(cl.failed, errInterrupted) {
			conns[cl.failed.Error()]++
		}
	}
	r.ConnectionErrors, _ = topErrors(conns, 0, len(conns))
}

// newHist is a histogram that can hold any client's at full precision.
func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(histLowest, histHighest, 3) }

func summarize(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	return Latency{
		P50:  ms(h.ValueAtQuantile(50)),
		P90:  ms(h.ValueAtQuantile(90)),
		P99:  ms(h.ValueAtQuantile(99)),
		P999: ms(h.ValueAtQuantile(99.9)),
		Max:  ms(h.Max()),
		Mean: h.Mean() / 1e6,
	}
}

// mergeErrors adds up the clients' error texts and returns the limit most
// frequent and the count of the others.
func mergeErrors(clients []*client, limit int) ([]ErrorCount, int64) {
	m := map[string]int64{}
	var other int64
	for _, cl := range clients {
		for text, n := range cl.errs {
			m[text] += n
		}
		other += cl.errOther
	}
	return topErrors(m, other, limit)
}

func topErrors(m map[string]int64, other int64, limit int) ([]ErrorCount, int64) {
	var list []ErrorCount
	for text, n := range m {
		list = append(list, ErrorCount{Text: text, Count: n})
	}
	slices.SortFunc(list, func(a, b ErrorCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Text, b.Text))
	})
	if len(list) > limit {
		for _, e := range list[limit:] {
			other += e.Count
		}
		list = list[:limit]
	}
	return list, other
}

// WriteText writes the human-readable report.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	wl := &r.Workload
	dist := string(wl.Dist)
	if wl.Dist == DistZipf {
		dist = fmt.Sprintf("zipf(s=%g)", wl.ZipfS)
	}
	fmt.Fprintf(&b, "target %s: %d clients, pipeline %d, RESP%d, %d keys %s, values %s B, commands %s, read ratio %.2f\n",
		wl.Addr, wl.Clients, wl.Pipeline, wl.RESP, wl.Keys, dist, wl.ValueSize, wl.Commands, wl.ReadRatio)
	if f := r.Fill; f != nil {
		fmt.Fprintf(&b, "fill: %d keys in %.2f s, %d errors\n", f.Keys, f.Seconds, f.Errors)
		for _, e := range f.ErrorTexts {
			fmt.Fprintf(&b, "  %10d  %s\n", e.Count, e.Text)
		}
	}
	if r.Interrupted {
		b.WriteString("INTERRUPTED: partial result\n")
	}
	fmt.Fprintf(&b, "throughput: %.0f requests/s (%d requests in %.3f s, %d errors)\n", r.OpsPerSec, r.Requests, r.Seconds, r.Errors)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "latency ms\trequests\terrors\tp50\tp90\tp99\tp99.9\tmax\t")
	row := func(name string, n, e int64, l Latency) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t\n", name, n, e, l.P50, l.P90, l.P99, l.P999, l.Max)
	}
	for _, c := range r.Commands {
		row(c.Name, c.Requests, c.Errors, c.Latency)
	}
	if len(r.Commands) > 1 {
		row("all", r.Requests, r.Errors, r.Latency)
	}
	tw.Flush()
	if c := r.Cache; c != nil {
		if c.Hits+c.Misses > 0 {
			fmt.Fprintf(&b, "cache hit ratio: %.4f (hits %d, misses %d)\n", c.HitRatio, c.Hits, c.Misses)
		} else {
			b.WriteString("cache hit ratio: n/a (no cache lookups)\n")
		}
	}
	if len(r.ErrorTexts) > 0 || r.OtherErrors > 0 {
		b.WriteString("error replies:\n")
		for _, e := range r.ErrorTexts {
			fmt.Fprintf(&b, "  %10d  %s\n", e.Count, e.Text)
		}
		if r.OtherErrors > 0 {
			fmt.Fprintf(&b, "  %10d  (other texts)\n", r.OtherErrors)
		}
	}
	if len(r.ConnectionErrors) > 0 {
		b.WriteString("broken connections:\n")
		for _, e := range r.ConnectionErrors {
			fmt.Fprintf(&b, "  %10d  %s\n", e.Count, e.Text)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
