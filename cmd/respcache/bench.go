package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/respcache/respcache/cmd/respcache/internal/loadgen"
)

// runBench is `respcache bench`: a load generator for any RESP server
// (redis-server, twemproxy, respcache). It returns the exit code: 0 after a
// complete run, 1 when the run could not start or connections broke, 2 for
// bad flags, 130 after SIGINT (the partial result is still printed).
func runBench(args []string, stdout, stderr io.Writer) int {
	return benchMain(context.Background(), args, stdout, stderr, true)
}

// benchMain is runBench with the context and the SIGINT handling
// injectable for tests.
func benchMain(ctx context.Context, args []string, stdout, stderr io.Writer, handleSIGINT bool) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	d := loadgen.DefaultOptions()
	var (
		addr      = fs.String("addr", d.Addr, "server `host:port`")
		password  = fs.String("password", "", "send AUTH `password` on every connection")
		db        = fs.Int("db", 0, "SELECT this database on every connection (0 sends no SELECT, for proxies that refuse it)")
		respVer   = fs.Int("resp", 2, "protocol version: 2, or 3 (HELLO 3 on every connection)")
		clients   = fs.Int("clients", d.Clients, "connections, each driven by its own goroutine")
		pipeline  = fs.Int("pipeline", d.Pipeline, "commands written per round trip on each connection")
		requests  = fs.Int64("requests", 0, "measure exactly `N` commands (all clients together); exclusive with --duration")
		duration  = fs.Duration("duration", d.Duration, "measure for this long; exclusive with --requests")
		warmup    = fs.Duration("warmup", 0, "run the workload this long before measuring, unreported")
		keys      = fs.Uint64("keys", d.Keys, "distinct keys, numbered 0..N-1")
		keyPrefix = fs.String("key-prefix", d.KeyPrefix, "key name prefix (followed by the key number)")
		dist      = fs.String("dist", string(d.Dist), "key distribution: zipf or uniform")
		zipfS     = fs.Float64("zipf-s", d.ZipfS, "Zipf exponent s > 0 (1.0 and below work); rank 0 is the hottest, ranks are scrambled over key numbers")
		valueSize = fs.String("value-size", d.ValueSize.String(), "value bytes: N, or MIN-MAX for sizes uniform in [MIN, MAX]")
		readRatio = fs.Float64("read-ratio", d.ReadRatio, "fraction of commands drawn from the read commands of --commands; the rest are writes")
		commands  = fs.String("commands", "get,set", "command mix, comma-separated: get, set, mget:N, mset:N, hget, hset, hgetall, exists, del (hashes have fields f0..f9)")
		fill      = fs.Bool("fill", false, "before measuring, write every key once (SET, or HSET of all fields for hash mixes), pipelined")
		seed      = fs.Uint64("seed", 1, "random seed; the same seed replays the same commands")
		asJSON    = fs.Bool("json", false, "print the result as JSON instead of text")
		timeout   = fs.Duration("timeout", d.Timeout, "dial timeout, and how long a connection may stay silent before it counts as broken")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: respcache bench [--addr HOST:PORT] [flags]

Drives a RESP server (redis-server, twemproxy, respcache) with a GET/SET
workload and reports throughput, latency percentiles per command, error
replies and, when the server has an INFO respcache section, the cache hit
ratio over the measurement. Ctrl-C stops it with a partial report.

flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "respcache bench: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["requests"] && set["duration"] {
		return fail("--requests and --duration are exclusive")
	}
	o := loadgen.Options{
		Addr: *addr, Password: *password, DB: *db, RESP: *respVer,
		Clients: *clients, Pipeline: *pipeline, Warmup: *warmup,
		Keys: *keys, KeyPrefix: *keyPrefix, Dist: loadgen.Dist(*dist), ZipfS: *zipfS,
		ReadRatio: *readRatio, Fill: *fill, Seed: *seed, Timeout: *timeout,
	}
	if set["requests"] {
		if *requests <= 0 {
			return fail("--requests must be > 0")
		}
		o.Requests = *requests
	} else {
		if *duration <= 0 {
			return fail("--duration must be > 0")
		}
		o.Duration = *duration
	}
	// Flags whose zero means "default" in Options must not pass a zero
	// silently.
	for name, v := range map[string]int{"clients": *clients, "pipeline": *pipeline} {
		if v <= 0 {
			return fail("--%s must be > 0", name)
		}
	}
	if *keys == 0 {
		return fail("--keys must be > 0")
	}
	if *timeout <= 0 {
		return fail("--timeout must be > 0")
	}
	if !(*zipfS > 0) {
		return fail("--zipf-s must be > 0")
	}
	vs, err := loadgen.ParseSizeRange(*valueSize)
	if err != nil {
		return fail("--value-size: %v", err)
	}
	o.ValueSize = vs
	if o.Commands, err = loadgen.ParseCommands(*commands); err != nil {
		return fail("--commands: %v", err)
	}
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return fail("%v", err)
	}

	if handleSIGINT {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt)
		defer stop()
	}
	res, err := loadgen.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "respcache bench: %v\n", err)
		return 1
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(res)
	} else {
		err = res.WriteText(stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "respcache bench: %v\n", err)
		return 1
	}
	switch {
	case res.Interrupted:
		return 130
	case len(res.ConnectionErrors) > 0:
		return 1
	}
	return 0
}
