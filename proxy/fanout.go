package proxy

import (
	"bytes"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"

	"github.com/respcache/respcache/resp"
	"github.com/respcache/respcache/store/redis"
)

// In a Cluster, keyspace-wide commands go to every master and their replies
// are merged, so that a client sees one Redis:
//
//   - DBSIZE sums; KEYS concatenates;
//   - FLUSHALL, FLUSHDB, SCRIPT FLUSH/LOAD and FUNCTION LOAD/FLUSH/DELETE/
//     RESTORE run everywhere (scripts and functions must exist on every node
//     for EVALSHA and FCALL to work wherever their keys live) and reply the
//     first error, else the first reply;
//   - RANDOMKEY asks masters in random order until one has a key;
//   - SCAN walks the masters one after another. The cursor given to the
//     client is the node's cursor shifted left by 10 bits with the node's
//     index in the low bits, so a cursor stays an opaque unsigned integer.
//     Its walk is only as stable as the slot map: a resharding during a
//     SCAN may repeat or miss keys, as Redis Cluster's own SCAN per node
//     would.
const scanNodeBits = 10

func (s *session) fanout(cmd *resp.Command, c *Command, sl *slot) bool {
	switch c.Name {
	case "dbsize", "keys", "flushall", "flushdb", "randomkey", "scan",
		"script|flush", "script|load", "function|load", "function|flush", "function|delete", "function|restore":
	default:
		return false
	}
	if !c.arityOK(len(cmd.Args)) {
		return false // the server replies the arity error
	}
	masters, err := s.srv.up.Masters()
	if err != nil {
		sl.req.Err = err
		return true
	}
	sort.Slice(masters, func(i, j int) bool { return masters[i].Addr() < masters[j].Addr() })
	s.flushLanes()
	switch c.Name {
	case "scan":
		s.scanCluster(cmd, masters, sl)
		return true
	case "randomkey":
		for _, i := range rand.Perm(len(masters)) {
			rs := s.fanoutDo([]*redis.Node{masters[i]}, cmd.Raw)
			if rs[0].Err != nil {
				sl.req.Err = rs[0].Err
				return true
			}
			r := rs[0].Reply
			if r[0] == '-' || !(bytes.Equal(r, []byte("$-1\r\n")) || bytes.Equal(r, []byte("_\r\n"))) {
				sl.req.Reply = append(sl.req.Reply, r...)
				return true
			}
		}
		s.null(sl)
		return true
	}
	rs := s.fanoutDo(masters, cmd.Raw)
	for i := range rs {
		if rs[i].Err != nil {
			sl.req.Err = rs[i].Err
			return true
		}
		if rs[i].Reply[0] == '-' {
			sl.req.Reply = append(sl.req.Reply, rs[i].Reply...)
			return true
		}
	}
	switch c.Name {
	case "dbsize":
		var sum int64
		for i := range rs {
			v, _ := resp.ParseInt(bytes.TrimSpace(rs[i].Reply[1:]))
			sum += v
		}
		sl.integer(sum)
	case "keys":
		total := 0
		for i := range rs {
			n, body := splitArray(rs[i].Reply)
			total += n
			rs[i].Reply = body
		}
		sl.req.Reply = appendArray(sl.req.Reply, total)
		for i := range rs {
			sl.req.Reply = append(sl.req.Reply, rs[i].Reply...)
		}
	default:
		sl.req.Reply = append(sl.req.Reply, rs[0].Reply...)
	}
	return true
}

// fanoutDo sends raw to each node's lane and waits for all replies.
func (s *session) fanoutDo(nodes []*redis.Node, raw []byte) []redis.Request {
	var wg sync.WaitGroup
	rs := make([]redis.Request, len(nodes))
	for i, n := range nodes {
		rs[i].Raw = raw
		rs[i].Done = &wg
		wg.Add(1)
		l := n.Lane(s.db, s.proto, int(s.id))
		l.Submit(&rs[i])
		l.Flush()
	}
	wg.Wait()
	return rs
}

// splitArray splits "*N\r\n<body>" into N and body.
func splitArray(b []byte) (int, []byte) {
	i := bytes.IndexByte(b, '\n')
	n, _ := strconv.Atoi(string(b[1 : i-1]))
	return n, b[i+1:]
}

func (s *session) scanCluster(cmd *resp.Command, masters []*redis.Node, sl *slot) {
	cur, err := strconv.ParseUint(string(cmd.Args[1]), 10, 64)
	if err != nil {
		sl.errorf("ERR invalid cursor")
		return
	}
	idx := int(cur & (1<<scanNodeBits - 1))
	if idx >= len(masters) {
		sl.errorf("ERR invalid cursor")
		return
	}
	args := append([][]byte(nil), cmd.Args...)
	args[1] = strconv.AppendUint(nil, cur>>scanNodeBits, 10)
	rs := s.fanoutDo(masters[idx:idx+1], resp.AppendCommand(nil, args...))
	if rs[0].Err != nil {
		sl.req.Err = rs[0].Err
		return
	}
	r := rs[0].Reply
	if r[0] == '-' {
		sl.req.Reply = append(sl.req.Reply, r...)
		return
	}
	// *2\r\n$<len>\r\n<cursor>\r\n<keys array>
	p := bytes.IndexByte(r, '\n') + 1
	q := p + bytes.IndexByte(r[p:], '\n') + 1
	end := q + bytes.IndexByte(r[q:], '\r')
	next, _ := strconv.ParseUint(string(r[q:end]), 10, 64)
	var out uint64
	switch {
	case next != 0:
		out = next<<scanNodeBits | uint64(idx)
	case idx+1 < len(masters):
		out = uint64(idx + 1)
	}
	sl.req.Reply = appendArray(sl.req.Reply, 2)
	sl.req.Reply = appendBulk(sl.req.Reply, strconv.AppendUint(nil, out, 10))
	sl.req.Reply = append(sl.req.Reply, r[end+2:]...)
}
