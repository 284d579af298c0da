package main

// respcache migrate copies the embedded disk store into a Redis or a Redis
// Cluster, so that a deployment can switch backend.type from disk to redis
// without losing data.
//
// # How a key travels
//
// The source is read through the disk store's own command engine (a
// disk.Conn, RESP2 replies parsed with package resp), never through its
// on-disk layout, so migrate stays correct whatever the layout version.
// Every logical db is walked with SCAN; for each key migrate reads TYPE,
// PEXPIRETIME (the absolute deadline, read once, so the TTL does not drift
// however long the copy takes) and the value: GET, HGETALL, SMEMBERS, and
// LRANGE / ZRANGE ... WITHSCORES in ranges of readChunk elements so that no
// single reply of the engine grows with the size of a big key. Scores are
// copied as the strings the engine prints (Redis's %.17g form, "inf",
// "-inf"), which round-trip exactly.
//
// Keys are written in batches of --batch keys, one round trip per batch. To
// a standalone Redis a batch is one MULTI/EXEC (go-redis TxPipeline) on the
// db's own connection (Options.DB), so every key arrives whole or not at
// all: DEL (only with --replace), SET / HSET / RPUSH / SADD / ZADD in
// chunks of writeChunk elements, then PEXPIREAT. go-redis cannot put keys
// of different slots into one cluster transaction, so to a cluster a batch
// is a plain pipeline: go-redis sends each node its commands in order on one
// connection, so a key's commands still run in order; a key whose write
// failed half-way is reported and can be rewritten with --replace.
//
// Reading and writing overlap (see copyDB): a SCAN goroutine, copyReaders
// reader goroutines and the writer, which is the only one to count.
//
// Without --replace a key that already exists on the target is not touched:
// an EXISTS round trip per batch finds them, and they are listed as errors.
// That check and the write are two steps; nothing else should write to the
// target during a migration.
//
// # Expiry during the copy
//
// The disk store keeps expiring keys while migrate runs. A key whose
// deadline has passed by the time it would be written is skipped and
// counted as expired, whether it vanished between SCAN and TYPE, between two
// LRANGE chunks, or not at all. Because the store is locked by migrate (the
// proxy is stopped), expiry is the only thing that can change a key while
// it is read, and it only strikes keys whose deadline has passed: a key
// whose deadline is still ahead after its value was read was read whole.

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/respcache/respcache/config"
	"github.com/respcache/respcache/resp"
	"github.com/respcache/respcache/store/disk"
)

const (
	// readChunk is the number of list items or zset members read per
	// LRANGE / ZRANGE from the source.
	readChunk = 1000
	// writeChunk is the number of elements (fields, members, items) per
	// HSET / SADD / RPUSH / ZADD sent to the target; it keeps each command
	// far below the target's proto-max-bulk-len and client query buffer.
	writeChunk = 1000
	// scanCount is the COUNT of each SCAN on the source.
	scanCount = 1000
	// batchMaxBytes caps the payload of one batch, whatever --batch says,
	// so that a batch of big keys does not have to sit in memory twice.
	batchMaxBytes = 16 << 20
	// copyReaders is the number of goroutines reading keys from the
	// source, each on its own disk.Conn. A point read of the disk store
	// costs about as much as a pipelined write to Redis, and part of it is
	// waiting for the disk, so a few readers keep the writer busy.
	copyReaders = 4
	// readJob is the number of keys handed to a reader at a time.
	readJob = 64
	// maxListed is how many key errors and verify mismatches the summary
	// prints; the counts are always complete.
	maxListed = 50
)

// Errors of the migrate subcommand.
var (
	errMigrateLocked     = errors.New("migrate: the disk store is in use (stop respcache first)")
	errMigrateNoStore    = errors.New("migrate: no disk store")
	errMigrateTarget     = errors.New("migrate: target unreachable")
	errMigrateRefused    = errors.New("migrate: the target refused the connection setup")
	errMigrateClusterDBs = errors.New("migrate: a Redis Cluster has only db 0")
)

// migrateOptions are the flags of respcache migrate.
type migrateOptions struct {
	to           string
	cluster      bool
	configPath   string
	dataDir      string
	username     string
	password     string
	tls          config.RedisTLS
	replace      bool
	dryRun       bool
	batch        int
	db0Only      bool
	verifyAll    bool
	verifySample int
	progress     time.Duration
	timeout      time.Duration
}

func runMigrate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("respcache migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o migrateOptions
	fs.StringVar(&o.to, "to", "", "target Redis `host:port` (with --cluster: any node of the cluster)")
	fs.BoolVar(&o.cluster, "cluster", false, "the target is a Redis Cluster (only db 0 exists there)")
	fs.StringVar(&o.configPath, "config", "", "respcache YAML configuration `file` (backend.disk.dir is the source)")
	fs.StringVar(&o.dataDir, "data", "", "disk store `dir` (overrides backend.disk.dir)")
	fs.StringVar(&o.username, "username", "", "target ACL user")
	fs.StringVar(&o.password, "password", "", "target password")
	fs.BoolVar(&o.tls.Enabled, "tls", false, "connect to the target with TLS")
	fs.StringVar(&o.tls.CAFile, "tls-ca", "", "CA `file` (PEM) verifying the target (implies --tls)")
	fs.StringVar(&o.tls.CertFile, "tls-cert", "", "client certificate `file` (PEM) (implies --tls)")
	fs.StringVar(&o.tls.KeyFile, "tls-key", "", "client key `file` (PEM) (implies --tls)")
	fs.StringVar(&o.tls.ServerName, "tls-server-name", "", "server `name` expected in the target's certificate (implies --tls)")
	fs.BoolVar(&o.tls.InsecureSkipVerify, "tls-insecure", false, "do not verify the target's certificate (implies --tls)")
	fs.BoolVar(&o.replace, "replace", false, "overwrite keys that already exist on the target (default: list them as errors)")
	fs.BoolVar(&o.dryRun, "dry-run", false, "read and count the source only; write nothing")
	fs.IntVar(&o.batch, "batch", 100, "keys per pipelined round trip to the target")
	fs.BoolVar(&o.db0Only, "db0-only", false, "with --cluster: copy db 0 and skip keys of other dbs instead of refusing")
	fs.BoolVar(&o.verifyAll, "verify", false, "after copying, compare every key with the target (default: a sample)")
	fs.IntVar(&o.verifySample, "verify-sample", 1000, "keys compared after copying when --verify is not given; 0 = none")
	fs.DurationVar(&o.progress, "progress", 5*time.Second, "interval of the progress line on stderr; 0 = none")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "dial, read and write timeout towards the target")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: respcache migrate --to HOST:PORT [--cluster] [flags]\n\n"+
			"Copies every key of the disk store (type, value, TTL) into a Redis or Redis Cluster.\n"+
			"respcache must not be running on the store.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "respcache migrate: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if o.to == "" && !o.dryRun {
		fmt.Fprintln(stderr, "respcache migrate: --to HOST:PORT is required")
		return 2
	}
	if o.batch < 1 {
		fmt.Fprintln(stderr, "respcache migrate: --batch must be >= 1")
		return 2
	}
	if o.db0Only && !o.cluster {
		fmt.Fprintln(stderr, "respcache migrate: --db0-only applies to --cluster only")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	m, err := newMigrator(ctx, o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "respcache "+err.Error())
		return 1
	}
	defer m.close()
	if err := m.run(ctx); err != nil {
		m.interrupted = ctx.Err() != nil
		m.summary(stdout)
		fmt.Fprintln(stderr, "respcache "+err.Error())
		return 1
	}
	m.summary(stdout)
	if m.errCount > 0 || len(m.mismatches) > 0 || m.mismatchCount > 0 {
		return 1
	}
	return 0
}

// keyValue is one key read from the source. elems holds the value in the
// source's reply order: the string (one element), list items, hash field
// and value pairs, set members, or zset member and score pairs (score as
// the engine prints it). All slices are owned by the keyValue.
type keyValue struct {
	db       int
	key      []byte
	typ      string
	deadline int64 // unix ms; 0 = no TTL
	elems    [][]byte
	size     int // bytes of key and elems
}

// migrator holds one migration: the source store, the target clients and
// the counters of the summary. The counters and lists are touched only by
// the goroutine that runs run(); the progress goroutine reads only the
// atomics and dbKeys (written before it starts); copyDB's scanner and
// readers use their own srcConns and talk to run() through channels.
type migrator struct {
	o      migrateOptions
	stderr io.Writer
	dir    string

	st  *disk.Store
	src *srcConn // the source connection of the calling goroutine

	clients map[int]redis.UniversalClient // target per db; only db 0 with --cluster

	started  time.Time
	copyTime time.Duration // the copy without verify; 0 until it finished
	copied   atomic.Int64  // keys written (or counted, with --dry-run)
	read     atomic.Int64  // keys read from the source

	counts        map[int]map[string]int64 // db -> type -> keys copied
	dbKeys        map[int]int64            // DBSIZE per db before the copy
	expired       int64                    // keys skipped: expired during the copy
	skippedDBs    int64                    // keys skipped: db > 0 with --db0-only
	errCount      int64
	errs          []string // the first maxListed key errors
	verified      int64
	mismatchCount int64
	mismatches    []string // the first maxListed verify mismatches
	sample        []sampleKey
	sampleSeen    int64
	interrupted   bool
}

type sampleKey struct {
	db  int
	key []byte
}

func newMigrator(ctx context.Context, o migrateOptions, stderr io.Writer) (*migrator, error) {
	cfg, err := config.Load(config.LoadOptions{Path: o.configPath, Env: os.Environ()})
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	dc := cfg.Backend.Disk
	dir := dc.Dir
	if o.dataDir != "" {
		dir = o.dataDir
	}
	// disk.Open creates a missing store; a migration from a wrong path must
	// say so instead of copying an empty store it just created.
	if !isPebbleDir(dir) {
		return nil, fmt.Errorf("%w at %s (backend.disk.dir; pass --data DIR or --config FILE)", errMigrateNoStore, dir)
	}
	m := &migrator{
		o: o, stderr: stderr, dir: dir,
		clients: map[int]redis.UniversalClient{},
		counts:  map[int]map[string]int64{},
		dbKeys:  map[int]int64{},
	}
	st, err := disk.Open(disk.Options{
		Dir: dir, Fsync: dc.Fsync, BlockCache: int64(dc.BlockCache), Memtable: int64(dc.Memtable),
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		if isLockErr(err) {
			return nil, fmt.Errorf("%w: %s is locked by another process: %v", errMigrateLocked, dir, err)
		}
		return nil, fmt.Errorf("migrate: %w", err)
	}
	m.st = st
	m.src = m.newSrcConn()
	if o.dryRun && o.to == "" {
		return m, nil
	}
	if err := m.connect(ctx); err != nil {
		m.close()
		return nil, err
	}
	return m, nil
}

// isPebbleDir reports whether dir holds a pebble database (its OPTIONS or
// MANIFEST files).
func isPebbleDir(dir string) bool {
	for _, pat := range []string{"OPTIONS-*", "MANIFEST-*"} {
		if ms, _ := filepath.Glob(filepath.Join(dir, pat)); len(ms) > 0 {
			return true
		}
	}
	return false
}

// isLockErr recognizes pebble's refusal to open a directory another opener
// holds: fcntl's EAGAIN/EACCES from another process, or pebble's own
// registry within this process.
func isLockErr(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) ||
		strings.Contains(err.Error(), "lock held by current process")
}

// connect builds the target clients (one per non-empty db, or the cluster
// client) and checks that each answers PING, so that an unreachable target
// or an out-of-range db fails before anything is copied.
//
// Retries are off: go-redis would resend a pipeline whose connection broke
// after the server ran part of it, and RPUSH is not idempotent. A failed key
// is reported instead, and a second run with --replace rewrites it whole.
func (m *migrator) connect(ctx context.Context) error {
	tc, err := upstreamTLS(m.o.tls)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if m.o.cluster {
		c := redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: []string{m.o.to}, Username: m.o.username, Password: m.o.password, TLSConfig: tc,
			Protocol: 2, DialTimeout: m.o.timeout, ReadTimeout: m.o.timeout, WriteTimeout: m.o.timeout,
			MaxRetries: -1, DisableIdentity: true,
		})
		m.clients[0] = c
		if err := c.Ping(ctx).Err(); err != nil {
			return targetError(err, "cluster at "+m.o.to)
		}
		return nil
	}
	for db := 0; db < m.st.Databases(); db++ {
		n, err := m.src.dbsize(ctx, db)
		if err != nil {
			return err
		}
		if n == 0 && db != 0 {
			continue
		}
		c := redis.NewClient(&redis.Options{
			Addr: m.o.to, DB: db, Username: m.o.username, Password: m.o.password, TLSConfig: tc,
			Protocol: 2, DialTimeout: m.o.timeout, ReadTimeout: m.o.timeout, WriteTimeout: m.o.timeout,
			PoolSize: 2, MaxRetries: -1, DisableIdentity: true,
		})
		m.clients[db] = c
		if err := c.Ping(ctx).Err(); err != nil {
			return targetError(err, fmt.Sprintf("%s db %d", m.o.to, db))
		}
		if db != 0 {
			continue
		}
		// A cluster node takes writes for its own slots and answers MOVED
		// for the rest: refuse up front rather than fail most keys.
		info, err := c.Info(ctx, "cluster").Result()
		if err == nil && strings.Contains(info, "cluster_enabled:1") {
			return fmt.Errorf("%w: %s is a cluster node: pass --cluster", errMigrateRefused, m.o.to)
		}
	}
	return nil
}

// targetError tells a target that answered with an error (AUTH, SELECT,
// cluster support) from one that could not be reached.
func targetError(err error, where string) error {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return fmt.Errorf("%w: %s: %v", errMigrateTarget, where, err)
	}
	hint := ""
	switch msg := err.Error(); {
	case strings.Contains(msg, "cluster mode"):
		hint = " (the target is a cluster: pass --cluster)"
	case strings.Contains(msg, "cluster support disabled"):
		hint = " (the target is not a cluster: drop --cluster)"
	}
	return fmt.Errorf("%w: %s: %v%s", errMigrateRefused, where, err, hint)
}

func (m *migrator) close() {
	for _, c := range m.clients {
		c.Close()
	}
	if m.src != nil {
		m.src.c.Close()
	}
	if m.st != nil {
		m.st.Close()
	}
}

// srcConn is one connection to the source store with its reply buffers.
// It is used by one goroutine at a time; each reader goroutine has its own.
type srcConn struct {
	c   *disk.Conn
	buf []byte   // the last reply
	el  [][]byte // scratch for resp.Elements
}

// do runs one command on the source and returns its reply, which is valid
// until the next call. An error reply becomes an error.
func (sc *srcConn) do(ctx context.Context, db int, args ...[]byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sc.c.SetDB(db)
	sc.buf = sc.c.Do(ctx, args, sc.buf[:0])
	if msg, ok := resp.IsError(sc.buf); ok {
		return nil, fmt.Errorf("source %s: %s", bytes.ToUpper(args[0]), msg)
	}
	return sc.buf, nil
}

func (sc *srcConn) dbsize(ctx context.Context, db int) (int64, error) {
	r, err := sc.do(ctx, db, []byte("DBSIZE"))
	if err != nil {
		return 0, fmt.Errorf("migrate: db %d: %w", db, err)
	}
	n, ok := resp.IntValue(r)
	if !ok {
		return 0, fmt.Errorf("migrate: db %d: DBSIZE: unexpected reply %q", db, r)
	}
	return n, nil
}

// scan walks db with SCAN and hands each page of keys (owned by fn) to fn,
// until the cursor returns to 0 or fn returns false.
func (sc *srcConn) scan(ctx context.Context, db int, fn func(keys [][]byte) bool) error {
	cursor := []byte("0")
	count := []byte(strconv.Itoa(scanCount))
	for {
		r, err := sc.do(ctx, db, []byte("SCAN"), cursor, []byte("COUNT"), count)
		if err != nil {
			return fmt.Errorf("migrate: db %d: %w", db, err)
		}
		parts, _, ok := resp.Elements(r, sc.el)
		if !ok || len(parts) != 2 {
			return fmt.Errorf("migrate: db %d: SCAN: unexpected reply", db)
		}
		next, ok := resp.StringValue(parts[0])
		if !ok {
			return fmt.Errorf("migrate: db %d: SCAN: unexpected cursor", db)
		}
		cursor = bytes.Clone(next)
		frames, _, ok := resp.Elements(parts[1], nil)
		if !ok {
			return fmt.Errorf("migrate: db %d: SCAN: unexpected reply", db)
		}
		keys := make([][]byte, 0, len(frames))
		for _, f := range frames {
			k, ok := resp.StringValue(f)
			if !ok {
				return fmt.Errorf("migrate: db %d: SCAN: unexpected key", db)
			}
			keys = append(keys, bytes.Clone(k))
		}
		if !fn(keys) || string(cursor) == "0" {
			return nil
		}
	}
}

// run copies every db, then verifies.
func (m *migrator) run(ctx context.Context) error {
	m.started = time.Now()
	dbs := m.st.Databases()
	for db := 0; db < dbs; db++ {
		n, err := m.src.dbsize(ctx, db)
		if err != nil {
			return err
		}
		if n > 0 {
			m.dbKeys[db] = n
		}
	}
	if m.o.cluster {
		var other []string
		var total int64
		for db := 1; db < dbs; db++ {
			if n := m.dbKeys[db]; n > 0 {
				other = append(other, fmt.Sprintf("db %d: %d keys", db, n))
				total += n
			}
		}
		if len(other) > 0 {
			if !m.o.db0Only {
				return fmt.Errorf("%w, but the store has keys in other dbs (%s); nothing was copied: "+
					"move them into db 0 first, or pass --db0-only to copy db 0 and skip them", errMigrateClusterDBs, strings.Join(other, ", "))
			}
			m.skippedDBs = total
			dbs = 1
		}
	}

	stopProgress := m.startProgress()
	defer stopProgress()
	for db := 0; db < dbs; db++ {
		if m.dbKeys[db] == 0 {
			continue
		}
		if err := m.copyDB(ctx, db); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("migrate: interrupted: %w", ctx.Err())
			}
			return err
		}
	}
	stopProgress()
	m.copyTime = time.Since(m.started)
	if m.o.dryRun {
		return nil
	}
	return m.verify(ctx, dbs)
}

// startProgress prints a progress line on stderr every o.progress and
// returns the function that stops it (idempotent, waits for the goroutine).
func (m *migrator) startProgress() func() {
	if m.o.progress <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(m.o.progress)
		defer t.Stop()
		var total int64
		for _, n := range m.dbKeys {
			total += n
		}
		last, lastAt := int64(0), time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				n := m.copied.Load()
				rate := float64(n-last) / now.Sub(lastAt).Seconds()
				last, lastAt = n, now
				fmt.Fprintf(m.stderr, "migrate: %d/%d keys read, %d copied, %.0f keys/s\n", m.read.Load(), total, n, rate)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

// readResult is what a reader goroutine found for one key: its value, nil
// (expired), or an error.
type readResult struct {
	key []byte
	kv  *keyValue
	err error
}

// copyDB copies one db through three stages, so that reading the source
// (pebble lookups, partly waiting for disk) overlaps writing to the target
// (network round trips): one goroutine SCANs, copyReaders goroutines read
// keys, each on its own disk.Conn, and the calling goroutine batches and
// writes them. Only the calling goroutine touches the summary counters.
func (m *migrator) copyDB(ctx context.Context, db int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan [][]byte, copyReaders)
	results := make(chan readResult, 2*m.o.batch)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(jobs)
		sc := m.newSrcConn()
		defer sc.c.Close()
		err := sc.scan(ctx, db, func(keys [][]byte) bool {
			for len(keys) > 0 {
				n := min(len(keys), readJob)
				select {
				case jobs <- keys[:n]:
				case <-ctx.Done():
					return false
				}
				keys = keys[n:]
			}
			return true
		})
		if err != nil {
			cancel(err)
		}
	}()
	var readers sync.WaitGroup
	for range copyReaders {
		readers.Add(1)
		go func() {
			defer readers.Done()
			sc := m.newSrcConn()
			defer sc.c.Close()
			for keys := range jobs {
				for _, k := range keys {
					kv, err := sc.readKey(ctx, db, k)
					select {
					case results <- readResult{k, kv, err}:
					case <-ctx.Done():
						return
					}
				}
			}
		}()
	}
	go func() {
		readers.Wait()
		close(results)
	}()

	var batch []*keyValue
	batchBytes := 0
	for r := range results {
		if ctx.Err() != nil {
			continue // drain until the readers have stopped
		}
		m.read.Add(1)
		switch {
		case r.err != nil:
			m.keyError(db, r.key, r.err.Error())
			continue
		case r.kv == nil:
			m.expired++
			continue
		case m.o.dryRun:
			m.countCopied(r.kv)
			continue
		}
		batch = append(batch, r.kv)
		batchBytes += r.kv.size
		if len(batch) >= m.o.batch || batchBytes >= batchMaxBytes {
			if err := m.write(ctx, db, batch); err != nil {
				cancel(err)
			}
			batch, batchBytes = batch[:0], 0
		}
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return m.write(ctx, db, batch)
}

func (m *migrator) newSrcConn() *srcConn { return &srcConn{c: m.st.NewConn()} }

// readKey reads key's type, deadline and value from the source. It returns
// nil, nil when the key expired (or vanished) before it was read whole.
func (sc *srcConn) readKey(ctx context.Context, db int, key []byte) (*keyValue, error) {
	r, err := sc.do(ctx, db, []byte("TYPE"), key)
	if err != nil {
		return nil, err
	}
	typ, ok := resp.StringValue(r)
	if !ok {
		return nil, fmt.Errorf("TYPE: unexpected reply %q", r)
	}
	kv := &keyValue{db: db, key: key, typ: string(typ), size: len(key)}
	if kv.typ == "none" {
		return nil, nil
	}
	r, err = sc.do(ctx, db, []byte("PEXPIRETIME"), key)
	if err != nil {
		return nil, err
	}
	dl, ok := resp.IntValue(r)
	if !ok {
		return nil, fmt.Errorf("PEXPIRETIME: unexpected reply %q", r)
	}
	switch {
	case dl == -2:
		return nil, nil
	case dl > 0:
		kv.deadline = dl
	}
	switch kv.typ {
	case "string":
		r, err = sc.do(ctx, db, []byte("GET"), key)
		if err != nil {
			return nil, err
		}
		if resp.IsNull(r) {
			return nil, nil
		}
		v, ok := resp.StringValue(r)
		if !ok {
			return nil, fmt.Errorf("GET: unexpected reply")
		}
		kv.elems = [][]byte{bytes.Clone(v)}
	case "hash":
		err = sc.readAll(ctx, kv, []byte("HGETALL"))
	case "set":
		err = sc.readAll(ctx, kv, []byte("SMEMBERS"))
	case "list":
		err = sc.readRanges(ctx, kv, []byte("LLEN"), []byte("LRANGE"))
	case "zset":
		err = sc.readRanges(ctx, kv, []byte("ZCARD"), []byte("ZRANGE"), []byte("WITHSCORES"))
	default:
		return nil, fmt.Errorf("type %s is not supported by migrate", kv.typ)
	}
	if err != nil {
		return nil, err
	}
	if kv.deadline > 0 && kv.deadline <= time.Now().UnixMilli() {
		return nil, nil // expired while (or before) being read: possibly partial
	}
	if len(kv.elems) == 0 {
		return nil, nil // a collection that vanished between TYPE and its read
	}
	for _, e := range kv.elems {
		kv.size += len(e)
	}
	return kv, nil
}

// appendElems copies the bulk-string elements of the aggregate reply r to
// kv.elems and returns how many there were.
func (sc *srcConn) appendElems(kv *keyValue, r []byte, cmd string) (int, error) {
	var ok bool
	sc.el, _, ok = resp.Elements(r, sc.el)
	if !ok {
		return 0, fmt.Errorf("%s: unexpected reply", cmd)
	}
	for _, f := range sc.el {
		v, ok := resp.StringValue(f)
		if !ok {
			return 0, fmt.Errorf("%s: unexpected element %q", cmd, f)
		}
		kv.elems = append(kv.elems, bytes.Clone(v))
	}
	return len(sc.el), nil
}

// readAll reads a hash or set with one command. The disk engine's
// HSCAN/SSCAN return the whole collection in one reply anyway, so ranges
// would not bound the reply size there.
func (sc *srcConn) readAll(ctx context.Context, kv *keyValue, cmd []byte) error {
	r, err := sc.do(ctx, kv.db, cmd, kv.key)
	if err != nil {
		return err
	}
	_, err = sc.appendElems(kv, r, string(cmd))
	return err
}

// readRanges reads a list (LRANGE) or zset (ZRANGE ... WITHSCORES) in
// ranges of readChunk elements.
func (sc *srcConn) readRanges(ctx context.Context, kv *keyValue, lenCmd, rangeCmd []byte, extra ...[]byte) error {
	r, err := sc.do(ctx, kv.db, lenCmd, kv.key)
	if err != nil {
		return err
	}
	n, ok := resp.IntValue(r)
	if !ok {
		return fmt.Errorf("%s: unexpected reply %q", lenCmd, r)
	}
	per := int64(1)
	if len(extra) > 0 {
		per = 2 // member, score
	}
	kv.elems = make([][]byte, 0, n*per)
	var lo, hi [20]byte
	for start := int64(0); start < n; start += readChunk {
		args := append([][]byte{rangeCmd, kv.key,
			strconv.AppendInt(lo[:0], start, 10), strconv.AppendInt(hi[:0], start+readChunk-1, 10)}, extra...)
		r, err := sc.do(ctx, kv.db, args...)
		if err != nil {
			return err
		}
		got, err := sc.appendElems(kv, r, string(rangeCmd))
		if err != nil {
			return err
		}
		if int64(got) < min(readChunk, n-start)*per {
			// Shrunk under us: only expiry can do that (see the top of
			// this file); readKey drops the key because of its deadline.
			if kv.deadline == 0 {
				return fmt.Errorf("%s: the key changed while being read", rangeCmd)
			}
			return nil
		}
	}
	return nil
}

// writeCmds appends the commands that recreate kv on the target, after an
// optional DEL, to pipe and returns them.
func (m *migrator) writeCmds(ctx context.Context, pipe redis.Pipeliner, kv *keyValue) []redis.Cmder {
	var cmds []redis.Cmder
	add := func(args ...any) { cmds = append(cmds, pipe.Do(ctx, args...)) }
	if m.o.replace {
		add("DEL", kv.key)
	}
	chunked := func(name string, per int) {
		for i := 0; i < len(kv.elems); i += writeChunk * per {
			part := kv.elems[i:min(len(kv.elems), i+writeChunk*per)]
			args := make([]any, 0, 2+len(part))
			args = append(args, name, kv.key)
			for _, e := range part {
				args = append(args, e)
			}
			add(args...)
		}
	}
	switch kv.typ {
	case "string":
		add("SET", kv.key, kv.elems[0])
	case "hash":
		chunked("HSET", 2)
	case "list":
		chunked("RPUSH", 1)
	case "set":
		chunked("SADD", 1)
	case "zset":
		for i := 0; i < len(kv.elems); i += writeChunk * 2 {
			part := kv.elems[i:min(len(kv.elems), i+writeChunk*2)]
			args := make([]any, 0, 2+len(part))
			args = append(args, "ZADD", kv.key)
			for j := 0; j+1 < len(part); j += 2 {
				args = append(args, part[j+1], part[j]) // score, member
			}
			add(args...)
		}
	}
	if kv.deadline > 0 {
		add("PEXPIREAT", kv.key, kv.deadline)
	}
	return cmds
}

// write sends one batch of keys of db to the target.
func (m *migrator) write(ctx context.Context, db int, batch []*keyValue) error {
	if len(batch) == 0 {
		return nil
	}
	c := m.clients[db]
	if c == nil {
		return fmt.Errorf("migrate: no target connection for db %d", db)
	}
	if !m.o.replace {
		pipe := c.Pipeline()
		exists := make([]*redis.IntCmd, len(batch))
		for i, kv := range batch {
			exists[i] = pipe.Exists(ctx, string(kv.key))
		}
		if _, err := pipe.Exec(ctx); err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		kept := batch[:0]
		for i, kv := range batch {
			n, err := exists[i].Result()
			switch {
			case err != nil:
				m.keyError(db, kv.key, "EXISTS on the target: "+err.Error())
			case n > 0:
				m.keyError(db, kv.key, "exists on the target (pass --replace to overwrite)")
			default:
				kept = append(kept, kv)
			}
		}
		batch = kept
	}
	now := time.Now().UnixMilli()
	var pipe redis.Pipeliner
	if m.o.cluster {
		pipe = c.Pipeline()
	} else {
		pipe = c.TxPipeline()
	}
	type sent struct {
		kv   *keyValue
		cmds []redis.Cmder
	}
	var out []sent
	for _, kv := range batch {
		if kv.deadline > 0 && kv.deadline <= now {
			m.expired++
			continue
		}
		out = append(out, sent{kv, m.writeCmds(ctx, pipe, kv)})
	}
	if len(out) == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	for _, s := range out {
		var kerr error
		for _, cmd := range s.cmds {
			if err := cmd.Err(); err != nil {
				kerr = fmt.Errorf("%s: %w", strings.ToUpper(cmd.Name()), err)
				break
			}
		}
		if kerr != nil {
			m.keyError(db, s.kv.key, kerr.Error())
			continue
		}
		m.countCopied(s.kv)
		m.remember(s.kv)
	}
	return nil
}

func (m *migrator) countCopied(kv *keyValue) {
	byType := m.counts[kv.db]
	if byType == nil {
		byType = map[string]int64{}
		m.counts[kv.db] = byType
	}
	byType[kv.typ]++
	m.copied.Add(1)
}

// remember keeps a uniform sample of copied keys for verify (reservoir
// sampling), unless --verify compares all of them anyway.
func (m *migrator) remember(kv *keyValue) {
	if m.o.verifyAll || m.o.verifySample <= 0 {
		return
	}
	m.sampleSeen++
	sk := sampleKey{kv.db, kv.key}
	if len(m.sample) < m.o.verifySample {
		m.sample = append(m.sample, sk)
		return
	}
	if j := rand.Int64N(m.sampleSeen); j < int64(len(m.sample)) {
		m.sample[j] = sk
	}
}

func (m *migrator) keyError(db int, key []byte, msg string) {
	m.errCount++
	if len(m.errs) < maxListed {
		m.errs = append(m.errs, fmt.Sprintf("db %d key %q: %s", db, key, msg))
	}
}

func (m *migrator) mismatch(db int, key []byte, format string, args ...any) {
	m.mismatchCount++
	if len(m.mismatches) < maxListed {
		m.mismatches = append(m.mismatches, fmt.Sprintf("db %d key %q: ", db, key)+fmt.Sprintf(format, args...))
	}
}

// verify compares keys between source and target: the sample, or with
// --verify every key of the copied dbs.
func (m *migrator) verify(ctx context.Context, dbs int) error {
	if m.o.verifyAll {
		for db := 0; db < dbs; db++ {
			if m.dbKeys[db] == 0 {
				continue
			}
			var verr error
			err := m.src.scan(ctx, db, func(keys [][]byte) bool {
				for _, k := range keys {
					if verr = m.verifyKey(ctx, db, k); verr != nil {
						return false
					}
				}
				return true
			})
			if err = cmp.Or(verr, err); err != nil {
				return err
			}
		}
		return nil
	}
	for _, sk := range m.sample {
		if err := m.verifyKey(ctx, sk.db, sk.key); err != nil {
			return err
		}
	}
	return nil
}

// verifyKey compares one key. Keys that expired on the source meanwhile
// are not compared. Only a cancelled context is returned as an error;
// differences and target errors are recorded as mismatches.
func (m *migrator) verifyKey(ctx context.Context, db int, key []byte) error {
	src, err := m.src.readKey(ctx, db, key)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m.mismatch(db, key, "reading the source: %v", err)
		return nil
	}
	if src == nil {
		return nil
	}
	m.verified++
	c := m.clients[db]
	typ, err := c.Type(ctx, string(key)).Result()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m.mismatch(db, key, "TYPE on the target: %v", err)
		return nil
	}
	if typ != src.typ {
		m.mismatch(db, key, "type %s on the target, %s on the source", typ, src.typ)
		return nil
	}
	var same bool
	switch src.typ {
	case "string":
		v, err := c.Get(ctx, string(key)).Result()
		same = err == nil && v == string(src.elems[0])
	case "list":
		v, err := c.LRange(ctx, string(key), 0, -1).Result()
		same = err == nil && equalStrings(v, src.elems)
	case "set":
		v, err := c.SMembers(ctx, string(key)).Result()
		want := slices.Clone(src.elems)
		slices.SortFunc(want, bytes.Compare)
		sort.Strings(v)
		same = err == nil && equalStrings(v, want)
	case "hash":
		v, err := c.HGetAll(ctx, string(key)).Result()
		same = err == nil && len(v) == len(src.elems)/2
		for i := 0; same && i+1 < len(src.elems); i += 2 {
			tv, ok := v[string(src.elems[i])]
			same = ok && tv == string(src.elems[i+1])
		}
	case "zset":
		v, err := c.ZRangeWithScores(ctx, string(key), 0, -1).Result()
		same = err == nil && len(v) == len(src.elems)/2
		for i := 0; same && i < len(v); i++ {
			score, perr := strconv.ParseFloat(string(src.elems[2*i+1]), 64)
			mem, _ := v[i].Member.(string)
			same = perr == nil && mem == string(src.elems[2*i]) && v[i].Score == score
		}
	}
	if !same {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m.mismatch(db, key, "%s value differs", src.typ)
		return nil
	}
	pttl, err := c.Do(ctx, "PTTL", string(key)).Int64()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		m.mismatch(db, key, "PTTL on the target: %v", err)
		return nil
	}
	now := time.Now().UnixMilli()
	switch {
	case src.deadline == 0 && pttl != -1:
		m.mismatch(db, key, "TTL %dms on the target, none on the source", pttl)
	case src.deadline > 0 && pttl < 0:
		m.mismatch(db, key, "no TTL on the target, expires at %d (unix ms) on the source", src.deadline)
	case src.deadline > 0 && absInt64(now+pttl-src.deadline) > 1000:
		m.mismatch(db, key, "expires at ~%d on the target, %d on the source (unix ms)", now+pttl, src.deadline)
	}
	return nil
}

func equalStrings(a []string, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != string(b[i]) {
			return false
		}
	}
	return true
}

func absInt64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// summary prints what was copied, skipped and wrong.
func (m *migrator) summary(w io.Writer) {
	el := time.Since(m.started)
	target := m.o.to
	switch {
	case m.o.dryRun:
		target = "(dry run: nothing written)"
	case m.o.cluster:
		target += " (cluster)"
	}
	fmt.Fprintf(w, "migrate: %s -> %s in %s\n", m.dir, target, el.Round(time.Millisecond))
	types := []string{"string", "hash", "list", "set", "zset"}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "db\t%s\ttotal\t\n", strings.Join(types, "\t"))
	var dbs []int
	for db := range m.counts {
		dbs = append(dbs, db)
	}
	sort.Ints(dbs)
	sums := make([]int64, len(types))
	var all int64
	for _, db := range dbs {
		var row strings.Builder
		var tot int64
		for i, t := range types {
			n := m.counts[db][t]
			sums[i] += n
			tot += n
			fmt.Fprintf(&row, "\t%d", n)
		}
		all += tot
		fmt.Fprintf(tw, "%d%s\t%d\t\n", db, row.String(), tot)
	}
	var row strings.Builder
	for _, n := range sums {
		fmt.Fprintf(&row, "\t%d", n)
	}
	fmt.Fprintf(tw, "all%s\t%d\t\n", row.String(), all)
	tw.Flush()
	verb := "copied"
	if m.o.dryRun {
		verb = "to copy"
	}
	ct := m.copyTime
	if ct == 0 {
		ct = el
	}
	rate := float64(all) / max(ct.Seconds(), 1e-9)
	fmt.Fprintf(w, "keys %s: %d in %s (%.0f keys/s)\n", verb, all, ct.Round(time.Millisecond), rate)
	fmt.Fprintf(w, "skipped: %d expired during the copy", m.expired)
	if m.skippedDBs > 0 {
		fmt.Fprintf(w, ", %d in dbs other than 0 (--db0-only)", m.skippedDBs)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "errors: %d\n", m.errCount)
	for _, e := range m.errs {
		fmt.Fprintf(w, "  %s\n", e)
	}
	if m.errCount > int64(len(m.errs)) {
		fmt.Fprintf(w, "  ... and %d more\n", m.errCount-int64(len(m.errs)))
	}
	if m.interrupted {
		fmt.Fprintln(w, "interrupted: the copy is incomplete")
	}
	if m.o.dryRun || m.interrupted {
		return
	}
	what := "sampled"
	if m.o.verifyAll {
		what = "compared (all)"
	}
	fmt.Fprintf(w, "verify: %d keys %s, %d mismatches\n", m.verified, what, m.mismatchCount)
	for _, e := range m.mismatches {
		fmt.Fprintf(w, "  %s\n", e)
	}
	if m.mismatchCount > int64(len(m.mismatches)) {
		fmt.Fprintf(w, "  ... and %d more\n", m.mismatchCount-int64(len(m.mismatches)))
	}
}
