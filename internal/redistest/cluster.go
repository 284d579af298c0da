package redistest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ClusterTimeout bounds each wait for the cluster to converge.
const ClusterTimeout = 30 * time.Second

// Cluster is a Redis Cluster of real redis-server processes on 127.0.0.1,
// each with cluster-enabled yes, a node timeout of 2s and its own bus port.
// Masters own equal contiguous slot ranges in order (master 0 owns slot 0).
// Stopped by t.Cleanup.
type Cluster struct {
	t        testing.TB
	masters  []*Server
	replicas []*Server         // replicas[i*perMaster+j] replicates masters[i]
	ids      map[string]string // addr -> node id
}

// StartCluster starts masters*(1+replicasPerMaster) nodes, assigns the 16384
// slots to the masters, introduces the nodes with CLUSTER MEET, attaches the
// replicas, and waits until every node reports cluster_state:ok, every node
// has the same slot map, and every replica's link to its master is up.
func StartCluster(t testing.TB, masters, replicasPerMaster int) *Cluster {
	t.Helper()
	if masters < 1 || replicasPerMaster < 0 {
		t.Fatalf("redistest: StartCluster(%d, %d): need at least one master", masters, replicasPerMaster)
	}
	c := &Cluster{t: t, ids: map[string]string{}}
	for i := 0; i < masters; i++ {
		c.masters = append(c.masters, startServer(t, serverConfig{cluster: true}))
	}
	for i := 0; i < masters*replicasPerMaster; i++ {
		c.replicas = append(c.replicas, startServer(t, serverConfig{cluster: true}))
	}
	all := c.Nodes()
	for _, s := range all {
		id, err := doStringValue(s.Addr(), "", "CLUSTER", "MYID")
		if err != nil {
			t.Fatalf("redistest: CLUSTER MYID on %s: %v", s.Addr(), err)
		}
		c.ids[s.Addr()] = id
	}
	for i, m := range c.masters {
		lo, hi := i*16384/masters, (i+1)*16384/masters-1
		c.must(m.Addr(), "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi))
	}
	for _, s := range all[1:] {
		c.must(all[0].Addr(), "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(s.port), strconv.Itoa(s.bus))
	}
	c.waitFor("every node to know every other node", func() error {
		for _, s := range all {
			nodes, err := clusterNodes(s.Addr())
			if err != nil {
				return err
			}
			if len(nodes) != len(all) {
				return fmt.Errorf("%s knows %d of %d nodes", s.Addr(), len(nodes), len(all))
			}
			for _, n := range nodes {
				if strings.Contains(n.flags, "handshake") || strings.Contains(n.flags, "noaddr") {
					return fmt.Errorf("%s sees %s as %s", s.Addr(), n.addr, n.flags)
				}
			}
		}
		return nil
	})
	for i, r := range c.replicas {
		m := c.masters[i/replicasPerMaster]
		c.must(r.Addr(), "CLUSTER", "REPLICATE", c.ids[m.Addr()])
	}
	c.WaitConverged()
	return c
}

// Nodes returns every node, masters first, in start order.
func (c *Cluster) Nodes() []*Server {
	return append(append([]*Server(nil), c.masters...), c.replicas...)
}

// Masters returns the nodes started as masters; Masters()[i] initially owns
// the i-th range of slots.
func (c *Cluster) Masters() []*Server { return append([]*Server(nil), c.masters...) }

// Addrs returns the address of every node, masters first.
func (c *Cluster) Addrs() []string { return addrs(c.Nodes()) }

// MasterAddrs returns the addresses of the nodes started as masters.
func (c *Cluster) MasterAddrs() []string { return addrs(c.masters) }

// ReplicaAddrs returns the addresses of the nodes started as replicas.
func (c *Cluster) ReplicaAddrs() []string { return addrs(c.replicas) }

// NodeID returns the cluster node id of the node at addr.
func (c *Cluster) NodeID(addr string) string { return c.ids[addr] }

// KeySlot asks the cluster which hash slot key maps to.
func (c *Cluster) KeySlot(key string) int {
	c.t.Helper()
	v, err := doValue(c.masters[0].Addr(), "", "CLUSTER", "KEYSLOT", key)
	if err != nil {
		c.t.Fatalf("redistest: CLUSTER KEYSLOT %q: %v", key, err)
	}
	return int(v.(int64))
}

// SlotOwner returns the address of the master that serves slot, as the
// first running node sees it.
func (c *Cluster) SlotOwner(slot int) string {
	c.t.Helper()
	var nodes clusterNodeList
	var err error
	for _, s := range c.Nodes() {
		if !s.Running() {
			continue
		}
		if nodes, err = clusterNodes(s.Addr()); err == nil {
			break
		}
	}
	if nodes == nil {
		c.t.Fatalf("redistest: CLUSTER NODES: no running node answered (last error: %v)", err)
	}
	for _, n := range nodes {
		if n.owns(slot) {
			return n.addr
		}
	}
	c.t.Fatalf("redistest: no node owns slot %d", slot)
	return ""
}

// WaitConverged waits until every node reports cluster_state:ok, all nodes
// agree on who serves each slot and on who replicates whom, and every
// replica's replication link is up.
func (c *Cluster) WaitConverged() {
	c.t.Helper()
	c.waitFor("the cluster to converge", func() error {
		var want string
		for _, s := range c.Nodes() {
			info, err := doStringValue(s.Addr(), "", "CLUSTER", "INFO")
			if err != nil {
				return err
			}
			if !strings.Contains(info, "cluster_state:ok") {
				return fmt.Errorf("%s: cluster_state is not ok", s.Addr())
			}
			nodes, err := clusterNodes(s.Addr())
			if err != nil {
				return err
			}
			got := slotMapSignature(nodes)
			if want == "" {
				want = got
			} else if got != want {
				return fmt.Errorf("%s sees slot map\n%s\nfirst node sees\n%s", s.Addr(), got, want)
			}
			for _, n := range nodes {
				if strings.Contains(n.flags, "fail") {
					return fmt.Errorf("%s sees %s as %s", s.Addr(), n.addr, n.flags)
				}
			}
			self := nodes.self()
			if self != nil && strings.Contains(self.flags, "slave") {
				repl, err := doStringValue(s.Addr(), "", "INFO", "replication")
				if err != nil {
					return err
				}
				if !strings.Contains(repl, "master_link_status:up") {
					return fmt.Errorf("replica %s: master link not up", s.Addr())
				}
			}
		}
		return nil
	})
}

// MigrateSlot moves slot and all its keys from its current owner to the
// master at toAddr, the way redis-cli --cluster reshard does, and waits for
// the cluster to converge.
func (c *Cluster) MigrateSlot(slot int, toAddr string) {
	c.t.Helper()
	m := c.BeginMigration(slot, toAddr)
	m.MoveAll()
	m.Finish()
}

// Migration is a slot caught between two masters: the source answers ASK for
// keys it no longer holds, the destination accepts them only after ASKING.
// Tests use it to exercise ASK redirections; Finish completes it.
type Migration struct {
	c        *Cluster
	Slot     int
	From, To string // node addresses
}

// BeginMigration marks slot IMPORTING on toAddr and MIGRATING on its current
// owner, moving no keys yet.
func (c *Cluster) BeginMigration(slot int, toAddr string) *Migration {
	c.t.Helper()
	from := c.SlotOwner(slot)
	if from == toAddr {
		c.t.Fatalf("redistest: slot %d is already served by %s", slot, toAddr)
	}
	s := strconv.Itoa(slot)
	c.must(toAddr, "CLUSTER", "SETSLOT", s, "IMPORTING", c.ids[from])
	c.must(from, "CLUSTER", "SETSLOT", s, "MIGRATING", c.ids[toAddr])
	return &Migration{c: c, Slot: slot, From: from, To: toAddr}
}

// MoveKeys migrates the named keys (all in the slot) to the destination.
func (m *Migration) MoveKeys(keys ...string) {
	m.c.t.Helper()
	if len(keys) == 0 {
		return
	}
	host, port := splitAddr(m.To)
	args := append([]string{"MIGRATE", host, port, "", "0", "5000", "KEYS"}, keys...)
	r, err := do(m.From, "", DefaultReadTimeout, args...)
	if err != nil || (string(r) != "+OK\r\n" && string(r) != "+NOKEY\r\n") {
		m.c.t.Fatalf("redistest: MIGRATE %v from %s: %q %v", keys, m.From, r, err)
	}
}

// MoveAll migrates every key of the slot to the destination.
func (m *Migration) MoveAll() {
	m.c.t.Helper()
	for {
		v, err := doValue(m.From, "", "CLUSTER", "GETKEYSINSLOT", strconv.Itoa(m.Slot), "100")
		if err != nil {
			m.c.t.Fatalf("redistest: CLUSTER GETKEYSINSLOT on %s: %v", m.From, err)
		}
		list := v.([]any)
		if len(list) == 0 {
			return
		}
		keys := make([]string, len(list))
		for i, k := range list {
			keys[i] = k.(string)
		}
		m.MoveKeys(keys...)
	}
}

// Finish assigns the slot to the destination on every master (destination
// first, so that it bumps its config epoch) and waits for the cluster to
// converge. Keys still on the source are left behind, so call MoveAll first.
func (m *Migration) Finish() {
	m.c.t.Helper()
	s := strconv.Itoa(m.Slot)
	m.c.must(m.To, "CLUSTER", "SETSLOT", s, "NODE", m.c.ids[m.To])
	m.c.must(m.From, "CLUSTER", "SETSLOT", s, "NODE", m.c.ids[m.To])
	for _, addr := range m.c.MasterAddrs() {
		if addr != m.To && addr != m.From {
			m.c.must(addr, "CLUSTER", "SETSLOT", s, "NODE", m.c.ids[m.To])
		}
	}
	m.c.WaitConverged()
}

func (c *Cluster) must(addr string, args ...string) {
	c.t.Helper()
	r, err := do(addr, "", DefaultReadTimeout, args...)
	if err != nil || string(r) != "+OK\r\n" {
		c.t.Fatalf("redistest: %s on %s: %q %v", quoteArgs(args), addr, r, err)
	}
}

func (c *Cluster) waitFor(what string, check func() error) {
	c.t.Helper()
	var last error
	if err := poll(ClusterTimeout, func() bool { last = check(); return last == nil }); err != nil {
		c.t.Fatalf("redistest: waiting for %s: %v; last: %v", what, err, last)
	}
}

type clusterNode struct {
	id, addr, flags, master string
	slots                   []string // "0-5460" or "42"; [..] migration markers dropped
}

func (n clusterNode) owns(slot int) bool {
	for _, r := range n.slots {
		lo, hi, _ := strings.Cut(r, "-")
		l, _ := strconv.Atoi(lo)
		h := l
		if hi != "" {
			h, _ = strconv.Atoi(hi)
		}
		if slot >= l && slot <= h {
			return true
		}
	}
	return false
}

type clusterNodeList []clusterNode

func (l clusterNodeList) self() *clusterNode {
	for i := range l {
		if strings.Contains(l[i].flags, "myself") {
			return &l[i]
		}
	}
	return nil
}

func clusterNodes(addr string) (clusterNodeList, error) {
	s, err := doStringValue(addr, "", "CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	var out clusterNodeList
	for _, line := range strings.Split(strings.TrimSpace(s), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("bad CLUSTER NODES line %q", line)
		}
		a, _, _ := strings.Cut(f[1], "@")
		n := clusterNode{id: f[0], addr: a, flags: f[2], master: f[3]}
		for _, sl := range f[8:] {
			if !strings.HasPrefix(sl, "[") {
				n.slots = append(n.slots, sl)
			}
		}
		out = append(out, n)
	}
	return out, nil
}

// slotMapSignature renders who serves which slots and who replicates whom,
// independent of the viewing node, so that views can be compared.
func slotMapSignature(nodes clusterNodeList) string {
	var lines []string
	for _, n := range nodes {
		role := "master"
		if strings.Contains(n.flags, "slave") {
			role = "replica-of " + n.master
		}
		lines = append(lines, n.id+" "+role+" "+strings.Join(n.slots, ","))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func splitAddr(addr string) (host, port string) {
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}

func addrs(ss []*Server) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Addr()
	}
	return out
}
