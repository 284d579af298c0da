package proxy

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/respcache/respcache/cache"
	"github.com/respcache/respcache/internal/redistest"
	"github.com/respcache/respcache/store/disk"
)

// diskStore adapts *disk.Store to Store (NewConn's result type).
type diskStore struct{ *disk.Store }

func (d diskStore) NewConn() StoreConn { return d.Store.NewConn() }

// startDiskProxy serves a fresh embedded disk store through respcache, with
// the cache in front when withCache.
func startDiskProxy(t testing.TB, withCache bool) *testProxy {
	t.Helper()
	st, err := disk.Open(disk.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := Config{Store: diskStore{st}}
	if withCache {
		c, err := cache.New(cache.Config{MaxMemory: 16 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cfg.Cache = CacheConfig{Cache: c, NegativeTTL: time.Minute}
	}
	return startProxyWith(t, cfg, nil)
}

// TestDiskDifferential runs the embedded store's differential scripts
// through respcache (connection commands answered by the proxy, the rest by
// the store, reads from the cache where it can) against redis-server: the
// replies must be byte-identical, RESP2 and RESP3.
func TestDiskDifferential(t *testing.T) {
	files, _ := filepath.Glob("../store/disk/testdata/diff/*.txt")
	more, _ := filepath.Glob("../store/disk/testdata/*_*.txt")
	files = append(files, more...)
	if len(files) == 0 {
		t.Fatal("no scripts found")
	}
	for _, withCache := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", withCache), func(t *testing.T) {
			rs := redistest.Start(t)
			for _, f := range files {
				t.Run(filepath.Base(f), func(t *testing.T) {
					p := startDiskProxy(t, withCache)
					redistest.RunDiff(t, f, rs.Addr(), p.Addr)
				})
			}
		})
	}
}
