package cache

import (
	"fmt"
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	c, clk := newTestCache(t, Config{MaxMemory: 4 << 20})
	if err := c.Set(0, []byte("a"), []byte("1"), 1, 0); err != nil {
		t.Fatal(err)
	}
	v, typ, ttl, ok := c.Get(0, []byte("a"))
	if !ok || string(v) != "1" || typ != 1 || ttl != 0 {
		t.Fatalf("got %q %d %v %v", v, typ, ttl, ok)
	}
	c.Set(0, []byte("b"), []byte("2"), 0, 10*time.Millisecond)
	clk.Advance(9 * time.Millisecond)
	if _, _, ttl, ok := c.Get(0, []byte("b")); !ok || ttl != time.Millisecond {
		t.Fatalf("b: %v %v", ttl, ok)
	}
	clk.Advance(time.Millisecond)
	if _, _, _, ok := c.Get(0, []byte("b")); ok {
		t.Fatal("expired b returned")
	}
	for i := 0; i < 100000; i++ {
		k := fmt.Sprintf("key-%d", i)
		if err := c.Set(i%3, []byte(k), make([]byte, i%200), 0, 0); err != nil {
			t.Fatal(i, err)
		}
		if i%10000 == 0 {
			checkInvariants(t, c)
		}
	}
	checkInvariants(t, c)
	st := c.Stats()
	t.Logf("%+v", st)
	if n := c.ExpireNow(); n != 1 && st.Evictions == 0 {
		t.Fatalf("expired %d", n)
	}
}
