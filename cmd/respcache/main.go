// Command respcache is a caching proxy that speaks the Redis protocol.
//
//	respcache [--config FILE] [--listen ADDR] [--upstream HOST:PORT]
//	respcache --check-config [--config FILE]
//	respcache --version
//	respcache sim [flags]       replay a trace through the cache, print hit ratios
//	respcache bench [flags]     drive a RESP server with load, print throughput and latency
//	respcache drain [--config FILE]  ask a running respcache to flush write-back state (preStop)
//	respcache migrate --to HOST:PORT [--cluster] [flags]  copy the disk store into a Redis or Redis Cluster
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/respcache/respcache/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "sim" {
		return runSim(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "drain" {
		return runDrain(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "migrate" {
		return runMigrate(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "bench" {
		return runBench(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("respcache", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "YAML configuration `file`")
	listen := fs.String("listen", "", "RESP listener `host:port` (overrides listen)")
	upstream := fs.String("upstream", "", "upstream Redis `host:port` (sets backend.type redis, standalone)")
	check := fs.Bool("check-config", false, "print every configuration error and exit: 0 when valid, 1 when not")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: respcache [flags]\n       respcache sim [flags]   (respcache sim -h for its flags)\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "respcache: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, versionString())
		return 0
	}
	cfg, err := config.Load(config.LoadOptions{Path: *cfgPath, Env: os.Environ(), Listen: *listen, Upstream: *upstream})
	if *check {
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintln(stdout, "configuration is valid")
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return serve(cfg, config.LoadOptions{Path: *cfgPath, Env: os.Environ(), Listen: *listen, Upstream: *upstream}, stderr)
}

func versionString() string {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("respcache %s%s (protocol reference: redis %s)", version, rev, "7.0.15")
}
