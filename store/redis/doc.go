// Package redis is respcache's upstream: one or more redis-server processes
// (standalone, Sentinel-managed or a Cluster) reached over RESP.
//
// # Data plane: lanes and pinned connections
//
// Requests are relayed as raw RESP and replies come back as the exact bytes
// the server sent, framed by resp.ScanReply. That is what keeps respcache
// byte-faithful: go-redis decodes replies into Go values and cannot tell a
// status reply from a bulk string, nor keep RESP3 attributes, so it is not
// on the data path.
//
// Stateless commands travel on lanes: a few connections per (node, db, RESP
// version) shared by all clients, as twemproxy does. Submit appends a
// request to the lane's write buffer and its reply slot to a FIFO; whoever
// calls Flush first writes everything buffered by all clients in one
// syscall, and the lane's reader goroutine pops one slot per reply frame.
// A client always uses the same lane of a node (chosen by its session
// number), so its own commands reach the server in the order it sent them.
// Coalescing the writes of many clients is what lets the proxy cost the
// server fewer syscalls per command than direct clients do.
//
// Commands that leave state on the server connection (MULTI, WATCH, the
// subscribe family, CLIENT TRACKING/REPLY, blocking commands) run on a
// pinned connection that belongs to one client while the state lasts. At
// most Config.MaxPinned exist at once; beyond that Pin fails with
// ErrTooManyPinned instead of exhausting the server's connections. Pinned
// I/O takes a context; cancelling it (the client went away) unblocks the
// call by expiring the connection's deadline, and the connection is closed.
//
// # Topology: go-redis on the control plane
//
// github.com/redis/go-redis/v9 does what it is good at: Sentinel discovery
// (SentinelClient.GetMasterAddrByName and the +switch-master channel) and
// cluster slot maps (ClusterSlots). Lanes follow the master on failover
// (their connections are dropped and redialled to the new address, whose
// ROLE is checked). In a Cluster, requests are routed by hash slot; a -MOVED
// reply updates the slot map and the request is resent to the named node,
// -ASK resends it there after ASKING in the same write, both inside
// respcache, up to five redirects.
//
// # Failures
//
// A lane whose connection fails replies ErrUnavailable (wrapping the cause)
// to every request waiting on it and redials on demand with a backoff
// (50ms doubling to 1s): requests arriving during the backoff fail at once,
// so an outage costs clients a fast error, not a hang. The first request
// after the backoff redials; respcache therefore starts without its
// upstream and recovers by itself. A lane whose oldest request has had no
// reply for ReadTimeout is considered dead only if the server also answers
// nothing to a PING on a fresh connection within 6 seconds (redis-server
// stays silent while a script runs until its 5s busy-reply threshold, then
// answers BUSY): a slow command is waited for, a hung server is detected
// within ReadTimeout + 6s. The lane's other clients wait behind the slow
// command, as they would on the server itself.
//
// Lock order: Client.mu before node.mu before lane.mu; lane.mu is never held
// across I/O.
package redis
