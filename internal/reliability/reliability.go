// Package reliability collects the results of the fault and abuse suites
// (issue 8) so that RELIABILITY.md is generated from what the tests
// measured, never typed by hand.
//
// A test calls Record once per scenario after its checks passed. When the
// environment variable RELIABILITY_OUT names a directory, Record appends the
// result as one JSON line to RELIABILITY_OUT/results.jsonl; otherwise it only
// logs it with t.Log, so ordinary `go test` runs stay side-effect free.
// bench/reliability.sh sets the variable, runs the suites and renders the
// file with the renderer in ./render.
package reliability

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// EnvOut is the environment variable naming the output directory.
const EnvOut = "RELIABILITY_OUT"

// Result is one scenario's outcome, as RELIABILITY.md shows it.
type Result struct {
	// Suite is "fault" or "abuse".
	Suite string `json:"suite"`
	// Scenario is a short title, unique within the suite, e.g.
	// "upstream killed and restarted under load".
	Scenario string `json:"scenario"`
	// Promise is what respcache promises in this scenario, in one or two
	// sentences.
	Promise string `json:"promise"`
	// ClientsSee lists the exact replies or errors clients saw during the
	// fault ("-ERR ..." texts, "connection closed by respcache", ...).
	ClientsSee []string `json:"clients_see,omitempty"`
	// Measured is what the test measured, with numbers and units.
	Measured string `json:"measured"`
	// Lost is the number of acknowledged writes missing afterwards (the
	// promise is 0); -1 when the scenario does not involve writes.
	Lost int `json:"lost"`
	// Recovery is the time from the end of the fault until clients were
	// served normally again; 0 when not applicable.
	Recovery time.Duration `json:"recovery_ns,omitempty"`
	// PeakRSSKiB is respcache's peak resident set size during the scenario,
	// and BoundKiB the documented bound it was checked against; 0 when not
	// measured.
	PeakRSSKiB int64 `json:"peak_rss_kib,omitempty"`
	BoundKiB   int64 `json:"bound_kib,omitempty"`
	// Test is the Go test that produced the result (filled by Record).
	Test string `json:"test"`
	// Long is true when the result comes from a long variant
	// (REDISTEST_LONG=1).
	Long bool `json:"long,omitempty"`
	// At is when the result was recorded (filled by Record).
	At time.Time `json:"at"`
}

var mu sync.Mutex

// Record logs r and, when RELIABILITY_OUT is set, appends it to
// RELIABILITY_OUT/results.jsonl. A failure to write fails the test: a
// report with a silently missing scenario would be wrong.
func Record(t testing.TB, r Result) {
	t.Helper()
	r.Test = t.Name()
	r.Long = os.Getenv("REDISTEST_LONG") != ""
	r.At = time.Now().UTC()
	line, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("reliability: %v", err)
	}
	t.Logf("reliability: %s", line)
	dir := os.Getenv(EnvOut)
	if dir == "" {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	f, err := os.OpenFile(filepath.Join(dir, "results.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("reliability: %v", err)
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		t.Fatalf("reliability: %v", err)
	}
}
