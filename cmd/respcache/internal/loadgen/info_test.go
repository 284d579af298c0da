package loadgen

import "testing"

// respcacheInfo is INFO respcache as DESIGN.md specifies it.
const respcacheInfo = "# Respcache\r\n" +
	"cache_hits:123456\r\n" +
	"cache_misses:789\r\n" +
	"cache_items:1000\r\n" +
	"cache_used_memory:1048576\r\n" +
	"tracking_status:up\r\n"

func TestParseCacheStats(t *testing.T) {
	for _, tc := range []struct {
		name string
		info string
		want CacheStats
		ok   bool
	}{
		{"respcache section", respcacheInfo, CacheStats{Hits: 123456, Misses: 789}, true},
		{"LF line ends, no final newline", "# Respcache\ncache_misses:5\ncache_hits:7", CacheStats{Hits: 7, Misses: 5}, true},
		{"inside a full INFO", "# Server\r\nredis_version:7.0.15\r\n\r\n# Stats\r\nkeyspace_hits:99\r\n\r\n" + respcacheInfo, CacheStats{Hits: 123456, Misses: 789}, true},
		{"first of duplicates wins", "cache_hits:1\r\ncache_misses:2\r\ncache_hits:3\r\n", CacheStats{Hits: 1, Misses: 2}, true},
		{"zeros", "cache_hits:0\r\ncache_misses:0\r\n", CacheStats{}, true},
		{"redis-server: empty section", "", CacheStats{}, false},
		{"redis keyspace_hits are not ours", "# Stats\r\nkeyspace_hits:10\r\nkeyspace_misses:2\r\n", CacheStats{}, false},
		{"misses missing", "cache_hits:10\r\n", CacheStats{}, false},
		{"not a number", "cache_hits:x\r\ncache_misses:1\r\n", CacheStats{}, false},
		{"negative", "cache_hits:-1\r\ncache_misses:1\r\n", CacheStats{}, false},
		{"prefix match is not a match", "cache_hits_total:1\r\ncache_misses:1\r\n", CacheStats{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseCacheStats([]byte(tc.info))
			if ok != tc.ok || got != tc.want {
				t.Fatalf("ParseCacheStats = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParseCacheStats(f *testing.F) {
	f.Add([]byte(respcacheInfo))
	f.Add([]byte("cache_hits:1\ncache_misses:2"))
	f.Add([]byte("cache_hits:\r\n:\r\n\r\r\n"))
	f.Fuzz(func(t *testing.T, info []byte) {
		s, ok := ParseCacheStats(info)
		if !ok && s != (CacheStats{}) {
			t.Fatalf("not ok but returned %+v", s)
		}
		if ok && (s.Hits < 0 || s.Misses < 0) {
			t.Fatalf("negative counters %+v", s)
		}
	})
}
