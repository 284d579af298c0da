package redistest

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SentinelMaster is the master name the Sentinel setup monitors.
const SentinelMaster = "mymaster"

// SentinelTimeout bounds each wait on the Sentinel setup (discovery,
// failover). Sentinels discover each other through hello messages every 2s
// and a demoted master is reconfigured after about 8s, hence the margin.
const SentinelTimeout = 60 * time.Second

// Sentinel is a master, one replica and three redis-sentinel processes
// monitoring them as "mymaster" with quorum 2, down-after-milliseconds 500
// and failover-timeout 5000. Stopped by t.Cleanup.
type Sentinel struct {
	t         testing.TB
	servers   []*Server // master and replica at start; roles change on failover
	sentinels []*Server
}

// StartSentinel starts the setup and waits until every sentinel knows the
// replica and the two other sentinels, so that a failover can be agreed on.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	requireBinary(t, "redis-sentinel")
	master := Start(t)
	replica := Start(t, WithArgs("--replicaof", "127.0.0.1", strconv.Itoa(master.Port())))
	s := &Sentinel{t: t, servers: []*Server{master, replica}}
	s.waitFor("the replica to sync", func() error { return replicaLinkUp(replica.Addr(), master.Addr()) })
	conf := []string{
		fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 2", SentinelMaster, master.Port()),
		"sentinel down-after-milliseconds " + SentinelMaster + " 500",
		"sentinel failover-timeout " + SentinelMaster + " 5000",
		"sentinel parallel-syncs " + SentinelMaster + " 1",
	}
	for i := 0; i < 3; i++ {
		s.sentinels = append(s.sentinels, startServer(t, serverConfig{sentinel: conf}))
	}
	s.waitFor("sentinels to discover the replica and each other", s.discovered)
	return s
}

// SentinelAddrs returns the sentinels' addresses.
func (s *Sentinel) SentinelAddrs() []string { return addrs(s.sentinels) }

// Sentinels returns the sentinel processes (to Kill, Pause, Restart them).
func (s *Sentinel) Sentinels() []*Server { return append([]*Server(nil), s.sentinels...) }

// Servers returns the two data nodes, the initial master first.
func (s *Sentinel) Servers() []*Server { return append([]*Server(nil), s.servers...) }

// MasterAddr asks the sentinels (the first that answers) for the current
// master's address.
func (s *Sentinel) MasterAddr() string {
	s.t.Helper()
	addr, err := s.masterAddr()
	if err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
	return addr
}

// Master returns the process at MasterAddr.
func (s *Sentinel) Master() *Server {
	s.t.Helper()
	return s.server(s.MasterAddr())
}

func (s *Sentinel) server(addr string) *Server {
	s.t.Helper()
	for _, srv := range s.servers {
		if srv.Addr() == addr {
			return srv
		}
	}
	s.t.Fatalf("redistest: %s is not one of the Sentinel setup's servers", addr)
	return nil
}

func (s *Sentinel) masterAddr() (string, error) {
	var lastErr error
	for _, sn := range s.sentinels {
		if !sn.Running() {
			continue
		}
		v, err := doValue(sn.Addr(), "", "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SentinelMaster)
		if err != nil {
			lastErr = err
			continue
		}
		hp, ok := v.([]any)
		if !ok || len(hp) != 2 {
			lastErr = fmt.Errorf("sentinel %s: GET-MASTER-ADDR-BY-NAME: %#v", sn.Addr(), v)
			continue
		}
		return net.JoinHostPort(hp[0].(string), hp[1].(string)), nil
	}
	return "", fmt.Errorf("no sentinel told the master address (last error: %v)", lastErr)
}

// Failover asks a sentinel to fail over (SENTINEL FAILOVER mymaster),
// retrying while the sentinels are not ready for it (no good replica yet,
// failover in progress), and waits until every running sentinel reports the
// new master and that server says role:master. It returns the new master's
// address.
func (s *Sentinel) Failover() string {
	s.t.Helper()
	old := s.MasterAddr()
	s.waitFor("SENTINEL FAILOVER to be accepted", func() error {
		var lastErr error
		for _, sn := range s.sentinels {
			if !sn.Running() {
				continue
			}
			r, err := do(sn.Addr(), "", DefaultReadTimeout, "SENTINEL", "FAILOVER", SentinelMaster)
			if err == nil && string(r) == "+OK\r\n" {
				return nil
			}
			lastErr = fmt.Errorf("%s: %q %v", sn.Addr(), r, err)
		}
		return lastErr
	})
	return s.WaitMasterChange(old)
}

// KillMaster SIGKILLs the current master and returns it (Restart brings it
// back as the same address; Sentinel then turns it into a replica). Use
// WaitMasterChange to wait for the automatic failover.
func (s *Sentinel) KillMaster() *Server {
	s.t.Helper()
	m := s.Master()
	m.Kill()
	return m
}

// WaitMasterChange waits until every running sentinel reports a master other
// than old and that server reports role:master, and returns its address.
func (s *Sentinel) WaitMasterChange(old string) string {
	s.t.Helper()
	var addr string
	s.waitFor("a new master other than "+old, func() error {
		addr = ""
		for _, sn := range s.sentinels {
			if !sn.Running() {
				continue
			}
			v, err := doValue(sn.Addr(), "", "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SentinelMaster)
			if err != nil {
				return err
			}
			hp := v.([]any)
			a := net.JoinHostPort(hp[0].(string), hp[1].(string))
			if a == old {
				return fmt.Errorf("sentinel %s still reports %s", sn.Addr(), old)
			}
			if addr != "" && a != addr {
				return fmt.Errorf("sentinels disagree: %s vs %s", addr, a)
			}
			addr = a
		}
		role, err := doStringValue(addr, "", "INFO", "replication")
		if err != nil {
			return err
		}
		if !strings.Contains(role, "role:master") {
			return fmt.Errorf("%s not promoted yet", addr)
		}
		return nil
	})
	return addr
}

func (s *Sentinel) discovered() error {
	for _, sn := range s.sentinels {
		for _, q := range []struct {
			sub  string
			want int
		}{{"REPLICAS", 1}, {"SENTINELS", 2}} {
			v, err := doValue(sn.Addr(), "", "SENTINEL", q.sub, SentinelMaster)
			if err != nil {
				return err
			}
			if l, _ := v.([]any); len(l) != q.want {
				return fmt.Errorf("sentinel %s: SENTINEL %s lists %d, want %d", sn.Addr(), q.sub, len(l), q.want)
			}
		}
	}
	return nil
}

func (s *Sentinel) waitFor(what string, check func() error) {
	s.t.Helper()
	var last error
	if err := poll(SentinelTimeout, func() bool { last = check(); return last == nil }); err != nil {
		s.t.Fatalf("redistest: waiting for %s: %v; last: %v", what, err, last)
	}
}

func replicaLinkUp(replica, master string) error {
	info, err := doStringValue(replica, "", "INFO", "replication")
	if err != nil {
		return err
	}
	_, port := splitAddr(master)
	if !strings.Contains(info, "master_port:"+port+"\r\n") || !strings.Contains(info, "master_link_status:up") {
		return fmt.Errorf("replica %s not in sync with %s", replica, master)
	}
	return nil
}
