package redistest

import "testing"

func TestSentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 5 processes and fails over twice")
	}
	s := StartSentinel(t)
	if n := len(s.SentinelAddrs()); n != 3 {
		t.Fatalf("%d sentinels", n)
	}
	first := s.MasterAddr()
	Dial(t, first).Do("SET", "k", "v")

	second := s.Failover()
	if second == first {
		t.Fatalf("Failover kept master %s", first)
	}
	c := Dial(t, second)
	if got := c.DoString("GET", "k"); got != "$1\r\nv\r\n" {
		t.Fatalf("GET on promoted replica: %q", got)
	}
	if got := c.DoString("SET", "k2", "v"); got != "+OK\r\n" {
		t.Fatalf("SET on promoted replica: %q", got)
	}

	// Crash the new master: the sentinels must promote the old one, which
	// they turned into a replica after the manual failover.
	s.KillMaster()
	third := s.WaitMasterChange(second)
	if third != first {
		t.Fatalf("after killing %s the master is %s, want %s", second, third, first)
	}
}
