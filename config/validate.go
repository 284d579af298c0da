package config

import (
	"fmt"
	"net"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// notBuilt lists the parts of the schema whose feature is not built yet,
// keyed by path prefix (a key, or a section and everything under it), with
// the feature's name for the error. A "path=value" entry gates one value of
// a key. Setting any of these explicitly, in the file, the environment or by
// flag, is an error; defaults never are. Delete an entry when its feature
// lands.
var notBuilt = map[string]string{}

// Validate checks c and returns a *Error listing every problem, or nil.
// Errors are located at the file line or the variable or flag that set the
// offending key, when c came from Load. Validate does not read files; Load
// resolves auth.password_file before calling it.
func (c *Config) Validate() error {
	var errs errList
	c.checkNotBuilt(&errs)
	c.check(&errs)
	return errs.err()
}

// errAt builds an error for path, located where path (or, for a list item
// or a key inside a namespace, its nearest set parent) was set.
func (c *Config) errAt(path, format string, args ...any) FieldError {
	fe := FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
	for p := path; p != ""; p = parentPath(p) {
		if o, ok := c.set[p]; ok {
			fe.File, fe.Line, fe.Source = o.file, o.line, o.source
			break
		}
	}
	return fe
}

// parentPath strips the last ".key" or "[i]" from p.
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}

// firstSet returns the first of paths that was set explicitly, else the
// first one. A rule relating two keys reports at the one the user wrote.
func (c *Config) firstSet(paths ...string) string {
	for _, p := range paths {
		if c.IsSet(p) {
			return p
		}
	}
	return paths[0]
}

func (c *Config) setPaths() []string {
	paths := make([]string, 0, len(c.set))
	for p := range c.set {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}

func (c *Config) checkNotBuilt(errs *errList) {
	paths := c.setPaths()
	for _, p := range paths {
		feature := ""
		bestLen := -1
		for prefix, f := range notBuilt {
			if !strings.Contains(prefix, "=") && (p == prefix || isUnder(p, prefix)) && len(prefix) > bestLen {
				feature, bestLen = f, len(prefix)
			}
		}
		if bestLen < 0 {
			continue
		}
		// Report the keys actually written, not every section above them.
		if slices.ContainsFunc(paths, func(q string) bool { return isUnder(q, p) }) {
			continue
		}
		errs.add(c.errAt(p, "not supported yet (%s lands in a later release)", feature))
	}
	for k, feature := range notBuilt {
		path, val, ok := strings.Cut(k, "=")
		if !ok {
			continue
		}
		if _, set := c.set[path]; !set {
			continue
		}
		if v, ok := fieldByPath(c, path); ok && fmt.Sprint(v.Interface()) == val {
			errs.add(c.errAt(path, "%q is not supported yet (%s lands in a later release)", val, feature))
		}
	}
}

// check applies every rule and adds one error per violation.
func (c *Config) check(errs *errList) {
	add := func(path, format string, args ...any) { errs.add(c.errAt(path, format, args...)) }
	enum := func(path, val string, allowed ...string) {
		for _, a := range allowed {
			if val == a {
				return
			}
		}
		add(path, "invalid value %q (want one of: %s)", val, strings.Join(allowed, ", "))
	}
	atLeast := func(path string, val, min int) {
		if val < min {
			add(path, "must be at least %d, got %d", min, val)
		}
	}
	positiveSize := func(path string, s Size) {
		if s <= 0 {
			add(path, "must be greater than 0, got %s", s)
		}
	}

	// Values built by hand (not parsed) may still be negative.
	walkValues(reflect.ValueOf(c).Elem(), "", func(p string, v reflect.Value) {
		if (v.Type() == sizeType || v.Type() == durationType) && v.Int() < 0 {
			add(p, "must not be negative")
		}
	})

	if c.Listen == "" {
		add("listen", "must not be empty")
	} else if err := checkHostPort(c.Listen, true); err != nil {
		add("listen", "%v", err)
	}
	if c.AdminListen != "" {
		if err := checkHostPort(c.AdminListen, true); err != nil {
			add("admin_listen", "%v", err)
		}
	}

	if c.Auth.Password != "" && c.Auth.PasswordFile != "" {
		add(c.firstSet("auth.password_file", "auth.password"), "auth.password and auth.password_file are mutually exclusive; set one")
	}

	t := c.TLS
	enum("tls.client_auth", t.ClientAuth, "none", "request", "require")
	if t.CertFile != "" && t.KeyFile == "" {
		add("tls.cert_file", "tls.key_file must be set too")
	}
	if t.KeyFile != "" && t.CertFile == "" {
		add("tls.key_file", "tls.cert_file must be set too")
	}
	if t.CertFile == "" && t.KeyFile == "" {
		if t.CAFile != "" {
			add("tls.ca_file", "set, but TLS on the listener is off (set tls.cert_file and tls.key_file)")
		}
		if t.ClientAuth == "request" || t.ClientAuth == "require" {
			add("tls.client_auth", "%q needs TLS on the listener (set tls.cert_file and tls.key_file)", t.ClientAuth)
		}
	}
	if t.ClientAuth == "require" && t.CAFile == "" {
		add("tls.client_auth", `"require" verifies client certificates against tls.ca_file, which is not set`)
	}

	l := c.Limits
	atLeast("limits.max_clients", l.MaxClients, 1)
	seenCmd := map[string]bool{}
	for i, cmd := range l.DenyCommands {
		p := fmt.Sprintf("limits.deny_commands[%d]", i)
		switch u := strings.ToUpper(cmd); {
		case strings.TrimSpace(cmd) == "":
			add(p, "must not be empty")
		case strings.ContainsAny(cmd, " \t\r\n"):
			add(p, "invalid command name %q", cmd)
		case seenCmd[u]:
			add(p, "%q is listed twice", cmd)
		default:
			seenCmd[u] = true
		}
	}
	positiveSize("limits.client_output_buffer", l.ClientOutputBuffer)
	positiveSize("limits.proto_max_bulk_len", l.ProtoMaxBulkLen)

	b := c.Backend
	enum("backend.type", b.Type, "disk", "redis")
	c.checkRedis(add, enum, atLeast)
	if b.Disk.Dir == "" {
		add("backend.disk.dir", "must not be empty")
	}
	enum("backend.disk.fsync", b.Disk.Fsync, "always", "everysec", "no")
	positiveSize("backend.disk.memtable", b.Disk.Memtable)

	cc := c.Cache
	positiveSize("cache.max_memory", cc.MaxMemory)
	positiveSize("cache.max_item_size", cc.MaxItemSize)
	if cc.MaxItemSize > cc.MaxMemory {
		add(c.firstSet("cache.max_item_size", "cache.max_memory"),
			"cache.max_item_size (%s) must not exceed cache.max_memory (%s)", cc.MaxItemSize, cc.MaxMemory)
	}
	enum("cache.invalidation", cc.Invalidation, "tracking", "ttl", "off")
	prefixes := map[string]int{}
	for i, ns := range cc.Namespaces {
		p := fmt.Sprintf("cache.namespaces[%d]", i)
		if ns.Prefix == "" {
			add(p+".prefix", "must be set and not empty")
		} else if first, dup := prefixes[ns.Prefix]; dup {
			add(p+".prefix", "%q is already the prefix of cache.namespaces[%d]", ns.Prefix, first)
		} else {
			prefixes[ns.Prefix] = i
		}
		if ns.MaxMemory > cc.MaxMemory {
			add(c.firstSet(p+".max_memory", "cache.max_memory"),
				"%s.max_memory (%s) must not exceed cache.max_memory (%s)", p, ns.MaxMemory, cc.MaxMemory)
		}
		enum(p+".mode", ns.Mode, "cache", "bypass")
	}

	w := c.Write
	enum("write.mode", w.Mode, "write-through", "write-back")
	if w.Mode == "write-back" && w.JournalDir == "" {
		add("write.journal_dir", "must be set for write.mode write-back")
	}
	enum("write.fsync", w.Fsync, "always", "everysec", "no")
	if w.FlushInterval <= 0 {
		add("write.flush_interval", "must be greater than 0")
	}
	atLeast("write.max_batch", w.MaxBatch, 1)
	positiveSize("write.max_dirty", w.MaxDirty)
	// max_dirty matters only for write-back: a smaller quota in
	// write-through mode must not trip over a default the user never set.
	if w.MaxDirty > cc.MaxMemory && (w.Mode == "write-back" || c.IsSet("write.max_dirty")) {
		add(c.firstSet("write.max_dirty", "cache.max_memory"),
			"write.max_dirty (%s) must not exceed cache.max_memory (%s)", w.MaxDirty, cc.MaxMemory)
	}

	tm := c.Telemetry
	if tm.ServiceName == "" {
		add("telemetry.service_name", "must not be empty")
	}
	enum("telemetry.traces.exporter", tm.Traces.Exporter, "none", "otlp-grpc", "otlp-http", "stdout")
	if tm.Traces.Exporter == "none" && tm.Traces.Endpoint != "" {
		add("telemetry.traces.endpoint", "set, but telemetry.traces.exporter is none")
	}
	if !validRatio(tm.Traces.SampleRatio) {
		add("telemetry.traces.sample_ratio", "must be between 0 and 1, got %v", tm.Traces.SampleRatio)
	}

	enum("log.level", c.Log.Level, "debug", "info", "warn", "error")
	enum("log.format", c.Log.Format, "text", "json")
}

func (c *Config) checkRedis(add func(string, string, ...any), enum func(string, string, ...string), atLeast func(string, int, int)) {
	r := c.Backend.Redis
	enum("backend.redis.topology", r.Topology, "standalone", "sentinel", "cluster")
	for i, a := range r.Addrs {
		if err := checkHostPort(a, false); err != nil {
			add(fmt.Sprintf("backend.redis.addrs[%d]", i), "%v", err)
		}
	}
	switch r.Topology {
	case "standalone":
		if len(r.Addrs) != 1 {
			add("backend.redis.addrs", "topology standalone takes exactly one address, got %d (use sentinel or cluster for more)", len(r.Addrs))
		}
		if r.MasterName != "" {
			add("backend.redis.master_name", "only used with topology sentinel")
		}
	case "sentinel":
		if len(r.Addrs) == 0 {
			add("backend.redis.addrs", "topology sentinel needs at least one sentinel address")
		}
		if r.MasterName == "" {
			add(c.firstSet("backend.redis.master_name", "backend.redis.topology"), "topology sentinel needs backend.redis.master_name")
		}
	case "cluster":
		if len(r.Addrs) == 0 {
			add("backend.redis.addrs", "topology cluster needs at least one node address")
		}
		if r.MasterName != "" {
			add("backend.redis.master_name", "only used with topology sentinel")
		}
	}
	if r.Topology == "cluster" {
		if r.DB != 0 {
			add(c.firstSet("backend.redis.db", "backend.redis.topology"), "must be 0 with topology cluster (Redis Cluster has only database 0), got %d", r.DB)
		}
	} else if r.DB < 0 || r.DB > 15 {
		add("backend.redis.db", "must be between 0 and 15, got %d", r.DB)
	}
	atLeast("backend.redis.pool_size", r.PoolSize, 0)
	atLeast("backend.redis.max_pinned", r.MaxPinned, 1)
	t := r.TLS
	if t.CertFile != "" && t.KeyFile == "" {
		add("backend.redis.tls.cert_file", "backend.redis.tls.key_file must be set too")
	}
	if t.KeyFile != "" && t.CertFile == "" {
		add("backend.redis.tls.key_file", "backend.redis.tls.cert_file must be set too")
	}
	if !t.Enabled && c.IsSet("backend.redis.tls.enabled") && t.Active() {
		add("backend.redis.tls.enabled", "false, but other backend.redis.tls keys are set, which turns TLS on; remove them or set enabled: true")
	}
}

// checkHostPort checks a host:port address. Listeners may leave the host
// empty (all interfaces) and use port 0 (any free port); upstream addresses
// need both.
func checkHostPort(addr string, listener bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port", addr)
	}
	if host == "" && !listener {
		return fmt.Errorf("invalid address %q: host is empty", addr)
	}
	if strings.ContainsAny(host, " \t/") {
		return fmt.Errorf("invalid address %q: bad host", addr)
	}
	lo := 1
	if listener {
		lo = 0
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < lo || n > 65535 {
		return fmt.Errorf("invalid address %q: port must be a number from %d to 65535", addr, lo)
	}
	return nil
}

// walkValues calls fn for every non-struct field of struct v, including the
// fields of each namespace, with its path.
func walkValues(v reflect.Value, prefix string, fn func(path string, v reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		k := yamlKey(t.Field(i))
		if k == "" {
			continue
		}
		p, f := joinPath(prefix, k), v.Field(i)
		switch {
		case f.Kind() == reflect.Struct:
			walkValues(f, p, fn)
		case f.Type() == namespacesType:
			for j := range f.Len() {
				walkValues(f.Index(j), fmt.Sprintf("%s[%d]", p, j), fn)
			}
		default:
			fn(p, f)
		}
	}
}
