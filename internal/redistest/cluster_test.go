package redistest

import (
	"strconv"
	"strings"
	"testing"
)

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 6 servers")
	}
	c := StartCluster(t, 3, 1)
	if len(c.Addrs()) != 6 || len(c.MasterAddrs()) != 3 || len(c.ReplicaAddrs()) != 3 {
		t.Fatalf("addrs: %v / %v", c.Addrs(), c.MasterAddrs())
	}
	key := "user:{42}"
	slot := c.KeySlot(key)
	owner := c.SlotOwner(slot)
	conn := Dial(t, owner)
	if got := conn.DoString("SET", key, "v"); got != "+OK\r\n" {
		t.Fatalf("SET on owner: %q", got)
	}
	var other string
	for _, a := range c.MasterAddrs() {
		if a != owner {
			other = a
			break
		}
	}
	oc := Dial(t, other)
	want := "-MOVED " + strconv.Itoa(slot) + " " + owner + "\r\n"
	if got := oc.DoString("GET", key); got != want {
		t.Fatalf("GET on non-owner: %q, want %q", got, want)
	}

	// Halfway through a migration, a key already moved gets ASK from the source.
	m := c.BeginMigration(slot, other)
	m.MoveKeys(key)
	want = "-ASK " + strconv.Itoa(slot) + " " + other + "\r\n"
	if got := conn.DoString("GET", key); got != want {
		t.Fatalf("GET on source during migration: %q, want %q", got, want)
	}
	if got := oc.DoString("GET", key); !strings.HasPrefix(got, "-MOVED") {
		t.Fatalf("GET on destination without ASKING: %q", got)
	}
	oc.Do("ASKING")
	if got := oc.DoString("GET", key); got != "$1\r\nv\r\n" {
		t.Fatalf("GET on destination after ASKING: %q", got)
	}
	m.Finish()
	if got := c.SlotOwner(slot); got != other {
		t.Fatalf("slot %d owner after migration: %s, want %s", slot, got, other)
	}
	want = "-MOVED " + strconv.Itoa(slot) + " " + other + "\r\n"
	if got := conn.DoString("GET", key); got != want {
		t.Fatalf("GET on old owner: %q, want %q", got, want)
	}
	// And back, in one call.
	c.MigrateSlot(slot, owner)
	if got := conn.DoString("GET", key); got != "$1\r\nv\r\n" {
		t.Fatalf("GET after migrating back: %q", got)
	}
}
