package config

import (
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole respcache configuration. Field docs give the YAML key,
// the default and the unit. A *Config returned by Load or Default is owned by
// the caller; it is not safe for concurrent mutation, and reading it from
// several goroutines is safe once nobody writes it.
type Config struct {
	// Listen is the RESP listener, host:port. Default 127.0.0.1:6380.
	Listen string `yaml:"listen"`
	// AdminListen is the HTTP admin listener (status, health, metrics,
	// drain), host:port; "" disables it. Default 127.0.0.1:9380.
	AdminListen string `yaml:"admin_listen"`
	// AdminPprof serves /debug/pprof on AdminListen. Default false.
	AdminPprof bool `yaml:"admin_pprof"`
	// ShutdownTimeout bounds the drain of in-flight requests and write-back
	// on SIGTERM. Default 10s.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`

	Auth      Auth      `yaml:"auth"`
	TLS       TLS       `yaml:"tls"`
	Limits    Limits    `yaml:"limits"`
	Backend   Backend   `yaml:"backend"`
	Cache     Cache     `yaml:"cache"`
	Write     Write     `yaml:"write"`
	Telemetry Telemetry `yaml:"telemetry"`
	Log       Log       `yaml:"log"`

	// set records the paths given explicitly (file, environment or flags)
	// and where each came from; nil for a Config nobody loaded.
	set map[string]origin
}

// Auth is client authentication on the listener. When a password is set,
// clients must AUTH; respcache consumes the AUTH and does not forward it.
type Auth struct {
	// Password clients must send. Default "" (no AUTH required).
	Password string `yaml:"password"`
	// PasswordFile holds the password (a Kubernetes secret, say). It is read
	// once by Load; a trailing newline is dropped. Relative paths are
	// relative to the working directory. Exclusive with Password.
	PasswordFile string `yaml:"password_file"`
	// ResolvedPassword is the effective password: Password, or the contents
	// of PasswordFile. Filled by Load; never read from YAML or printed.
	ResolvedPassword string `yaml:"-"`
}

// TLS is TLS on the RESP listener. It is on when CertFile is set.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile verifies client certificates (see ClientAuth).
	CAFile string `yaml:"ca_file"`
	// ClientAuth is none (default), request (ask for a client certificate
	// and verify it against CAFile when one is sent) or require (a client
	// certificate verified against CAFile is mandatory).
	ClientAuth string `yaml:"client_auth"`
}

// Enabled reports whether the listener serves TLS.
func (t TLS) Enabled() bool { return t.CertFile != "" }

// Limits bound what clients may consume.
type Limits struct {
	// MaxClients is the most client connections at once. Default 10000.
	MaxClients int `yaml:"max_clients"`
	// IdleTimeout closes idle client connections; 0 (default) = never.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// DenyCommands are refused with a NOPERM-style error (FLUSHALL, KEYS).
	DenyCommands []string `yaml:"deny_commands"`
	// ClientOutputBuffer is the per-connection reply buffer; a client over
	// it is disconnected. Default 64MiB.
	ClientOutputBuffer Size `yaml:"client_output_buffer"`
	// ProtoMaxBulkLen refuses larger bulk strings before allocating them.
	// Default 512MiB.
	ProtoMaxBulkLen Size `yaml:"proto_max_bulk_len"`
}

// Backend selects and configures the store behind the cache.
type Backend struct {
	// Type is disk (default) or redis. --upstream implies redis.
	Type  string `yaml:"type"`
	Redis Redis  `yaml:"redis"`
	Disk  Disk   `yaml:"disk"`
}

// Redis is the upstream Redis.
type Redis struct {
	// Addrs are host:port seeds: the server (standalone, exactly one), the
	// sentinels (sentinel) or cluster nodes (cluster). Default
	// [127.0.0.1:6379].
	Addrs []string `yaml:"addrs"`
	// Topology is standalone (default), sentinel or cluster.
	Topology string `yaml:"topology"`
	// MasterName is the Sentinel master set; required for sentinel.
	MasterName string   `yaml:"master_name"`
	Username   string   `yaml:"username"`
	Password   string   `yaml:"password"`
	DB         int      `yaml:"db"`
	TLS        RedisTLS `yaml:"tls"`
	// PoolSize is go-redis's pool size; 0 (default) = go-redis's default.
	PoolSize int `yaml:"pool_size"`
	// MaxPinned bounds connections held for MULTI, pub/sub and blocking
	// commands. Default 1000.
	MaxPinned    int      `yaml:"max_pinned"`
	DialTimeout  Duration `yaml:"dial_timeout"`  // default 5s
	ReadTimeout  Duration `yaml:"read_timeout"`  // default 3s
	WriteTimeout Duration `yaml:"write_timeout"` // default 3s
}

// RedisTLS is TLS to the upstream. See Active.
type RedisTLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Active reports whether connections to the upstream use TLS: Enabled is
// true or any other field is set.
func (t RedisTLS) Active() bool {
	return t.Enabled || t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" ||
		t.ServerName != "" || t.InsecureSkipVerify
}

// Disk is the embedded disk store.
type Disk struct {
	Dir        string `yaml:"dir"`         // default ./data
	Fsync      string `yaml:"fsync"`       // always | everysec (default) | no
	BlockCache Size   `yaml:"block_cache"` // read cache, default 64MiB
	Memtable   Size   `yaml:"memtable"`    // write buffer, default 64MiB
}

// Cache is the local cache.
type Cache struct {
	// MaxMemory is the hard quota for everything the cache holds, bytes.
	// Default 256MiB.
	MaxMemory Size `yaml:"max_memory"`
	// MaxItemSize: larger values are served but not cached. Default 1MiB;
	// must not exceed MaxMemory.
	MaxItemSize Size `yaml:"max_item_size"`
	// TTL caps local staleness; 0 (default) = rely on invalidation.
	TTL Duration `yaml:"ttl"`
	// NegativeTTL caches "key does not exist"; 0 (default) = off.
	NegativeTTL Duration `yaml:"negative_ttl"`
	// Invalidation is tracking (default), ttl or off.
	Invalidation string `yaml:"invalidation"`
	// ServeStaleOnError serves hits while the upstream is down. Default false.
	ServeStaleOnError bool `yaml:"serve_stale_on_error"`
	// Namespaces carry per-prefix settings; the longest prefix wins.
	// Only settable in the file. Default: none (the "session:" entry in
	// DESIGN.md shows the shape of an item; it is not a default).
	Namespaces []Namespace `yaml:"namespaces"`
}

// Namespace is a key prefix with its own quota, TTL and mode.
type Namespace struct {
	// Prefix is required and unique among namespaces.
	Prefix string `yaml:"prefix"`
	// MaxMemory caps the namespace inside the global quota (not a
	// reservation); 0 = no cap of its own. Must not exceed cache.max_memory.
	MaxMemory Size `yaml:"max_memory"`
	// TTL for the namespace; 0 = cache.ttl.
	TTL Duration `yaml:"ttl"`
	// Mode is cache (default) or bypass.
	Mode string `yaml:"mode"`
}

// Write is the write policy.
type Write struct {
	Mode                string   `yaml:"mode"`                 // write-through (default) | write-back
	JournalDir          string   `yaml:"journal_dir"`          // default ./journal
	Fsync               string   `yaml:"fsync"`                // always | everysec (default) | no
	FlushInterval       Duration `yaml:"flush_interval"`       // default 5ms, > 0
	MaxBatch            int      `yaml:"max_batch"`            // default 256, >= 1
	MaxDirty            Size     `yaml:"max_dirty"`            // default 64MiB, <= cache.max_memory
	BackpressureTimeout Duration `yaml:"backpressure_timeout"` // default 1s
}

// Telemetry is tracing and metrics.
type Telemetry struct {
	ServiceName string  `yaml:"service_name"` // default respcache
	Traces      Traces  `yaml:"traces"`
	Metrics     Metrics `yaml:"metrics"`
}

// Traces configures the trace exporter.
type Traces struct {
	// Exporter is none (default), otlp-grpc, otlp-http or stdout.
	Exporter string `yaml:"exporter"`
	// Endpoint of the exporter; "" = the exporter's default (OTEL_* apply).
	Endpoint string `yaml:"endpoint"`
	// SampleRatio in [0, 1]. Default 0.01.
	SampleRatio float64 `yaml:"sample_ratio"`
}

// Metrics configures metrics.
type Metrics struct {
	// Prometheus serves /metrics on admin_listen. Default true.
	Prometheus bool `yaml:"prometheus"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug | info (default) | warn | error
	Format string `yaml:"format"` // text (default) | json
	// SlowThreshold logs commands slower than this; 0 = off. Default 10ms.
	SlowThreshold Duration `yaml:"slow_threshold"`
}

// Default returns the configuration used when nothing is set: exactly the
// values documented in DESIGN.md. Each call returns a new Config.
func Default() *Config {
	return &Config{
		Listen:          "127.0.0.1:6380",
		AdminListen:     "127.0.0.1:9380",
		ShutdownTimeout: Duration(10 * time.Second),
		Limits: Limits{
			MaxClients:         10000,
			DenyCommands:       []string{},
			ClientOutputBuffer: 64 << 20,
			ProtoMaxBulkLen:    512 << 20,
		},
		Backend: Backend{
			Type: "disk",
			Redis: Redis{
				Addrs:        []string{"127.0.0.1:6379"},
				Topology:     "standalone",
				MaxPinned:    1000,
				DialTimeout:  Duration(5 * time.Second),
				ReadTimeout:  Duration(3 * time.Second),
				WriteTimeout: Duration(3 * time.Second),
			},
			Disk: Disk{
				Dir:        "./data",
				Fsync:      "everysec",
				BlockCache: 64 << 20,
				Memtable:   64 << 20,
			},
		},
		Cache: Cache{
			MaxMemory:    256 << 20,
			MaxItemSize:  1 << 20,
			Invalidation: "tracking",
			Namespaces:   []Namespace{},
		},
		Write: Write{
			Mode:                "write-through",
			JournalDir:          "./journal",
			Fsync:               "everysec",
			FlushInterval:       Duration(5 * time.Millisecond),
			MaxBatch:            256,
			MaxDirty:            64 << 20,
			BackpressureTimeout: Duration(time.Second),
		},
		Telemetry: Telemetry{
			ServiceName: "respcache",
			Traces:      Traces{Exporter: "none", SampleRatio: 0.01},
			Metrics:     Metrics{Prometheus: true},
		},
		TLS: TLS{ClientAuth: "none"},
		Log: Log{
			Level:         "info",
			Format:        "text",
			SlowThreshold: Duration(10 * time.Millisecond),
		},
	}
}

// defaultNamespace is what a namespace list item starts from.
func defaultNamespace() Namespace { return Namespace{Mode: "cache"} }

// IsSet reports whether path, or any key under it, was set explicitly by
// the file, the environment or a flag ("cache" is set when
// "cache.max_memory" is). A key left at its default, or written with the
// same value as its default, is set only if it was written. Useful for
// "apply OTEL_* only where the config leaves the key at its default".
func (c *Config) IsSet(path string) bool {
	if _, ok := c.set[path]; ok {
		return true
	}
	for p := range c.set {
		if isUnder(p, path) {
			return true
		}
	}
	return false
}

// isUnder reports whether p is a strict descendant of prefix
// ("cache.ttl" and "cache.namespaces[0]" are under "cache").
func isUnder(p, prefix string) bool {
	return len(p) > len(prefix) && strings.HasPrefix(p, prefix) &&
		(p[len(prefix)] == '.' || p[len(prefix)] == '[')
}

// markSet records that path was set explicitly, from o.
func (c *Config) markSet(path string, o origin) {
	if c.set == nil {
		c.set = make(map[string]origin)
	}
	// A later source replaces the whole value, list items included.
	for p := range c.set {
		if isUnder(p, path) {
			delete(c.set, p)
		}
	}
	c.set[path] = o
}

// clone returns a deep copy of c.
func (c *Config) clone() *Config {
	n := *c
	n.Limits.DenyCommands = append([]string(nil), c.Limits.DenyCommands...)
	n.Backend.Redis.Addrs = append([]string(nil), c.Backend.Redis.Addrs...)
	n.Cache.Namespaces = append([]Namespace(nil), c.Cache.Namespaces...)
	if c.set != nil {
		n.set = make(map[string]origin, len(c.set))
		for k, v := range c.set {
			n.set[k] = v
		}
	}
	return &n
}

const redactedMark = "<redacted>"

// Redacted returns a deep copy of c with every secret (auth.password, the
// password read from auth.password_file, backend.redis.password) replaced
// by "<redacted>" when it is non-empty. Log the copy, never c.
func (c *Config) Redacted() *Config {
	r := c.clone()
	for _, p := range []*string{&r.Auth.Password, &r.Auth.ResolvedPassword, &r.Backend.Redis.Password} {
		if *p != "" {
			*p = redactedMark
		}
	}
	return r
}

// String returns the effective configuration as YAML with secrets redacted
// (see Redacted); what --check-config prints. Every key is present, so the
// output is also a complete config file (not-yet-built sections included,
// so loading it as is reports them).
func (c *Config) String() string {
	out, err := yaml.Marshal(c.Redacted())
	if err != nil {
		// Marshal fails only on types this package does not use.
		return "config: cannot marshal: " + err.Error()
	}
	return string(out)
}
