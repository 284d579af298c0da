package proxy

import (
	"testing"

	"github.com/respcache/respcache/internal/redistest"
)

// TestDifferential sends every script of the corpus to a redis-server
// directly and to another one through respcache, in RESP2 and RESP3, and
// requires byte-identical replies.
func TestDifferential(t *testing.T) {
	redistest.RunDiffCorpus(t, func(t testing.TB, upstream string) string {
		return startStandalone(t, upstream).Addr
	})
}
