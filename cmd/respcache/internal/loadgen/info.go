package loadgen

import (
	"bytes"
	"strconv"
)

// CacheStats are the INFO respcache counters the hit ratio comes from.
type CacheStats struct {
	Hits, Misses int64 // cache_hits, cache_misses: totals since the server started
}

// ParseCacheStats extracts cache_hits and cache_misses from INFO text
// ("name:value" lines, "# Section" headers, CRLF or LF). It reports false
// unless both fields are present with non-negative integer values, which is
// how a server without respcache's section (redis-server answers INFO
// respcache with an empty text) is told apart. A field that appears twice
// keeps its first value.
func ParseCacheStats(info []byte) (CacheStats, bool) {
	var s CacheStats
	var haveHits, haveMisses bool
	for len(info) > 0 {
		line := info
		if i := bytes.IndexByte(info, '\n'); i >= 0 {
			line, info = info[:i], info[i+1:]
		} else {
			info = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			continue
		}
		var dst *int64
		var have *bool
		switch string(name) {
		case "cache_hits":
			dst, have = &s.Hits, &haveHits
		case "cache_misses":
			dst, have = &s.Misses, &haveMisses
		default:
			continue
		}
		if *have {
			continue
		}
		n, err := strconv.ParseInt(string(value), 10, 64)
		if err != nil || n < 0 {
			return CacheStats{}, false
		}
		*dst, *have = n, true
	}
	if !haveHits || !haveMisses {
		return CacheStats{}, false
	}
	return s, true
}
