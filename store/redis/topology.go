package redis

import (
	"context"
	"fmt"
	"net"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// resolveMaster asks the sentinels, in order, for the master's address and
// points the master node at it. When the address changes, every lane and
// idle pinned connection to the old one is dropped.
func (c *Client) resolveMaster(ctx context.Context) error {
	var lastErr error
	for _, s := range c.sentinel {
		cctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
		hp, err := s.GetMasterAddrByName(cctx, c.cfg.MasterName).Result()
		cancel()
		if err != nil || len(hp) != 2 {
			lastErr = err
			continue
		}
		c.setMaster(net.JoinHostPort(hp[0], hp[1]))
		return nil
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("no sentinel knows master %q", c.cfg.MasterName)
	}
	return lastErr
}

func (c *Client) setMaster(addr string) {
	old := c.master.Addr()
	if old == addr {
		return
	}
	c.master.addr.Store(&addr)
	if old != "" {
		c.cfg.Logger.Info("sentinel: master switched", "from", old, "to", addr)
		c.master.closeLanes(fmt.Errorf("%w: master switched from %s to %s", ErrUnavailable, old, addr))
	}
}

// watchSentinel follows failovers: it listens for +switch-master on one
// sentinel and, as a backstop for a lost subscription, asks again every
// second.
func (c *Client) watchSentinel() {
	defer c.wg.Done()
	var sub *goredis.PubSub
	var msgs <-chan *goredis.Message
	subscribe := func() {
		for _, s := range c.sentinel {
			ps := s.Subscribe(c.ctx, "+switch-master")
			if _, err := ps.Receive(c.ctx); err != nil {
				ps.Close()
				continue
			}
			sub, msgs = ps, ps.Channel()
			return
		}
	}
	defer func() {
		if sub != nil {
			sub.Close()
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if sub == nil {
			subscribe()
		}
		select {
		case <-c.ctx.Done():
			return
		case m, ok := <-msgs:
			if !ok {
				sub.Close()
				sub, msgs = nil, nil
				continue
			}
			// "<name> <old-ip> <old-port> <new-ip> <new-port>"
			var name, oip, oport, nip, nport string
			if _, err := fmt.Sscan(m.Payload, &name, &oip, &oport, &nip, &nport); err == nil && name == c.cfg.MasterName {
				c.setMaster(net.JoinHostPort(nip, nport))
			}
		case <-tick.C:
			if err := c.resolveMaster(c.ctx); err != nil {
				c.cfg.Logger.Debug("sentinel: cannot resolve master", "err", err)
			}
		}
	}
}

// askRefresh asks the cluster watcher for a new slot map (coalesced).
func (c *Client) askRefresh() {
	if c.cfg.Topology != Cluster {
		return
	}
	select {
	case c.refresh <- struct{}{}:
	default:
	}
}

// setSlot records that n serves slot (learned from -MOVED).
func (c *Client) setSlot(slot int, n *Node) {
	if slot < 0 || slot >= 16384 {
		return
	}
	c.mu.Lock()
	if c.slots != nil {
		c.slots[slot] = n
	}
	c.mu.Unlock()
}

// watchCluster keeps the slot map: on demand (a redirect, a failed dial)
// at most every 100ms, and every 10s regardless.
func (c *Client) watchCluster() {
	defer c.wg.Done()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		if err := c.refreshSlots(); err != nil {
			c.cfg.Logger.Warn("cluster: cannot read the slot map", "err", err)
		}
		select {
		case <-c.ctx.Done():
			return
		case <-tick.C:
		case <-c.refresh:
		}
		select { // rate limit
		case <-c.ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// refreshSlots reads CLUSTER SLOTS from the known nodes, seeds first.
func (c *Client) refreshSlots() error {
	c.mu.RLock()
	addrs := append([]string(nil), c.cfg.Addrs...)
	for a := range c.nodes {
		addrs = append(addrs, a)
	}
	c.mu.RUnlock()
	var lastErr error
	for _, a := range addrs {
		cl := goredis.NewClient(&goredis.Options{
			Addr: a, Username: c.cfg.Username, Password: c.cfg.Password, TLSConfig: c.cfg.TLS,
			DialTimeout: c.cfg.DialTimeout, ReadTimeout: c.cfg.ReadTimeout, WriteTimeout: c.cfg.WriteTimeout,
			MaxRetries: -1, PoolSize: 1, Protocol: 2,
		})
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.DialTimeout)
		// CLUSTER SHARDS replaces SLOTS only from Redis 7.0; SLOTS works on
		// every cluster version respcache may front.
		//lint:ignore SA1019 CLUSTER SHARDS needs Redis 7; SLOTS works on older clusters too.
		slots, err := cl.ClusterSlots(ctx).Result()
		cancel()
		cl.Close()
		if err != nil || len(slots) == 0 {
			if err == nil {
				err = fmt.Errorf("%s serves no slots", a)
			}
			lastErr = err
			continue
		}
		var table [16384]*Node
		c.mu.Lock()
		for _, s := range slots {
			if len(s.Nodes) == 0 {
				continue
			}
			n := c.nodeLocked(s.Nodes[0].Addr)
			for i := s.Start; i <= s.End && i < 16384; i++ {
				table[i] = n
			}
		}
		c.slots = &table
		c.mu.Unlock()
		return nil
	}
	return lastErr
}
