package proxy

import (
	"strings"
	"testing"

	"github.com/respcache/respcache/internal/redistest"
)

// TestClientTrackingThroughCache: clients that turn on CLIENT TRACKING
// themselves (what rueidis and go-redis client-side caching do) get the same
// invalidations through respcache as from redis-server directly, in every
// mode, including for keys respcache itself holds in its cache (another
// client read them first). Each scenario runs against a redis-server
// directly and against another one through respcache; the transcripts of
// what the tracking client received must be identical.
func TestClientTrackingThroughCache(t *testing.T) {
	scenarios := []struct {
		name   string
		proto  string
		enable []string // CLIENT TRACKING arguments; "REDIRECT" gets the subscriber's id
		reads  []string // keys the tracking client reads
		writes []string // keys another client writes, one by one
		self   []string // keys the tracking client writes itself
	}{
		{name: "resp3-default", proto: "3", enable: []string{"ON"}, reads: []string{"k1", "k2"}, writes: []string{"k1", "k3", "k2"}},
		{name: "resp3-bcast-prefix", proto: "3", enable: []string{"ON", "BCAST", "PREFIX", "user:"}, writes: []string{"user:1", "other", "user:2"}},
		{name: "resp3-optin", proto: "3", enable: []string{"ON", "OPTIN"}, reads: []string{"k1"}, writes: []string{"k1"}},
		{name: "resp3-optout", proto: "3", enable: []string{"ON", "OPTOUT"}, reads: []string{"k1", "k2"}, writes: []string{"k2", "k1"}},
		{name: "resp3-noloop", proto: "3", enable: []string{"ON", "NOLOOP"}, reads: []string{"k1", "k2"}, self: []string{"k1"}, writes: []string{"k2"}},
		{name: "resp2-redirect", proto: "2", enable: []string{"ON", "REDIRECT"}, reads: []string{"k1", "k2"}, writes: []string{"k2", "k1"}},
		{name: "resp2-redirect-bcast", proto: "2", enable: []string{"ON", "REDIRECT", "BCAST"}, writes: []string{"a", "b"}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			run := func(addr string, prime func()) string {
				var log strings.Builder
				a := redistest.Dial(t, addr)
				b := redistest.Dial(t, addr)
				var sub *redistest.Conn
				a.Do("HELLO", sc.proto)
				enable := append([]string{"CLIENT", "TRACKING"}, sc.enable...)
				for i, e := range enable {
					if e == "REDIRECT" {
						sub = redistest.Dial(t, addr)
						id := strings.TrimSuffix(strings.TrimPrefix(sub.DoString("CLIENT", "ID"), ":"), "\r\n")
						log.WriteString("sub: " + sub.DoString("SUBSCRIBE", "__redis__:invalidate"))
						enable = append(append(enable[:i+1:i+1], id), enable[i+1:]...)
						break
					}
				}
				for _, k := range append(append(sc.reads, sc.writes...), sc.self...) {
					b.Do("SET", k, "v0")
				}
				prime() // another client reads the keys: respcache caches them
				log.WriteString("enable: " + a.DoString(enable...))
				for _, k := range sc.reads {
					if strings.Contains(strings.Join(sc.enable, " "), "OPTIN") {
						log.WriteString("caching: " + a.DoString("CLIENT", "CACHING", "YES"))
					}
					log.WriteString("read: " + a.DoString("GET", k))
				}
				for _, k := range sc.self {
					log.WriteString("self: " + a.DoString("SET", k, "mine"))
				}
				for _, k := range sc.writes {
					b.Do("SET", k, "v1")
					// Whatever was pushed to a comes before the reply to its PING.
					a.Send("PING")
					for {
						f := string(a.ReadReply())
						log.WriteString("a: " + f)
						if f == "+PONG\r\n" {
							break
						}
					}
					if sub != nil {
						sub.Send("PING")
						for {
							f := string(sub.ReadReply())
							log.WriteString("sub: " + f)
							if strings.Contains(f, "pong") || f == "+PONG\r\n" {
								break
							}
						}
					}
				}
				return log.String()
			}
			direct := redistest.Start(t)
			via := redistest.Start(t)
			p := startCached(t, via.Addr(), CacheConfig{})
			primer := redistest.Dial(t, p.Addr)
			want := run(direct.Addr(), func() {})
			got := run(p.Addr, func() {
				for _, k := range append(sc.reads, sc.writes...) {
					primer.Do("GET", k)
					primer.Do("GET", k)
				}
			})
			if got != want {
				t.Errorf("through respcache:\n%s\ndirect:\n%s", got, want)
			}
			if !strings.Contains(want, "invalidate") {
				t.Errorf("scenario received no invalidation at all:\n%s", want)
			}
		})
	}
}
