package disk

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// handler executes one command. It writes exactly one reply to w, or
// returns an error and writes nothing: a replyErr becomes that error reply,
// any other error "-ERR disk store: ...". A handler validates everything
// before its first write, so that an error never leaves half a command in
// the batch (inside EXEC the batch is shared and not rolled back, as in
// Redis).
type handler func(t *tx, w *writer, args [][]byte) error

// cmdFlags describe how the dispatcher runs a command.
type cmdFlags uint16

const (
	// flagWrite: the command may modify the keyspace; it gets a batch and
	// exclusive locks on its keys. Without it the command reads the DB
	// directly under shared locks.
	flagWrite cmdFlags = 1 << iota
	// flagGlobal: the command spans the keyspace or several dbs (FLUSHALL,
	// SWAPDB, MOVE): it takes Store.global exclusively instead of key locks.
	flagGlobal
	// flagTxControl: MULTI, EXEC, DISCARD, WATCH: run at once even inside
	// MULTI, by the dispatcher itself (fn is nil or called without a tx).
	flagTxControl
	// flagConnOnly: the command touches only connection state (SELECT,
	// PING, ECHO): no tx, no locks.
	flagConnOnly
	// flagPlainBatch: the handler never reads a record after writing it in
	// the same command, so outside EXEC it gets a plain pebble batch (reads
	// go to the DB) instead of an indexed one, which saves the batch index
	// on the hot write path (SET, INCR, EXPIRE...). Multi-key commands that
	// may name a key twice must not use it.
	flagPlainBatch
)

// command is an entry of the command table.
type command struct {
	name  string // lowercase; "config|get" for subcommands
	arity int    // Redis arity: n exact (counting the name), -n at least n
	flags cmdFlags
	// first, last, step locate the key arguments as in Redis's legacy key
	// spec: first = index of the first key (0: no keys), last = index of
	// the last (negative: from the end, -1 = last arg), step between keys.
	first, last, step int
	// keys, when set, replaces first/last/step (e.g. SORT-like syntax).
	keys func(args [][]byte) [][]byte
	fn   handler
	subs map[string]*command // container commands (CONFIG, COMMAND, ...)
}

// commands is the command table, filled by register from init functions of
// each type's file. Read-only after init.
var commands = map[string]*command{}

// register adds commands to the table. It panics on a duplicate name: two
// files claiming a command is a programming error found by any test.
func register(cmds ...*command) {
	for _, c := range cmds {
		if _, dup := commands[c.name]; dup {
			panic("disk: command registered twice: " + c.name)
		}
		if c.step == 0 && c.first != 0 {
			c.step = 1
		}
		commands[c.name] = c
	}
}

// registerSub adds subcommands to a registered container command; the
// subcommand's name is "container|sub".
func registerSub(container string, subs ...*command) {
	parent := commands[container]
	if parent == nil {
		panic("disk: no container command " + container)
	}
	if parent.subs == nil {
		parent.subs = map[string]*command{}
	}
	for _, c := range subs {
		if c.step == 0 && c.first != 0 {
			c.step = 1
		}
		_, sub, _ := strings.Cut(c.name, "|")
		parent.subs[sub] = c
	}
}

// lookupCommand finds the command for args (resolving subcommands) without
// allocating. err is the reply for an unknown command or subcommand.
func lookupCommand(args [][]byte) (*command, replyErr) {
	c := commands[lowerKey(args[0])]
	if c == nil {
		return nil, unknownCommand(args)
	}
	if c.subs != nil && len(args) >= 2 {
		sub := c.subs[lowerKey(args[1])]
		if sub == nil {
			return nil, replyErr("ERR unknown subcommand '" + clip128(args[1]) + "'. Try " + strings.ToUpper(c.name) + " HELP.")
		}
		return sub, ""
	}
	return c, ""
}

// lowerKey lowercases a command name for the table lookup. Names longer
// than the buffer cannot be commands and are returned as is (no match).
func lowerKey(name []byte) string {
	var buf [32]byte
	if len(name) > len(buf) {
		return string(name)
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return string(buf[:len(name)]) // the map lookup does not allocate this
}

// unknownCommand formats Redis's reply for an unknown command: the name
// (up to 128 bytes) and the arguments, each quoted and cut so that the
// list stays about 128 bytes long.
func unknownCommand(args [][]byte) replyErr {
	var b strings.Builder
	b.WriteString("ERR unknown command '")
	b.WriteString(clip128(args[0]))
	b.WriteString("', with args beginning with: ")
	n := 0
	for _, a := range args[1:] {
		if n >= 128 {
			break
		}
		room := 128 - n
		if len(a) > room {
			a = a[:room]
		}
		b.WriteByte('\'')
		b.Write(a)
		b.WriteString("' ")
		n += len(a) + 3
	}
	return replyErr(b.String())
}

func clip128(p []byte) string {
	if len(p) > 128 {
		p = p[:128]
	}
	return string(p)
}

func arityErr(name string) replyErr {
	return replyErr("ERR wrong number of arguments for '" + name + "' command")
}

func (c *command) arityOK(n int) bool {
	if c.arity >= 0 {
		return n == c.arity
	}
	return n >= -c.arity
}

// keyArgs appends the key arguments of args to dst.
func (c *command) keyArgs(args [][]byte, dst [][]byte) [][]byte {
	if c.keys != nil {
		return append(dst, c.keys(args)...)
	}
	if c.first == 0 || c.first >= len(args) {
		return dst
	}
	last := c.last
	if last < 0 {
		last = len(args) + last
	}
	for i := c.first; i <= last && i < len(args); i += c.step {
		dst = append(dst, args[i])
	}
	return dst
}

// Conn is the per-client state of the engine: selected db, protocol
// version, MULTI queue and WATCHed keys. Its methods must be called from one
// goroutine at a time; different Conns may be used concurrently.
type Conn struct {
	s     *Store
	db    int // logical db
	proto int

	multi    bool
	multiErr bool       // a command was rejected while queueing: EXEC aborts
	queue    [][][]byte // queued commands; owned copies of the args

	watched  []watchKey
	casDirty atomic.Bool // a watched key was modified; set by other Conns

	keyBuf [][]byte // scratch for key lists
	stripe []uint16 // scratch for lock stripes
	w      writer   // reply writer, kept here so that Do does not allocate it
}

type watchKey struct {
	key     string // physical db byte + user key
	expired bool   // the key was logically expired when WATCHed
}

// NewConn returns the state of a new client: db 0, RESP2.
func (s *Store) NewConn() *Conn { return &Conn{s: s, proto: 2} }

// SetDB selects logical db for the following commands (SELECT). The caller
// validates 0 <= db < Options.Databases; an out-of-range db is ignored.
func (c *Conn) SetDB(db int) {
	if db >= 0 && db < c.s.opts.Databases {
		c.db = db
	}
}

// DB is the logical db the Conn is in (SELECT inside an EXEC changes it).
func (c *Conn) DB() int { return c.db }

// InMulti reports whether a MULTI is open (commands are being queued).
func (c *Conn) InMulti() bool { return c.multi }

// SetProto sets the reply protocol version, 2 or 3 (HELLO); other values
// are ignored.
func (c *Conn) SetProto(p int) {
	if p == 2 || p == 3 {
		c.proto = p
	}
}

// Close drops the Conn's MULTI queue and WATCHes. The Conn may be reused
// afterwards as a fresh client.
func (c *Conn) Close() {
	c.s.unwatchAll(c)
	c.multi, c.multiErr, c.queue = false, false, nil
}

// Do executes the command args (args[0] is the name, any case) and appends
// exactly one RESP reply to dst, returning the extended slice. args and
// their bytes are owned by the caller and may be reused after Do returns.
// Do never panics; an internal failure is answered with an error reply.
// ctx is checked before the command runs: a canceled context (the client
// went away) gets an error reply and nothing is executed; a command that
// has started runs to completion, as it must to stay atomic.
func (c *Conn) Do(ctx context.Context, args [][]byte, dst []byte) (out []byte) {
	w := &c.w
	w.b, w.proto = dst, c.proto
	defer func() {
		if r := recover(); r != nil {
			c.s.log.Error("disk: panic in command", "cmd", safeName(args), "panic", r)
			w.b = dst
			w.err("ERR internal error")
			out = w.b
		}
		w.b = nil // the caller owns the buffer
	}()
	if len(args) == 0 {
		w.err("ERR empty command")
		return w.b
	}
	cmd, rerr := lookupCommand(args)
	if cmd == nil {
		if c.multi {
			c.multiErr = true
		}
		w.err(string(rerr))
		return w.b
	}
	if !cmd.arityOK(len(args)) {
		if c.multi {
			c.multiErr = true
		}
		if cmd.name == "exec" {
			// Redis's rejectCommand aborts the transaction when the
			// rejected command is EXEC itself.
			c.Close()
			w.err("EXECABORT Transaction discarded because of: " + strings.TrimPrefix(string(arityErr(cmd.name)), "ERR "))
			return w.b
		}
		w.err(string(arityErr(cmd.name)))
		return w.b
	}
	if c.multi && cmd.flags&flagTxControl == 0 {
		q := make([][]byte, len(args))
		size := 0
		for _, a := range args {
			size += len(a)
		}
		buf := make([]byte, 0, size)
		for i, a := range args {
			buf = append(buf, a...)
			q[i] = buf[len(buf)-len(a) : len(buf) : len(buf)]
		}
		c.queue = append(c.queue, q)
		w.simple("QUEUED")
		return w.b
	}
	c.s.commands.Add(1)
	switch cmd.name {
	case "multi":
		if c.multi {
			w.err("ERR MULTI calls can not be nested")
		} else {
			c.multi = true
			w.ok()
		}
		return w.b
	case "discard":
		if !c.multi {
			w.err("ERR DISCARD without MULTI")
			return w.b
		}
		c.Close()
		w.ok()
		return w.b
	case "exec":
		return c.exec(ctx, w)
	case "watch":
		if c.multi {
			w.err("ERR WATCH inside MULTI is not allowed")
			return w.b
		}
		if err := c.watch(args[1:]); err != nil {
			writeErr(w, err)
			return w.b
		}
		w.ok()
		return w.b
	}
	c.run(ctx, cmd, args, w)
	return w.b
}

func safeName(args [][]byte) string {
	if len(args) == 0 {
		return ""
	}
	return clip128(args[0])
}

// writeErr writes err as a reply (see handler).
func writeErr(w *writer, err error) {
	var re replyErr
	if errors.As(err, &re) {
		w.err(string(re))
		return
	}
	w.err("ERR disk store: " + err.Error())
}

// run executes one command outside MULTI.
func (c *Conn) run(ctx context.Context, cmd *command, args [][]byte, w *writer) {
	s := c.s
	if err := ctx.Err(); err != nil {
		writeErr(w, err)
		return
	}
	if cmd.flags&flagConnOnly != 0 {
		t := tx{s: s, conn: c, ldb: c.db, proto: c.proto, now: time.Now().UnixMilli()}
		if err := cmd.fn(&t, w, args); err != nil {
			writeErr(w, err)
		}
		return
	}
	global := cmd.flags&flagGlobal != 0
	if global {
		s.global.Lock()
		defer s.global.Unlock()
	} else {
		s.global.RLock()
		defer s.global.RUnlock()
	}
	if s.closed.Load() {
		w.err("ERR disk store: " + ErrClosed.Error())
		return
	}
	db := s.dbmap[c.db]
	write := cmd.flags&flagWrite != 0
	if !global {
		c.keyBuf = cmd.keyArgs(args, c.keyBuf[:0])
		c.stripe = appendStripes(c.stripe[:0], db, c.keyBuf)
		s.lockStripes(c.stripe, write)
		defer s.unlockStripes(c.stripe, write)
	}
	plain := write && cmd.flags&flagPlainBatch != 0
	t := s.newTx(db, write && !plain, c.proto)
	if plain {
		t.plain()
	}
	defer s.releaseTx(t)
	t.conn, t.ldb, t.now = c, c.db, time.Now().UnixMilli()
	mark := len(w.b)
	if err := cmd.fn(t, w, args); err != nil {
		w.b = w.b[:mark]
		writeErr(w, err)
		return
	}
	if err := s.commit(t); err != nil {
		w.b = w.b[:mark]
		writeErr(w, err)
	}
}

// appendStripes appends the sorted, distinct lock stripes of keys in db.
func appendStripes(dst []uint16, db uint8, keys [][]byte) []uint16 {
	for _, k := range keys {
		dst = insertStripe(dst, stripeOf(db, k))
	}
	return dst
}

func insertStripe(dst []uint16, s uint16) []uint16 {
	i := len(dst)
	for i > 0 && dst[i-1] > s {
		i--
	}
	if i > 0 && dst[i-1] == s {
		return dst
	}
	dst = append(dst, 0)
	copy(dst[i+1:], dst[i:])
	dst[i] = s
	return dst
}

// lockStripes takes stripes (sorted ascending: the lock order) shared or
// exclusive. The caller holds global shared.
func (s *Store) lockStripes(stripes []uint16, excl bool) {
	for _, i := range stripes {
		if excl {
			s.stripes[i].Lock()
		} else {
			s.stripes[i].RLock()
		}
	}
}

func (s *Store) unlockStripes(stripes []uint16, excl bool) {
	for j := len(stripes) - 1; j >= 0; j-- {
		if excl {
			s.stripes[stripes[j]].Unlock()
		} else {
			s.stripes[stripes[j]].RUnlock()
		}
	}
}

// exec runs the queued transaction: under the locks of every key it names
// (and every watched key), as one batch, replying with an array of the
// replies, or a null array when a watched key changed.
func (c *Conn) exec(ctx context.Context, w *writer) []byte {
	if !c.multi {
		w.err("ERR EXEC without MULTI")
		return w.b
	}
	s := c.s
	queue := c.queue
	if err := ctx.Err(); err != nil {
		c.Close()
		writeErr(w, err)
		return w.b
	}
	if c.multiErr {
		c.Close()
		w.err("EXECABORT Transaction discarded because of previous errors.")
		return w.b
	}
	global := false
	for _, q := range queue {
		cmd, _ := lookupCommand(q)
		if cmd.flags&flagGlobal != 0 {
			global = true
		}
	}
	if global {
		s.global.Lock()
		defer s.global.Unlock()
	} else {
		s.global.RLock()
		defer s.global.RUnlock()
	}
	defer c.Close()
	if s.closed.Load() {
		w.err("ERR disk store: " + ErrClosed.Error())
		return w.b
	}
	if !global {
		// Key locks of every command, following SELECTs inside the queue.
		ldb := c.db
		c.stripe = c.stripe[:0]
		for _, q := range queue {
			cmd, _ := lookupCommand(q)
			if cmd.name == "select" {
				if n, err := strconv.Atoi(string(q[1])); err == nil && n >= 0 && n < s.opts.Databases {
					ldb = n
				}
				continue
			}
			c.keyBuf = cmd.keyArgs(q, c.keyBuf[:0])
			for _, k := range c.keyBuf {
				c.stripe = insertStripe(c.stripe, stripeOf(s.dbmap[ldb], k))
			}
		}
		for _, wk := range c.watched {
			c.stripe = insertStripe(c.stripe, stripeOf(wk.key[0], []byte(wk.key[1:])))
		}
		s.lockStripes(c.stripe, true)
		defer s.unlockStripes(c.stripe, true)
	}
	now := time.Now().UnixMilli()
	if c.casDirty.Load() || c.watchedExpired(now) {
		w.nullArray()
		return w.b
	}
	t := s.newTx(s.dbmap[c.db], true, c.proto)
	defer s.releaseTx(t)
	t.conn, t.ldb, t.now, t.inExec = c, c.db, now, true
	mark := len(w.b)
	w.array(len(queue))
	for _, q := range queue {
		cmd, _ := lookupCommand(q)
		s.commands.Add(1)
		t.db, t.ldb = s.dbmap[c.db], c.db
		if err := cmd.fn(t, w, q); err != nil {
			writeErr(w, err)
		}
	}
	if err := s.commit(t); err != nil {
		w.b = w.b[:mark]
		writeErr(w, err)
	}
	return w.b
}
