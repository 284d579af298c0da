package proxy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/respcache/respcache/internal/redistest"
)

// A real application client, go-redis v9 (HELLO 3 and CLIENT SETINFO on
// connect), works through respcache unchanged: pipelines, transactions
// with WATCH, pub/sub and blocking pops, in RESP3 and RESP2.
func TestGoRedisClient(t *testing.T) {
	srv := up(t)
	p := startStandalone(t, srv.Addr())
	direct := redistest.Dial(t, srv.Addr())
	for _, proto := range []int{3, 2} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		rdb := goredis.NewClient(&goredis.Options{Addr: p.Addr, Protocol: proto, DB: 3, ClientName: "app"})
		defer rdb.Close()
		if err := rdb.Set(ctx, "k", "v", time.Minute).Err(); err != nil {
			t.Fatalf("RESP%d SET: %v", proto, err)
		}
		if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "v" {
			t.Fatalf("RESP%d GET: %q %v", proto, v, err)
		}
		if _, err := rdb.Get(ctx, "missing").Result(); !errors.Is(err, goredis.Nil) {
			t.Fatalf("RESP%d GET missing: %v", proto, err)
		}
		if n, err := rdb.ClientID(ctx).Result(); err != nil || n <= 0 {
			t.Fatalf("RESP%d CLIENT ID: %d %v", proto, n, err)
		}
		rdb.HSet(ctx, "h", "a", 1, "b", 2)
		if m, err := rdb.HGetAll(ctx, "h").Result(); err != nil || m["a"] != "1" || m["b"] != "2" {
			t.Fatalf("RESP%d HGETALL: %v %v", proto, m, err)
		}
		if f, err := rdb.ZAdd(ctx, "z", goredis.Z{Score: 1.5, Member: "m"}).Result(); err != nil || f != 1 {
			t.Fatalf("RESP%d ZADD: %v %v", proto, f, err)
		}
		if s, err := rdb.ZScore(ctx, "z", "m").Result(); err != nil || s != 1.5 {
			t.Fatalf("RESP%d ZSCORE: %v %v", proto, s, err)
		}
		cmds, err := rdb.Pipelined(ctx, func(pl goredis.Pipeliner) error {
			for i := 0; i < 100; i++ {
				pl.Incr(ctx, "ctr")
			}
			return nil
		})
		if err != nil || cmds[99].(*goredis.IntCmd).Val() != 100 {
			t.Fatalf("RESP%d pipeline: %v", proto, err)
		}
		// WATCH/MULTI/EXEC with a conflicting write from another client.
		other := goredis.NewClient(&goredis.Options{Addr: p.Addr, Protocol: proto, DB: 3})
		defer other.Close()
		err = rdb.Watch(ctx, func(tx *goredis.Tx) error {
			other.Set(ctx, "w", "changed", 0)
			_, err := tx.TxPipelined(ctx, func(pl goredis.Pipeliner) error {
				pl.Set(ctx, "w", "mine", 0)
				return nil
			})
			return err
		}, "w")
		if !errors.Is(err, goredis.TxFailedErr) {
			t.Fatalf("RESP%d WATCH conflict: %v", proto, err)
		}
		if v := rdb.Get(ctx, "w").Val(); v != "changed" {
			t.Fatalf("RESP%d after aborted tx: %q", proto, v)
		}
		// Pub/sub.
		sub := rdb.Subscribe(ctx, "news")
		if _, err := sub.Receive(ctx); err != nil {
			t.Fatalf("RESP%d SUBSCRIBE: %v", proto, err)
		}
		if err := other.Publish(ctx, "news", "hello").Err(); err != nil {
			t.Fatal(err)
		}
		msg, err := sub.ReceiveMessage(ctx)
		if err != nil || msg.Payload != "hello" {
			t.Fatalf("RESP%d message: %v %v", proto, msg, err)
		}
		sub.Close()
		// Blocking pop woken by another client.
		done := make(chan []string, 1)
		go func() { v, _ := rdb.BLPop(ctx, 5*time.Second, "queue").Result(); done <- v }()
		redistest.Eventually(t, 5*time.Second, func() bool {
			return strings.Contains(direct.DoString("CLIENT", "LIST"), "cmd=blpop")
		}, "BLPOP blocked")
		other.RPush(ctx, "queue", "job")
		if v := <-done; len(v) != 2 || v[1] != "job" {
			t.Fatalf("RESP%d BLPOP: %v", proto, v)
		}
		rdb.FlushDB(ctx)
	}
}
