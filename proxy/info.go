package proxy

import (
	"strconv"
	"strings"
	"time"

	"github.com/respcache/respcache/cache"
	"github.com/respcache/respcache/resp"
)

// Info is respcache's own state as INFO respcache reports it.
type Info struct {
	CacheHits, CacheMisses uint64 // reads answered locally / sent upstream
	CacheItems             int64
	CacheUsedMemory        int64 // bytes charged to the quota
	CacheMaxMemory         int64
	CacheEvictions         uint64
	CacheExpirations       uint64
	CacheInvalidations     uint64
	TrackingStatus         string // up, down or off
	InvalidationLagP99     time.Duration
	DirtyKeys, DirtyBytes  int64
	FlushLag               time.Duration
	JournalBytes           int64
	MaxDirty               int64 // write.max_dirty; 0 without write-back
	// PoolSegments counts the memory pool's segments by state (free,
	// active, sealed), for metrics.
	PoolSegments map[string]int64
	// Namespaces is each namespace's usage (metrics and the status page;
	// INFO does not print it).
	Namespaces []cache.NamespaceStats
}

// Info returns a snapshot of respcache's counters.
func (s *Server) Info() Info {
	in := Info{TrackingStatus: s.TrackingStatus()}
	cs := s.cs
	if cs == nil {
		return in
	}
	st := cs.c.Stats()
	in.CacheHits, in.CacheMisses = st.Hits, st.Misses+cs.bypassed.Load()
	in.CacheItems, in.CacheUsedMemory, in.CacheMaxMemory = st.Items, st.Used, st.MaxMemory
	in.CacheEvictions, in.CacheExpirations, in.CacheInvalidations = st.Evictions, st.Expirations, st.Invalidations
	in.DirtyKeys, in.DirtyBytes = st.DirtyKeys, st.DirtyBytes
	in.Namespaces = st.Namespaces
	in.PoolSegments = map[string]int64{"free": int64(st.SegmentsFree), "active": int64(st.SegmentsActive), "sealed": int64(st.SegmentsSealed)}
	if s.wb != nil {
		ws := s.wb.stats()
		in.FlushLag, in.JournalBytes, in.MaxDirty = ws.FlushLag, ws.JournalBytes, st.MaxDirty
	}
	if cs.tracker != nil {
		in.InvalidationLagP99 = cs.lag.p99()
	}
	return in
}

// infoSection renders INFO respcache, one name:value a line.
func (s *Server) infoSection() string {
	in := s.Info()
	var b strings.Builder
	b.WriteString("# Respcache\r\n")
	u := func(name string, v uint64) {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(v, 10))
		b.WriteString("\r\n")
	}
	i := func(name string, v int64) { u(name, uint64(max(v, 0))) }
	u("cache_hits", in.CacheHits)
	u("cache_misses", in.CacheMisses)
	i("cache_items", in.CacheItems)
	i("cache_used_memory", in.CacheUsedMemory)
	i("cache_max_memory", in.CacheMaxMemory)
	u("cache_evictions", in.CacheEvictions)
	u("cache_expirations", in.CacheExpirations)
	u("cache_invalidations", in.CacheInvalidations)
	b.WriteString("tracking_status:" + in.TrackingStatus + "\r\n")
	i("invalidation_lag_p99_us", in.InvalidationLagP99.Microseconds())
	i("dirty_keys", in.DirtyKeys)
	i("dirty_bytes", in.DirtyBytes)
	i("flush_lag_ms", in.FlushLag.Milliseconds())
	i("journal_bytes", in.JournalBytes)
	return b.String()
}

// info answers INFO respcache locally and marks INFO requests that include
// the default sections for the section to be appended to the upstream's
// reply. false means forward plainly.
func (s *session) info(args [][]byte, sl *slot) bool {
	mine, others := len(args) == 1, len(args) == 1
	for _, a := range args[1:] {
		switch {
		case isName(a, "respcache"):
			mine = true
		case isName(a, "all"), isName(a, "everything"), isName(a, "default"):
			mine, others = true, true
		default:
			others = true
		}
	}
	if !mine {
		return false
	}
	if !others {
		s.verbatim(sl, s.srv.infoSection())
		return true
	}
	sl.post, sl.args = postInfo, args
	s.posts++
	return false
}

// appendInfoSection adds respcache's section to the upstream's INFO reply.
func (s *session) appendInfoSection(sl *slot) {
	if sl.req.Err != nil {
		return
	}
	text, ok := resp.StringValue(sl.req.Reply)
	if !ok {
		return
	}
	var b strings.Builder
	b.Write(text)
	if len(text) > 0 {
		b.WriteString("\r\n")
	}
	b.WriteString(s.srv.infoSection())
	sl.req.Reply = sl.req.Reply[:0]
	s.verbatim(sl, b.String())
}
