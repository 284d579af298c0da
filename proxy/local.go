package proxy

import (
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	"github.com/respcache/respcache/resp"
	"github.com/respcache/respcache/store/redis"
)

// local answers the commands that belong to the client connection itself
// rather than to the data: it reports whether it handled cmd.
func (s *session) local(cmd *resp.Command, c *Command, sl *slot) bool {
	args := cmd.Args
	switch c.Name {
	case "ping", "echo":
		// Forwarded: a server busy with a script answers BUSY to them, and a
		// health check through respcache should see the upstream.
		return false
	case "quit", "reset", "hello", "auth", "select",
		"unsubscribe", "punsubscribe", "sunsubscribe", "client|unblock", "client|setname", "client|getname", "client|id", "client|info", "client|list", "client|reply":
	default:
		return false
	}
	if !c.arityOK(len(args)) {
		sl.errorf(wrongArity(c))
		return true
	}
	switch c.Name {
	case "unsubscribe", "punsubscribe", "sunsubscribe":
		s.unsubscribeIdle(c.Name, args[1:], sl)
	case "client|unblock":
		s.clientUnblock(args, sl)
	case "quit":
		// Close a pinned upstream connection before the client sees +OK:
		// what the client's state on the server means to others (a tracking
		// redirect target, a subscription) must be gone by then, as it is
		// when Redis answers QUIT itself.
		s.unpin(false)
		sl.ok()
		s.closeAfter = true
	case "reset":
		s.reset()
		sl.raw("+RESET\r\n")
	case "hello":
		s.hello(args, sl)
	case "auth":
		s.auth(args, sl)
	case "select":
		s.selectDB(args[1], sl)
	case "client|setname":
		if !validName(args[2]) {
			sl.errorf("ERR Client names cannot contain spaces, newlines or special characters.")
			return true
		}
		s.setName(args[2])
		sl.ok()
	case "client|getname":
		if len(s.name) == 0 {
			s.null(sl)
		} else {
			sl.bulk(s.name)
		}
	case "client|id":
		sl.integer(int64(s.id))
	case "client|info":
		s.verbatim(sl, s.clientLine("client|info"))
	case "client|list":
		s.clientList(args, sl)
	case "client|reply":
		switch {
		case isName(args[2], "on"):
			s.replyMode = replyOn
			sl.noReply = false
			sl.ok()
		case isName(args[2], "off"):
			s.replyMode = replyOff
			sl.noReply = true
		case isName(args[2], "skip"):
			if s.replyMode != replyOff {
				s.replyMode = replySkip
			}
			sl.noReply = true
		default:
			sl.errorf("ERR syntax error")
		}
	}
	return true
}

// reset is RESET: back to a fresh connection's state.
func (s *session) reset() {
	s.unpin(false)
	if s.srv.cs != nil {
		s.endMulti()
	}
	s.setDB(s.srv.cfg.DefaultDB)
	s.setProto(2)
	s.setName(nil)
	s.replyMode = replyOn
	s.authed = s.srv.cfg.Password == ""
}

func validName(n []byte) bool {
	for _, c := range n {
		if c < '!' || c > '~' {
			return false
		}
	}
	return true
}

// checkPassword compares in constant time; user "" is the single-argument
// AUTH form.
func (s *session) checkPassword(user, pass []byte) bool {
	if len(user) > 0 && string(user) != "default" {
		return false
	}
	return subtle.ConstantTimeCompare(pass, []byte(s.srv.cfg.Password)) == 1
}

func (s *session) auth(args [][]byte, sl *slot) {
	if len(args) > 3 {
		sl.errorf("ERR syntax error")
		return
	}
	if s.srv.cfg.Password == "" {
		// The default user has no password: AUTH <password> is a mistake,
		// AUTH default <anything> succeeds, as in redis-server.
		if len(args) == 2 {
			sl.errorf("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
			return
		}
		if string(args[1]) != "default" {
			sl.errorf("WRONGPASS invalid username-password pair or user is disabled.")
			return
		}
		sl.ok()
		return
	}
	var user []byte
	pass := args[1]
	if len(args) == 3 {
		user, pass = args[1], args[2]
	}
	if !s.checkPassword(user, pass) {
		sl.errorf("WRONGPASS invalid username-password pair or user is disabled.")
		return
	}
	s.authed = true
	sl.ok()
}

func (s *session) hello(args [][]byte, sl *slot) {
	proto := s.proto
	if len(args) >= 2 {
		v, ok := atoiDB(args[1])
		if !ok {
			sl.errorf("ERR Protocol version is not an integer or out of range")
			return
		}
		if v < 2 || v > 3 {
			sl.errorf("NOPROTO unsupported protocol version")
			return
		}
		proto = v
	}
	var user, pass, name []byte
	haveAuth, haveName := false, false
	for i := 2; i < len(args); i++ {
		more := len(args) - i - 1
		switch {
		case isName(args[i], "auth") && more >= 2:
			user, pass, haveAuth = args[i+1], args[i+2], true
			i += 2
		case isName(args[i], "setname") && more >= 1:
			name, haveName = args[i+1], true
			i++
		default:
			sl.errorf(sanitize("ERR Syntax error in HELLO option '" + string(args[i]) + "'"))
			return
		}
	}
	if haveAuth {
		if s.srv.cfg.Password == "" {
			if string(user) != "default" {
				sl.errorf("WRONGPASS invalid username-password pair or user is disabled.")
				return
			}
		} else if !s.checkPassword(user, pass) {
			sl.errorf("WRONGPASS invalid username-password pair or user is disabled.")
			return
		}
		s.authed = true
	}
	if !s.authed {
		sl.errorf("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	if haveName {
		if !validName(name) {
			sl.errorf("ERR Client names cannot contain spaces, newlines or special characters.")
			return
		}
		s.setName(name)
	}
	if proto != s.proto {
		s.setProto(proto)
		s.switchPinnedProto()
	}
	version := s.srv.up.ServerVersion()
	if version == "" {
		version = referenceVersion
	}
	b := sl.req.Reply
	if s.proto == 3 {
		b = append(b, "%7\r\n"...)
	} else {
		b = appendArray(b, 14)
	}
	b = appendBulkString(b, "server")
	b = appendBulkString(b, "redis")
	b = appendBulkString(b, "version")
	b = appendBulkString(b, version)
	b = appendBulkString(b, "proto")
	b = appendInt(b, int64(s.proto))
	b = appendBulkString(b, "id")
	b = appendInt(b, int64(s.id))
	b = appendBulkString(b, "mode")
	b = appendBulkString(b, "standalone") // respcache presents one server, also before a cluster
	b = appendBulkString(b, "role")
	b = appendBulkString(b, "master")
	b = appendBulkString(b, "modules")
	b = appendArray(b, 0)
	sl.req.Reply = b
}

func (s *session) selectDB(arg []byte, sl *slot) {
	db, ok := atoiDB(arg)
	if !ok {
		sl.errorf("ERR value is not an integer or out of range")
		return
	}
	if s.srv.up.Topology() == redis.Cluster && db != 0 {
		sl.errorf("ERR SELECT is not allowed in cluster mode")
		return
	}
	if db < 0 || db >= s.srv.up.Databases() {
		sl.errorf("ERR DB index is out of range")
		return
	}
	s.setDB(db)
	sl.ok()
}

// verbatim writes a CLIENT INFO/LIST text: a verbatim string in RESP3, a
// bulk string in RESP2, as redis-server does.
func (s *session) verbatim(sl *slot, text string) {
	if s.proto == 3 {
		sl.req.Reply = append(sl.req.Reply, fmt.Sprintf("=%d\r\ntxt:%s\r\n", len(text)+4, text)...)
		return
	}
	sl.req.Reply = appendBulkString(sl.req.Reply, text)
}

// clientLine renders a client in CLIENT LIST format. It may be called from
// another client's goroutine: it reads only fields under infoMu, atomics
// and immutable ones. cur is the command being executed when a client
// describes itself ("" for another client: its last command). The memory
// fields describe nothing respcache has (0); fd is respcache's own socket.
func (s *session) clientLine(cur string) string {
	s.infoMu.Lock()
	db, proto, name, last, cmd := s.db, s.proto, string(s.name), s.lastCmd, s.lastName
	s.infoMu.Unlock()
	if cur != "" {
		cmd, last = cur, time.Now()
	}
	flags := "N"
	switch {
	case s.blocked.Load() != nil:
		flags = "b"
	case s.subscribed.Load():
		flags = "P"
	}
	now := time.Now()
	return fmt.Sprintf("id=%d addr=%s laddr=%s fd=%d name=%s age=%d idle=%d flags=%s db=%d sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd=%s user=default redir=-1 resp=%d\n",
		s.id, s.conn.RemoteAddr().String(), s.conn.LocalAddr().String(), s.fd, name,
		int(now.Sub(s.created).Seconds()), int(now.Sub(last).Seconds()), flags, db, cmd, proto)
}

// clientList is CLIENT LIST [TYPE type] [ID id ...] over respcache's own
// clients (the upstream's connections are respcache's, not the clients').
func (s *session) clientList(args [][]byte, sl *slot) {
	typ := ""
	var ids map[uint64]bool
	for i := 2; i < len(args); i++ {
		switch {
		case isName(args[i], "type") && i+1 < len(args):
			typ = strings.ToLower(string(args[i+1]))
			switch typ {
			case "normal", "pubsub", "master", "replica", "slave":
			default:
				sl.errorf(sanitize("ERR Unknown client type '" + string(args[i+1]) + "'"))
				return
			}
			i++
		case isName(args[i], "id") && i+1 < len(args):
			ids = map[uint64]bool{}
			for i++; i < len(args); i++ {
				v, ok := atoiDB(args[i])
				if !ok || v <= 0 {
					sl.errorf("ERR Invalid client ID")
					return
				}
				ids[uint64(v)] = true
			}
		default:
			sl.errorf("ERR syntax error")
			return
		}
	}
	var b strings.Builder
	for _, other := range s.srv.sessionsByID() {
		if ids != nil && !ids[other.id] {
			continue
		}
		switch typ {
		case "normal":
			if other.subscribed.Load() {
				continue
			}
		case "pubsub":
			if !other.subscribed.Load() {
				continue
			}
		case "master", "replica", "slave":
			continue
		}
		cur := ""
		if other == s {
			cur = "client|list"
		}
		b.WriteString(other.clientLine(cur))
	}
	s.verbatim(sl, b.String())
}

// unsubscribeIdle answers (P|S)UNSUBSCRIBE from a client with no
// subscription as redis-server does: one confirmation per channel (or one
// with a null channel), count 0, pushes in RESP3. Answering locally keeps
// push frames, which are not replies elsewhere, off the shared lanes.
func (s *session) unsubscribeIdle(kind string, channels [][]byte, sl *slot) {
	one := func(ch []byte) {
		if s.proto == 3 {
			sl.raw(">3\r\n")
		} else {
			sl.raw("*3\r\n")
		}
		sl.req.Reply = appendBulkString(sl.req.Reply, kind)
		if ch == nil {
			s.null(sl)
		} else {
			sl.bulk(ch)
		}
		sl.raw(":0\r\n")
	}
	if len(channels) == 0 {
		one(nil)
		return
	}
	for _, ch := range channels {
		one(ch)
	}
}

// clientUnblock is CLIENT UNBLOCK for respcache's client ids: the blocked
// client waits on a pinned upstream connection, so the unblock is sent to
// the upstream under that connection's own id.
func (s *session) clientUnblock(args [][]byte, sl *slot) {
	id, ok := resp.ParseInt(args[2])
	if !ok {
		sl.errorf("ERR value is not an integer or out of range")
		return
	}
	var reason []byte
	if len(args) == 4 {
		if !isName(args[3], "timeout") && !isName(args[3], "error") {
			sl.errorf("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
			return
		}
		reason = args[3]
	} else if len(args) > 4 {
		sl.errorf(sanitize("ERR unknown subcommand or wrong number of arguments for '" + string(args[1]) + "'. Try CLIENT HELP."))
		return
	}
	target := s.srv.sessionByID(id)
	var pin *redis.Pinned
	if target != nil {
		pin = target.blocked.Load()
	}
	if pin == nil || pin.ID() == 0 {
		sl.raw(":0\r\n")
		return
	}
	raw := resp.AppendCommandStrings(nil, "CLIENT", "UNBLOCK", itoa(int(pin.ID())))
	if reason != nil {
		raw = resp.AppendCommand(nil, []byte("CLIENT"), []byte("UNBLOCK"), []byte(itoa(int(pin.ID()))), reason)
	}
	s.forwardTo(s.srv.up.NodeAt(pin.Addr()), raw, sl)
}
