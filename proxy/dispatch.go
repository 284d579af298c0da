package proxy

import (
	"errors"
	"strconv"
	"strings"

	"github.com/respcache/respcache/resp"
	"github.com/respcache/respcache/store/redis"
)

// dispatch executes one command of a batch into its slot. The checks come
// in redis-server's order: unknown command, arity, authentication, ACL.
func (s *session) dispatch(cmd *resp.Command, sl *slot) {
	args := cmd.Args
	c := lookupCommand(args)
	if s.srv.ins.on {
		sl.cmd = c
		s.startSpan(sl, c)
	}
	switch s.replyMode {
	case replyOff:
		sl.noReply = true
	case replySkip:
		sl.noReply = true
		s.replyMode = replyOn
	}
	if !s.authed {
		// Unauthenticated commands never reach the upstream, so their
		// errors are written here with redis-server's texts.
		if c == nil {
			sl.errorf(unknownCommand(args))
			return
		}
		if len(c.Subcommands) > 0 && len(args) >= 2 && !strings.Contains(c.Name, "|") {
			sl.errorf(unknownSubcommand(c, args[1]))
			return
		}
		if !c.arityOK(len(args)) {
			sl.errorf(wrongArity(c))
			return
		}
		if !c.Has(FlagNoAuth) {
			sl.raw("-NOAUTH Authentication required.\r\n")
			return
		}
	}
	if c != nil && len(s.srv.deny) > 0 && (s.srv.deny[c.Name] || s.srv.deny[parentName(c.Name)]) {
		sl.errorf("NOPERM this user has no permissions to run the '" + c.Name + "' command")
		return
	}
	if s.dconn != nil {
		s.dispatchStore(cmd, c, sl)
		return
	}
	switch {
	case s.pubsub:
		s.dispatchPubsub(cmd, c, sl)
	case s.pin != nil:
		s.dispatchPinned(cmd, c, sl)
	default:
		s.dispatchFree(cmd, c, sl)
	}
}

func parentName(name string) string {
	if i := strings.IndexByte(name, '|'); i >= 0 {
		return name[:i]
	}
	return ""
}

// dispatchFree handles a command of a client with no pinned connection.
func (s *session) dispatchFree(cmd *resp.Command, c *Command, sl *slot) {
	if c == nil {
		s.batchWrite = true // a module command may write
		if s.srv.wb != nil && !s.wbSettle(nil, cmd.Args, sl) {
			return
		}
		s.forward(cmd, nil, sl)
		return
	}
	if s.local(cmd, c, sl) {
		return
	}
	switch c.Name {
	case "multi", "watch":
		if s.pinFor(cmd, c, sl) {
			s.dispatchPinned(cmd, c, sl)
		}
		return
	case "subscribe", "psubscribe", "ssubscribe", "monitor", "client|tracking":
		// Tracking pushes invalidations at any time, like a subscription.
		s.startPubsub(cmd, c, sl)
		return
	case "sync", "psync":
		s.startReplicaRelay(cmd, c, sl)
		return
	case "info":
		if s.info(cmd.Args, sl) {
			return
		}
	case "client|caching", "client|no-evict":
		if s.pinFor(cmd, c, sl) {
			s.sticky = true
			s.dispatchPinned(cmd, c, sl)
		}
		return
	}
	blocking := isBlocking(c, cmd.Args)
	if s.srv.wb != nil && !blocking && c.Has(FlagWrite) && s.wbWrite(cmd, c, sl) {
		return
	}
	if s.srv.cs != nil && !blocking && c.read != rkNone && !s.batchWrite && s.cachedRead(cmd, c, sl) {
		return
	}
	// The command goes to the backend: with write-back, after the dirty
	// state it may see.
	if s.srv.wb != nil && !s.wbSettle(c, cmd.Args, sl) {
		return
	}
	if s.srv.cs != nil && !blocking && c.read == rkNone && !c.Has(FlagReadonly) {
		s.batchWrite = true
		if c.Has(FlagWrite) {
			s.beforeWrite(cmd, c, sl)
		}
	}
	if blocking {
		s.batchWrite = true
		off, n := s.beforePinned(c, cmd.Args)
		s.blockingOnce(cmd, c, sl)
		s.afterPinned(c, cmd.Args, sl.req.Reply, s.db, off, n)
		return
	}
	if s.srv.up.Topology() == redis.Cluster && s.fanout(cmd, c, sl) {
		return
	}
	s.forward(cmd, c, sl)
}

// isBlocking reports commands that may wait for another client, or run
// unboundedly long: they run on a pinned connection so they cannot hold up
// a shared lane.
func isBlocking(c *Command, args [][]byte) bool {
	switch c.Name {
	case "xread", "xreadgroup":
		for _, a := range args[1:] {
			if isName(a, "block") {
				return true
			}
			if isName(a, "streams") {
				return false
			}
		}
		return false
	case "wait", "debug":
		return true // WAIT and DEBUG SLEEP hold the connection by design
	case "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro":
		// A script can run for as long as it likes (until SCRIPT KILL);
		// on a shared lane it would hold every other client of that lane.
		return true
	}
	return c.Has(FlagBlocking)
}

// forward queues cmd on the lane of the node that serves its keys.
func (s *session) forward(cmd *resp.Command, c *Command, sl *slot) {
	lane, err := s.laneFor(cmd, c)
	if err != nil {
		if !errors.Is(err, errCrossSlot) {
			sl.req.Err = err
			return
		}
		sl.errorf("CROSSSLOT Keys in request don't hash to the same slot")
		return
	}
	s.submit(lane, cmd.Raw, sl)
}

// errCrossSlot is laneFor's answer to keys of several hash slots.
var errCrossSlot = errors.New("proxy: cross slot")

// laneFor returns the lane a command of this client goes to.
func (s *session) laneFor(cmd *resp.Command, c *Command) (*redis.Lane, error) {
	if s.srv.up.Topology() != redis.Cluster {
		if s.lane == nil || s.laneDB != s.db || s.laneP != s.proto {
			n, err := s.srv.up.Route(-1)
			if err != nil {
				return nil, err
			}
			s.lane, s.laneDB, s.laneP = n.PickLane(s.db, s.proto, int(s.id)), s.db, s.proto
		}
		return s.lane, nil
	}
	slotNo, ok := s.keysSlot(cmd.Args, c)
	if !ok {
		return nil, errCrossSlot
	}
	n, err := s.srv.up.Route(slotNo)
	if err != nil {
		return nil, err
	}
	return n.Lane(s.db, s.proto, int(s.id)), nil
}

// forwardTo queues raw on the client's lane of node n.
func (s *session) forwardTo(n *redis.Node, raw []byte, sl *slot) {
	s.submit(n.Lane(s.db, s.proto, int(s.id)), raw, sl)
}

// submit queues raw on lane, its reply going to sl, and remembers the lane
// for the batch's flush.
func (s *session) submit(lane *redis.Lane, raw []byte, sl *slot) {
	if sl.span.Recording() {
		name := "UNKNOWN"
		if sl.cmd != nil {
			name = sl.cmd.spanName
		}
		s.startUpstreamSpan(sl, name)
	}
	s.submitReq(lane, raw, &sl.req)
}

// submitGroup queues requests (Raw set) on lane back to back.
func (s *session) submitGroup(lane *redis.Lane, reqs []*redis.Request) {
	for _, r := range reqs {
		r.Done = &s.wg
	}
	s.wg.Add(len(reqs))
	lane.SubmitGroup(reqs...)
	s.touch(lane)
}

// touch remembers lane for the batch's flush.
func (s *session) touch(lane *redis.Lane) {
	for _, l := range s.touched {
		if l == lane {
			return
		}
	}
	s.touched = append(s.touched, lane)
}

// submitReq queues raw on lane with its reply going to req.
func (s *session) submitReq(lane *redis.Lane, raw []byte, req *redis.Request) {
	req.Raw = raw
	req.Done = &s.wg
	s.wg.Add(1)
	lane.Submit(req)
	s.touch(lane)
}

// slotOf returns the hash slot of the command's keys (-1: no keys), or
// writes CROSSSLOT into sl and returns false.
func (s *session) slotOf(args [][]byte, c *Command, sl *slot) (int, bool) {
	slotNo, ok := s.keysSlot(args, c)
	if !ok {
		sl.errorf("CROSSSLOT Keys in request don't hash to the same slot")
	}
	return slotNo, ok
}

// keysSlot returns the hash slot of the command's keys (-1: no keys);
// false when they are in several slots.
func (s *session) keysSlot(args [][]byte, c *Command) (int, bool) {
	if c == nil {
		return -1, true
	}
	s.keyPos = c.appendKeyPositions(s.keyPos[:0], args)
	slotNo := -1
	for _, p := range s.keyPos {
		k := keySlot(args[p])
		if slotNo == -1 {
			slotNo = k
		} else if k != slotNo {
			return 0, false
		}
	}
	return slotNo, true
}

// unknownCommand is redis-server's reply text for an unknown command.
func unknownCommand(args [][]byte) string {
	var b strings.Builder
	for _, a := range args[1:] {
		if b.Len() >= 128 {
			break
		}
		room := 128 - b.Len()
		if len(a) > room {
			a = a[:room]
		}
		b.WriteByte('\'')
		b.Write(a)
		b.WriteString("' ")
	}
	name := args[0]
	if len(name) > 128 {
		name = name[:128]
	}
	return sanitize("ERR unknown command '" + string(name) + "', with args beginning with: " + b.String())
}

func unknownSubcommand(c *Command, sub []byte) string {
	if len(sub) > 128 {
		sub = sub[:128]
	}
	return sanitize("ERR unknown subcommand '" + string(sub) + "'. Try " + strings.ToUpper(c.Name) + " HELP.")
}

func wrongArity(c *Command) string {
	return "ERR wrong number of arguments for '" + c.Name + "' command"
}

// sanitize maps CR and LF to spaces, as addReplyErrorFormat does.
func sanitize(s string) string { return crlfToSpace.Replace(s) }

var crlfToSpace = strings.NewReplacer("\r", " ", "\n", " ")

func atoiDB(b []byte) (int, bool) {
	v, ok := resp.ParseInt(b)
	if !ok || v < -1<<31 || v > 1<<31-1 {
		return 0, false
	}
	return int(v), true
}

func itoa(v int) string { return strconv.Itoa(v) }
