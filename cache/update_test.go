package cache

import (
	"testing"
	"time"
)

func newGuardCache(t *testing.T) *Cache {
	t.Helper()
	c, err := New(Config{MaxMemory: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestGuardedWrites(t *testing.T) {
	k := []byte("k")
	has := func(c *Cache, want string) bool {
		v, _, _, ok := c.Get(0, k)
		return ok && string(v) == want || !ok && want == ""
	}
	t.Run("stores when alone", func(t *testing.T) {
		c := newGuardCache(t)
		v := c.BeginWrite(0, k)
		if !c.CommitWrite(0, k, v, []byte("a"), 1, 0, true) || !has(c, "a") {
			t.Fatal("not stored")
		}
	})
	t.Run("overlapping writes both drop", func(t *testing.T) {
		c := newGuardCache(t)
		c.Set(0, k, []byte("old"), 1, 0)
		v1 := c.BeginWrite(0, k)
		v2 := c.BeginWrite(0, k)
		if c.CommitWrite(0, k, v1, []byte("a"), 1, 0, true) {
			t.Error("stored while another write of the key was in flight")
		}
		if c.CommitWrite(0, k, v2, []byte("b"), 1, 0, true) {
			t.Error("stored after the key changed (the first commit dropped it)")
		}
		if !has(c, "") {
			t.Error("old value still served")
		}
	})
	t.Run("no hits while in flight", func(t *testing.T) {
		c := newGuardCache(t)
		c.Set(0, k, []byte("old"), 1, 0)
		v := c.BeginWrite(0, k)
		if _, _, _, ok := c.GetIntoQuiet(nil, 0, k); ok {
			t.Error("GetIntoQuiet hit while a write was in flight")
		}
		if _, _, _, ok := c.GetInto(nil, 0, k); !ok {
			t.Error("GetInto should still see the item")
		}
		c.CommitWrite(0, k, v, []byte("new"), 1, 0, true)
		if v, _, _, ok := c.GetIntoQuiet(nil, 0, k); !ok || string(v) != "new" {
			t.Errorf("after the commit: %q %v", v, ok)
		}
	})
	t.Run("invalidation between begin and commit", func(t *testing.T) {
		c := newGuardCache(t)
		v := c.BeginWrite(0, k)
		c.Invalidate(0, k)
		if c.CommitWrite(0, k, v, []byte("a"), 1, 0, true) || !has(c, "") {
			t.Error("stored a value an invalidation overtook")
		}
	})
	t.Run("fill not stored while a write is in flight", func(t *testing.T) {
		c := newGuardCache(t)
		f := c.StartFill(0, k)
		v := c.BeginWrite(0, k)
		f.Finish([]byte("filled"), 1, time.Minute, true, true, nil)
		if !has(c, "") {
			t.Error("a fill was stored while a write of its key was in flight")
		}
		c.CommitWrite(0, k, v, nil, 0, 0, false)
		g := c.StartFill(0, k)
		g.Finish([]byte("filled"), 1, time.Minute, true, true, nil)
		if !has(c, "filled") {
			t.Error("a fill after the write was not stored")
		}
	})
	t.Run("waiter of a raced fill reads the backend", func(t *testing.T) {
		c := newGuardCache(t)
		lead := c.StartFill(0, k)
		wait := c.StartFill(0, k)
		if wait.Leader() {
			t.Fatal("second StartFill led")
		}
		c.Delete(0, k)
		lead.Finish([]byte("v"), 1, 0, true, true, nil)
		if _, _, _, _, err := wait.Wait(t.Context()); err != ErrFillRaced {
			t.Errorf("waiter got %v, want ErrFillRaced", err)
		}
	})
}
