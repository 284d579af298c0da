package proxy

import (
	"context"
	"errors"
	"time"

	"github.com/respcache/respcache/cache"
	"github.com/respcache/respcache/resp"
	"github.com/respcache/respcache/store/redis"
)

// An in-process store (the embedded disk store) runs commands itself: the
// session hands every command that is not a connection command to its own
// StoreConn and relays the reply bytes, in the session's goroutine. There
// are no lanes, no pinned connections and no invalidation link: every write
// passes through respcache, so the write path keeps the cache right.

// Store is what the proxy needs from an in-process backend.
type Store interface {
	// NewConn returns the state of a new client (db 0, RESP2).
	NewConn() StoreConn
	// ServerVersion is the Redis version the store behaves as (HELLO).
	ServerVersion() string
	// Databases is the number of logical databases (SELECT's range).
	Databases() int
}

// StoreConn is one client's state in a Store.
type StoreConn interface {
	// Do runs args and appends exactly one RESP reply to dst.
	Do(ctx context.Context, args [][]byte, dst []byte) []byte
	SetDB(db int)
	SetProto(p int)
	// DB is the current db (an EXEC with SELECT changes it).
	DB() int
	// InMulti reports an open MULTI.
	InMulti() bool
	// Close drops MULTI and WATCH state.
	Close()
}

// errNoUpstream answers the upstream-only paths in store mode.
var errNoUpstream = errors.New("proxy: no upstream: the embedded store answers every command")

// storeUpstream stands in for Upstream when the backend is a Store: the
// connection commands (HELLO, SELECT) read its version and databases; the
// lane and pinned paths are never taken.
type storeUpstream struct{ st Store }

func (u storeUpstream) Route(int) (*redis.Node, error)  { return nil, errNoUpstream }
func (u storeUpstream) Masters() ([]*redis.Node, error) { return nil, errNoUpstream }
func (u storeUpstream) NodeAt(string) *redis.Node       { return nil }
func (u storeUpstream) Pin(context.Context, *redis.Node, int, int) (*redis.Pinned, error) {
	return nil, errNoUpstream
}
func (u storeUpstream) Topology() string                          { return "disk" }
func (u storeUpstream) ServerVersion() string                     { return u.st.ServerVersion() }
func (u storeUpstream) Databases() int                            { return u.st.Databases() }
func (u storeUpstream) Track(redis.TrackingConfig) *redis.Tracker { return nil }
func (u storeUpstream) HashListpackLimits() (int64, int64, bool)  { return 1 << 62, 1 << 62, true }

// dispatchStore runs one command of a client of an in-process store.
func (s *session) dispatchStore(cmd *resp.Command, c *Command, sl *slot) {
	args := cmd.Args
	st := s.dconn
	if c != nil {
		switch c.Name {
		case "select":
			if st.InMulti() {
				break // queued in the transaction; EXEC applies it
			}
			if s.local(cmd, c, sl) && s.db != st.DB() {
				st.SetDB(s.db)
			}
			return
		case "hello", "reset":
			s.local(cmd, c, sl)
			if c.Name == "reset" {
				st.Close()
				if s.srv.cs != nil {
					s.endMulti() // RESET discards the transaction
				}
			}
			st.SetDB(s.db)
			st.SetProto(s.proto)
			return
		case "info":
			if s.info(args, sl) {
				return
			}
		default:
			if s.local(cmd, c, sl) {
				return
			}
		}
	}
	cs := s.srv.cs
	inMulti := st.InMulti()
	if s.srv.wb != nil && !inMulti && c != nil && c.Has(FlagWrite) && s.wbWrite(cmd, c, sl) {
		return
	}
	if cs != nil && c != nil && !inMulti && c.read != rkNone && s.cachedRead(cmd, c, sl) {
		return
	}
	// The command goes to the store: with write-back, after the dirty
	// state it may see (a command queued in MULTI runs at EXEC, which
	// waits for everything).
	if s.srv.wb != nil && (!inMulti || c != nil && c.Name == "exec") && !s.wbSettle(c, args, sl) {
		return
	}
	write := false
	off, n := len(s.vers), 0
	if cs != nil && c != nil {
		switch {
		case inMulti:
			if mayWrite(c) && c.Name != "exec" {
				off, n = s.beginWrite(c, args, s.multiDBOr(st.DB()))
			}
		case c.read != rkNone:
		case c.Has(FlagWrite):
			s.beforeWrite(cmd, c, sl)
			write = true
		}
	}
	sl.req.Reply = st.Do(s.ctx, args, sl.req.Reply[:0])
	switch {
	case sl.post == postInfo:
		s.appendInfoSection(sl)
		s.donePost(sl)
	case write:
		s.afterWrite(sl)
		s.donePost(sl)
	}
	if c == nil {
		return
	}
	queued := string(sl.req.Reply) == "+QUEUED\r\n"
	if inMulti && c.Name == "select" && queued {
		if db, ok := atoiDB(args[1]); ok {
			s.multiDB = db // the db of the commands queued after it
		}
	}
	if cs != nil && n > 0 {
		if queued {
			s.queueWrite(c, args, s.multiDBOr(st.DB()), off, n)
		} else {
			s.endWrite(c, args, st.DB(), off, n)
		}
	}
	if c.Name == "multi" && !inMulti && st.InMulti() {
		s.multiDB = -1
	}
	if c.Name == "exec" || c.Name == "discard" {
		if cs != nil {
			s.endMulti()
		}
		s.multiDB = -1
		if db := st.DB(); db != s.db {
			s.setDB(db)
		}
	}
}

// multiDBOr is the db a queued command will run in: the last SELECT queued
// in the transaction, or db.
func (s *session) multiDBOr(db int) int {
	if s.multiDB >= 0 {
		return s.multiDB
	}
	return db
}

// donePost marks a slot's post-processing as done in place.
func (s *session) donePost(sl *slot) {
	sl.post, sl.args = postNone, nil
	s.posts--
}

// storeFill loads a missed key from the in-process store at once: MULTI,
// the read, PTTL and EXEC, so the value and its TTL are one snapshot.
func (s *session) storeFill(f cache.Fill, c *Command, args [][]byte, sl *slot) {
	st := s.dconn
	fill := c.read.fill()
	s.fillStart = time.Now()
	s.fillArgs = append(s.fillArgs[:0], nameMULTI)
	s.out2 = st.Do(s.ctx, s.fillArgs, s.out2[:0])
	s.fillArgs = append(s.fillArgs[:0], fill, args[1])
	s.out2 = st.Do(s.ctx, s.fillArgs, s.out2[:0])
	s.fillArgs = append(s.fillArgs[:0], namePTTL, args[1])
	s.out2 = st.Do(s.ctx, s.fillArgs, s.out2[:0])
	s.fillArgs = append(s.fillArgs[:0], nameEXEC)
	sl.req.Reply = st.Do(s.ctx, s.fillArgs, sl.req.Reply[:0])
	sl.post, sl.fill, sl.args, sl.c, sl.db = postFillLead, f, args, c, s.db
	s.posts++
	s.finishFill(sl)
	if sl.post == postRetry {
		sl.req.Reply = st.Do(s.ctx, args, sl.req.Reply[:0])
	}
	s.donePost(sl)
}

// storeWait answers a read from another client's fill, or from the store
// when that fill cannot be shared.
func (s *session) storeWait(f cache.Fill, c *Command, args [][]byte, sl *slot) {
	sl.post, sl.fill, sl.args, sl.c = postFillWait, f, args, c
	s.posts++
	s.finishWait(sl)
	if sl.post == postRetry {
		sl.req.Reply = s.dconn.Do(s.ctx, args, sl.req.Reply[:0])
	}
	s.donePost(sl)
}

var (
	nameMULTI = []byte("MULTI")
	nameEXEC  = []byte("EXEC")
)
