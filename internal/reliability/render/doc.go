// Command render writes RELIABILITY.md from the results the fault and abuse
// suites recorded (reliability.Record), so the file says only what a test
// measured.
//
//	go run ./internal/reliability/render -in DIR/results.jsonl -out RELIABILITY.md \
//	    -commit abc1234 -nproc 2 -kernel 6.1.0 -go go1.26.8 -redis 7.0.15
//
// bench/reliability.sh runs the suites and then this command with the
// machine's facts; the renderer itself reads nothing but its input, so its
// output is a pure function of its arguments (tested against a golden file
// in testdata/). Results are grouped by suite and sorted by scenario; when
// the input holds several runs of a scenario, the last recorded wins
// (reliability.Latest). Each suite gets a summary table (scenario, promise,
// clients see, measured, lost, recovery, peak RSS / bound, test) whose long
// cells are shortened, and then one paragraph per scenario with everything
// in full.
package main
