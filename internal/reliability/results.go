package reliability

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
)

// ReadResults decodes the JSON lines Record appends (results.jsonl), in
// file order. Blank lines are skipped; a malformed line is an error naming
// its line number. The returned slice is the caller's.
func ReadResults(r io.Reader) ([]Result, error) {
	var out []Result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20) // a result with many ClientsSee lines is long
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var res Result
		if err := json.Unmarshal(line, &res); err != nil {
			return nil, fmt.Errorf("reliability: line %d: %w", n, err)
		}
		if res.Suite == "" || res.Scenario == "" {
			return nil, fmt.Errorf("reliability: line %d: a result needs a suite and a scenario", n)
		}
		out = append(out, res)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reliability: %w", err)
	}
	return out, nil
}

// Latest keeps, for each (suite, scenario, long variant or not), the result
// recorded last (by At; on a tie, the later in rs), and returns them sorted
// by suite, then scenario, the CI-sized variant before the long one. Runs
// appended to the same file thus replace earlier ones. rs is not modified.
func Latest(rs []Result) []Result {
	type key struct {
		suite, scenario string
		long            bool
	}
	last := map[key]Result{}
	for _, r := range rs {
		k := key{r.Suite, r.Scenario, r.Long}
		if old, ok := last[k]; !ok || !r.At.Before(old.At) {
			last[k] = r
		}
	}
	out := make([]Result, 0, len(last))
	for _, r := range last {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Suite != b.Suite {
			return a.Suite < b.Suite
		}
		if a.Scenario != b.Scenario {
			return a.Scenario < b.Scenario
		}
		return !a.Long && b.Long
	})
	return out
}
