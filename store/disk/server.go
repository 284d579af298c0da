package disk

import (
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

func init() {
	register(
		&command{name: "ping", arity: -1, flags: flagConnOnly, fn: pingCmd},
		&command{name: "echo", arity: 2, flags: flagConnOnly, fn: echoCmd},
		&command{name: "select", arity: 2, flags: flagConnOnly, fn: selectCmd},
		&command{name: "time", arity: 1, flags: flagConnOnly, fn: timeCmd},
		&command{name: "info", arity: -1, fn: infoCmd},
		&command{name: "multi", arity: 1, flags: flagTxControl},
		&command{name: "exec", arity: 1, flags: flagTxControl},
		&command{name: "discard", arity: 1, flags: flagTxControl},
		&command{name: "watch", arity: -2, flags: flagTxControl, first: 1, last: -1},
		&command{name: "unwatch", arity: 1, flags: flagConnOnly, fn: unwatchCmd},
		&command{name: "config", arity: -2, flags: flagConnOnly, fn: containerCmd},
		&command{name: "function", arity: -2, flags: flagConnOnly, fn: containerCmd},
		&command{name: "script", arity: -2, flags: flagConnOnly, fn: containerCmd},
		&command{name: "command", arity: -1, flags: flagConnOnly, fn: commandCmd},
	)
	registerSub("config",
		&command{name: "config|get", arity: -3, flags: flagConnOnly, fn: configGetCmd},
		&command{name: "config|set", arity: -4, flags: flagConnOnly, fn: configSetCmd},
		&command{name: "config|resetstat", arity: 2, flags: flagConnOnly, fn: okCmd},
		&command{name: "config|rewrite", arity: 2, flags: flagConnOnly, fn: configRewriteCmd},
	)
	registerSub("function",
		&command{name: "function|flush", arity: -2, flags: flagConnOnly, fn: flushModeCmd},
	)
	registerSub("script",
		&command{name: "script|flush", arity: -2, flags: flagConnOnly, fn: flushModeCmd},
	)
	registerSub("command",
		&command{name: "command|count", arity: 2, flags: flagConnOnly, fn: commandCountCmd},
		&command{name: "command|list", arity: -2, flags: flagConnOnly, fn: commandListCmd},
		&command{name: "command|info", arity: -2, flags: flagConnOnly, fn: commandInfoCmd},
		&command{name: "command|docs", arity: -2, flags: flagConnOnly, fn: commandDocsCmd},
	)
}

func pingCmd(t *tx, w *writer, args [][]byte) error {
	switch len(args) {
	case 1:
		w.simple("PONG")
	case 2:
		w.bulk(args[1])
	default:
		return arityErr("ping")
	}
	return nil
}

func echoCmd(t *tx, w *writer, args [][]byte) error {
	w.bulk(args[1])
	return nil
}

func okCmd(t *tx, w *writer, args [][]byte) error {
	w.ok()
	return nil
}

// selectCmd is SELECT, for proxies that let the engine track the db (the
// proxy may also call SetDB itself). Inside MULTI it is queued and applied
// in order, as in Redis.
func selectCmd(t *tx, w *writer, args [][]byte) error {
	n, ok := parseInt(args[1])
	if !ok || n < -1<<31 || n > 1<<31-1 {
		return errNotInt
	}
	if n < 0 || n >= int64(t.s.opts.Databases) {
		return errDBIndex
	}
	t.conn.db = int(n)
	t.ldb = int(n)
	if t.inExec {
		t.db = t.s.dbmap[n]
	}
	w.ok()
	return nil
}

func timeCmd(t *tx, w *writer, args [][]byte) error {
	now := time.Now()
	w.array(2)
	w.bulkInt(now.Unix())
	w.bulkInt(int64(now.Nanosecond() / 1000))
	return nil
}

func unwatchCmd(t *tx, w *writer, args [][]byte) error {
	t.s.unwatchAll(t.conn)
	w.ok()
	return nil
}

// containerCmd answers a container command called without a known
// subcommand name (CONFIG alone has arity -2, so this is reached only
// through a subcommand lookup failure, which the dispatcher reports).
func containerCmd(t *tx, w *writer, args [][]byte) error {
	return replyErr("ERR unknown subcommand '" + clip128(args[1]) + "'. Try " + strings.ToUpper(string(args[0])) + " HELP.")
}

// flushModeCmd is FUNCTION FLUSH and SCRIPT FLUSH: the engine has no
// scripts or functions, so there is nothing to flush.
func flushModeCmd(t *tx, w *writer, args [][]byte) error {
	if len(args) > 3 || (len(args) == 3 && !eqFold(args[2], "async") && !eqFold(args[2], "sync")) {
		switch {
		case eqFold(args[0], "script"):
			return replyErr("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
		case len(args) == 3:
			return replyErr("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
		}
		return errSyntax
	}
	w.ok()
	return nil
}

// Configuration parameters the engine exposes through CONFIG GET/SET.
// appendfsync maps onto Options.Fsync and can be changed at run time.
var configParams = []string{"appendfsync", "databases", "dir", "proto-max-bulk-len"}

func (s *Store) configValue(name string) string {
	switch name {
	case "appendfsync":
		return s.fsyncPolicy()
	case "databases":
		return strconv.Itoa(s.opts.Databases)
	case "dir":
		return s.opts.Dir
	case "proto-max-bulk-len":
		return strconv.Itoa(protoMaxBulkLen)
	}
	return ""
}

func configGetCmd(t *tx, w *writer, args [][]byte) error {
	var names []string
	for _, p := range args[2:] {
		for _, name := range configParams {
			if globMatch(p, []byte(name), true) && !containsString(names, name) {
				names = append(names, name)
			}
		}
	}
	w.mapHeader(len(names))
	for _, n := range names {
		w.bulkString(n)
		w.bulkString(t.s.configValue(n))
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func configSetCmd(t *tx, w *writer, args [][]byte) error {
	if len(args)%2 != 0 {
		return arityErr("config|set")
	}
	// Validate everything first: CONFIG SET is all or nothing.
	policy := ""
	for i := 2; i < len(args); i += 2 {
		name := string(lower(args[i]))
		switch name {
		case "appendfsync":
			v := string(lower(args[i+1]))
			if v != FsyncAlways && v != FsyncEverysec && v != FsyncNo {
				return replyErr("ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) must be one of the following: everysec, always, no")
			}
			policy = v
		case "databases", "dir", "proto-max-bulk-len":
			return replyErr("ERR CONFIG SET failed (possibly related to argument '" + name + "') - can't set immutable config")
		default:
			return replyErr("ERR Unknown option or number of arguments for CONFIG SET - '" + string(args[i]) + "'")
		}
	}
	if policy != "" {
		t.s.setFsyncPolicy(policy)
	}
	w.ok()
	return nil
}

func configRewriteCmd(t *tx, w *writer, args [][]byte) error {
	return replyErr("ERR The server is running without a config file")
}

// infoSections are the sections INFO knows, in Redis's order.
var infoSections = []string{"server", "clients", "memory", "persistence", "stats", "replication", "cpu", "cluster", "keyspace"}

func infoCmd(t *tx, w *writer, args [][]byte) error {
	want := map[string]bool{}
	all := len(args) == 1
	for _, a := range args[1:] {
		s := string(lower(a))
		switch s {
		case "all", "everything", "default":
			all = true
		default:
			want[s] = true
		}
	}
	var b strings.Builder
	for _, sec := range infoSections {
		if !all && !want[sec] {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		t.s.infoSection(t, &b, sec)
	}
	w.verbatim(b.String())
	return nil
}

func (s *Store) infoSection(t *tx, b *strings.Builder, sec string) {
	line := func(k, v string) {
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(v)
		b.WriteString("\r\n")
	}
	itoa := func(n int64) string { return strconv.FormatInt(n, 10) }
	switch sec {
	case "server":
		b.WriteString("# Server\r\n")
		line("redis_version", "7.0.15")
		line("redis_mode", "standalone")
		line("os", runtime.GOOS+" "+runtime.GOARCH)
		line("arch_bits", "64")
		line("process_id", strconv.Itoa(os.Getpid()))
		line("run_id", s.runID)
		up := time.Since(s.started)
		line("uptime_in_seconds", itoa(int64(up/time.Second)))
		line("uptime_in_days", itoa(int64(up/(24*time.Hour))))
		line("executable", "respcache")
		line("disk_store", "pebble")
		line("disk_dir", s.opts.Dir)
	case "clients":
		b.WriteString("# Clients\r\n")
		line("watching_keys", itoa(s.nwatch.Load()))
	case "memory":
		b.WriteString("# Memory\r\n")
		m := s.db.Metrics()
		line("disk_block_cache_bytes", itoa(m.BlockCache.Size))
		line("disk_memtable_bytes", itoa(int64(m.MemTable.Size)))
		line("disk_total_bytes", itoa(int64(m.DiskSpaceUsage())))
	case "persistence":
		b.WriteString("# Persistence\r\n")
		line("loading", "0")
		line("aof_enabled", "0")
		line("disk_fsync", s.fsyncPolicy())
	case "stats":
		b.WriteString("# Stats\r\n")
		line("total_commands_processed", itoa(s.commands.Load()))
		line("expired_keys", itoa(s.expiredKeys.Load()))
	case "replication":
		b.WriteString("# Replication\r\n")
		line("role", "master")
		line("connected_slaves", "0")
	case "cpu":
		b.WriteString("# CPU\r\n")
	case "cluster":
		b.WriteString("# Cluster\r\n")
		line("cluster_enabled", "0")
	case "keyspace":
		b.WriteString("# Keyspace\r\n")
		now := time.Now().UnixMilli()
		var r pebble.Reader = s.db
		if t != nil && t.r != nil {
			r = t.r
		}
		for ldb, pdb := range s.dbmap {
			keys, expires, err := s.liveCounts(r, pdb, now)
			if t != nil {
				pk, pe := t.pendingDelta(pdb)
				keys, expires = keys+pk, expires+pe
			}
			if err != nil || keys <= 0 {
				continue
			}
			b.WriteString("db" + strconv.Itoa(ldb) + ":keys=" + itoa(keys) + ",expires=" + itoa(expires) +
				",avg_ttl=" + itoa(s.avgTTL(r, pdb, now)) + "\r\n")
		}
	}
}

// avgTTL estimates the average remaining TTL (ms) of db's volatile keys
// from the first entries of the TTL index (Redis estimates it by sampling
// too; the figures are not comparable digit for digit).
func (s *Store) avgTTL(r pebble.Reader, db uint8, now int64) int64 {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: appendExpireKey(nil, now+1, 0, nil), UpperBound: []byte{prefixExpire + 1}})
	if err != nil {
		return 0
	}
	defer it.Close()
	var sum, n int64
	for ok := it.First(); ok && n < 100; ok = it.Next() {
		at, d, _, ok := decodeExpireKey(it.Key())
		if ok && d == db {
			sum += at - now
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / n
}

// fsyncPolicy returns the current Fsync policy.
func (s *Store) fsyncPolicy() string {
	if p := s.policy.Load(); p != nil {
		return *p
	}
	return s.opts.Fsync
}

// setFsyncPolicy switches the Fsync policy at run time (CONFIG SET
// appendfsync): commits use Sync from the next command on, and the
// background sync runs only under everysec.
func (s *Store) setFsyncPolicy(p string) {
	s.policy.Store(&p)
	if p == FsyncAlways {
		s.syncWrites.Store(true)
	} else {
		s.syncWrites.Store(false)
	}
}

// proxyCommands are handled by the proxy in front of the engine; COMMAND
// lists them so that clients see everything respcache answers.
var proxyCommands = []string{"auth", "hello", "client", "quit", "reset"}

// supportedCommands returns the top-level names COMMAND describes, sorted.
func supportedCommands() []string {
	names := append([]string(nil), proxyCommands...)
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// CommandNames returns the lowercase names of the commands the engine
// executes (subcommands as "container|sub"), sorted. The caller owns the
// slice. The proxy uses it to route commands to the engine.
func CommandNames() []string {
	var names []string
	for n, c := range commands {
		names = append(names, n)
		for sub := range c.subs {
			names = append(names, n+"|"+sub)
		}
	}
	sort.Strings(names)
	return names
}

func commandCmd(t *tx, w *writer, args [][]byte) error {
	d, err := loadCommandData()
	if err != nil {
		return err
	}
	names := supportedCommands()
	mark := len(w.b)
	w.array(0)
	n := 0
	for _, name := range names {
		if f := d.info[protoIdx(w.proto)][name]; f != nil {
			w.raw(f)
			n++
		}
	}
	fixCount(w, mark, '*', n)
	return nil
}

// fixCount rewrites the aggregate header written at mark with count n.
func fixCount(w *writer, mark int, typ byte, n int) {
	body := append([]byte(nil), w.b[mark+4:]...) // header was typ '0' CR LF
	w.b = w.b[:mark]
	w.header(typ, n)
	w.b = append(w.b, body...)
}

func protoIdx(p int) int {
	if p == 3 {
		return 1
	}
	return 0
}

func commandCountCmd(t *tx, w *writer, args [][]byte) error {
	d, err := loadCommandData()
	if err != nil {
		return err
	}
	n := 0
	for _, name := range supportedCommands() {
		if d.info[0][name] != nil {
			n++
		}
	}
	w.int(int64(n))
	return nil
}

func commandListCmd(t *tx, w *writer, args [][]byte) error {
	var filter func(name string, info []byte) bool
	if len(args) > 2 {
		if len(args) != 5 || !eqFold(args[2], "filterby") {
			return errSyntax
		}
		arg := args[4]
		switch {
		case eqFold(args[3], "pattern"):
			filter = func(name string, _ []byte) bool { return globMatch(arg, []byte(name), true) }
		case eqFold(args[3], "aclcat"):
			filter = func(_ string, info []byte) bool { return hasACLCategory(info, arg) }
		case eqFold(args[3], "module"):
			filter = func(string, []byte) bool { return false } // no modules
		default:
			return errSyntax
		}
	}
	d, err := loadCommandData()
	if err != nil {
		return err
	}
	type entry struct {
		name string
		info []byte
	}
	var out []entry
	for _, name := range supportedCommands() {
		info := d.info[0][name]
		if info == nil {
			continue
		}
		out = append(out, entry{name, info})
		if c := commands[name]; c != nil {
			for sub := range c.subs {
				out = append(out, entry{name + "|" + sub, subcommandInfo(info, name+"|"+sub)})
			}
		}
	}
	mark := len(w.b)
	w.array(0)
	n := 0
	for _, e := range out {
		if filter == nil || filter(e.name, e.info) {
			w.bulkString(e.name)
			n++
		}
	}
	fixCount(w, mark, '*', n)
	return nil
}

// hasACLCategory reports whether a RESP2 COMMAND INFO entry lists the ACL
// category cat (element 7: an array of +@category).
func hasACLCategory(info, cat []byte) bool {
	fields, ok := aggregateElems(info)
	if !ok || len(fields) < 7 {
		return false
	}
	cats, ok := aggregateElems(fields[6])
	if !ok {
		return false
	}
	for _, c := range cats {
		if v, ok := bulkValue(c); ok && len(v) == len(cat)+1 && v[0] == '@' && eqFold(cat, string(lower(v[1:]))) {
			return true
		}
	}
	return false
}

// subcommandInfo finds the entry of sub (e.g. "config|get") among the
// subcommands of a RESP2 COMMAND INFO entry (element 10).
func subcommandInfo(info []byte, sub string) []byte {
	fields, ok := aggregateElems(info)
	if !ok || len(fields) < 10 {
		return nil
	}
	subs, ok := aggregateElems(fields[9])
	if !ok {
		return nil
	}
	for _, e := range subs {
		f, ok := aggregateElems(e)
		if !ok || len(f) == 0 {
			continue
		}
		if v, ok := bulkValue(f[0]); ok && string(v) == sub {
			return e
		}
	}
	return nil
}

func isSupported(name string) bool {
	if commands[name] != nil {
		return true
	}
	return containsString(proxyCommands, name)
}

func commandInfoCmd(t *tx, w *writer, args [][]byte) error {
	if len(args) == 2 {
		return commandCmd(t, w, args)
	}
	d, err := loadCommandData()
	if err != nil {
		return err
	}
	w.array(len(args) - 2)
	for _, a := range args[2:] {
		name := string(lower(a))
		if f := d.info[protoIdx(w.proto)][name]; f != nil && isSupported(name) {
			w.raw(f)
		} else {
			w.null()
		}
	}
	return nil
}

func commandDocsCmd(t *tx, w *writer, args [][]byte) error {
	d, err := loadCommandData()
	if err != nil {
		return err
	}
	var names []string
	if len(args) == 2 {
		names = supportedCommands()
	} else {
		for _, a := range args[2:] {
			names = append(names, string(lower(a)))
		}
	}
	mark := len(w.b)
	if w.proto == 3 {
		w.header('%', 0)
	} else {
		w.array(0)
	}
	n := 0
	for _, name := range names {
		if f := d.docs[protoIdx(w.proto)][name]; f != nil && isSupported(name) {
			w.bulkString(name)
			w.raw(f)
			n++
		}
	}
	if w.proto == 3 {
		fixCount(w, mark, '%', n)
	} else {
		fixCount(w, mark, '*', 2*n)
	}
	return nil
}
