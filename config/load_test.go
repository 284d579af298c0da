package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// loadErrors runs Load and returns its FieldErrors; it fails the test if
// the error is not a *Error.
func loadErrors(t *testing.T, opts LoadOptions) (*Config, []FieldError) {
	t.Helper()
	c, err := Load(opts)
	if err == nil {
		return c, nil
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Load error is %T, want *Error: %v", err, err)
	}
	if len(e.Errors) == 0 {
		t.Fatal("*Error with no errors")
	}
	return c, e.Errors
}

// TestDesignSchema decodes the YAML block of DESIGN.md verbatim: every key
// must be known, every value must equal Default() (the one namespace there
// is an example, not a default), and loading it must fail only because
// features are not built yet.
func TestDesignSchema(t *testing.T) {
	data, err := os.ReadFile("testdata/design.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := Default()
	var errs errList
	decodeFile(c, "design.yaml", data, &errs)
	if err := errs.err(); err != nil {
		t.Fatalf("DESIGN.md's YAML does not decode: %v", err)
	}
	wantNS := []Namespace{{Prefix: "session:", MaxMemory: 64 << 20, TTL: Duration(30 * time.Second), Mode: "cache"}}
	if !reflect.DeepEqual(c.Cache.Namespaces, wantNS) {
		t.Errorf("namespaces = %+v, want %+v", c.Cache.Namespaces, wantNS)
	}
	c.Cache.Namespaces = []Namespace{}
	c.set = nil
	if d := Default(); !reflect.DeepEqual(c, d) {
		live, restart := Diff(d, c)
		t.Errorf("Default() differs from DESIGN.md at %v %v", live, restart)
	}

	// Every feature of the schema is built: DESIGN.md's example loads.
	if _, fes := loadErrors(t, LoadOptions{Path: "testdata/design.yaml"}); len(fes) != 0 {
		t.Fatalf("DESIGN.md's YAML does not load: %v", fes)
	}
}

func TestDefaults(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	c, err := Load(LoadOptions{})
	if err != nil {
		t.Fatalf("Load with nothing set: %v", err)
	}
	if len(c.set) != 0 || c.IsSet("listen") || c.IsSet("cache") {
		t.Errorf("nothing was set, but set = %v", c.set)
	}
	d := Default()
	c.set = nil
	if !reflect.DeepEqual(c, d) {
		t.Errorf("Load() = %+v, want Default() %+v", c, d)
	}
	d1, d2 := Default(), Default()
	if d1 == d2 || &d1.Backend.Redis.Addrs[0] == &d2.Backend.Redis.Addrs[0] {
		t.Error("Default shares memory between calls")
	}
}

// defaultString is the environment spelling of the default at path.
func defaultString(t *testing.T, path string) string {
	t.Helper()
	v, ok := fieldByPath(Default(), path)
	if !ok {
		t.Fatalf("no field at %s", path)
	}
	switch x := v.Interface().(type) {
	case []string:
		return strings.Join(x, ",")
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	default:
		return fmt.Sprint(x)
	}
}

func gatedPrefix(path string) (string, bool) {
	for k := range notBuilt {
		if !strings.Contains(k, "=") && (path == k || isUnder(path, k)) {
			return k, true
		}
	}
	return "", false
}

// TestEveryEnvKey sets each key the environment can reach to its own
// default value. Keys of built features must load (and count as set);
// keys of features not built must fail with "not supported yet" even
// though the value is the default: explicit is what counts.
func TestEveryEnvKey(t *testing.T) {
	names := EnvNames()
	if len(names) < 50 {
		t.Fatalf("EnvNames() has %d names; the schema walk is broken", len(names))
	}
	gatedSeen := map[string]bool{}
	for _, name := range names {
		path := envTable().leaves[name]
		if path == "backend.type" {
			continue // its default, disk, is gated as a value; see TestNotBuiltValue
		}
		t.Run(name, func(t *testing.T) {
			env := []string{name + "=" + defaultString(t, path), "RESPCACHE_BACKEND_TYPE=redis"}
			c, fes := loadErrors(t, LoadOptions{Env: env})
			prefix, gated := gatedPrefix(path)
			if !gated {
				if fes != nil {
					t.Fatalf("supported key failed: %v", fes)
				}
				if !c.IsSet(path) || c.set[path].source != "env "+name {
					t.Errorf("IsSet(%q) = %v, origin %+v", path, c.IsSet(path), c.set[path])
				}
				return
			}
			gatedSeen[prefix] = true
			want := FieldError{Source: "env " + name, Path: path, Msg: fmt.Sprintf("not supported yet (%s lands in a later release)", notBuilt[prefix])}
			if len(fes) != 1 || fes[0] != want {
				t.Fatalf("got %v, want exactly %v", fes, want)
			}
		})
	}
	for k := range notBuilt {
		if !strings.Contains(k, "=") && !gatedSeen[k] {
			t.Errorf("notBuilt entry %q gates no key the environment can set", k)
		}
	}
}

func TestNotBuiltValue(t *testing.T) {
	// The value gate as it was before the disk store landed: a test entry.
	notBuilt["backend.type=disk"] = "the embedded disk store"
	defer delete(notBuilt, "backend.type=disk")
	// backend.type: disk is the default and never an error by itself.
	if _, err := Load(LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	_, fes := loadErrors(t, LoadOptions{Env: []string{"RESPCACHE_BACKEND_TYPE=disk"}})
	want := `env RESPCACHE_BACKEND_TYPE: backend.type: "disk" is not supported yet (the embedded disk store lands in a later release)`
	if len(fes) != 1 || fes[0].Error() != want {
		t.Fatalf("got %v, want %s", fes, want)
	}
	if _, err := Load(LoadOptions{Env: []string{"RESPCACHE_BACKEND_TYPE=redis"}}); err != nil {
		t.Fatalf("backend.type redis: %v", err)
	}
	for k := range notBuilt {
		if path, _, ok := strings.Cut(k, "="); ok {
			if _, exists := fieldByPath(Default(), path); !exists {
				t.Errorf("notBuilt entry %q names no key", k)
			}
		}
	}
}

func TestEnvNames(t *testing.T) {
	tbl := envTable()
	leaves := 0
	walkSchema(reflect.TypeFor[Config](), "", func(p string, typ reflect.Type) {
		if typ.Kind() != reflect.Struct && typ != namespacesType {
			leaves++
		}
	})
	if len(tbl.leaves) != leaves {
		t.Fatalf("%d env names for %d leaf keys: two paths share a name", len(tbl.leaves), leaves)
	}
	for name, want := range map[string]string{
		"RESPCACHE_LISTEN":                                 "listen",
		"RESPCACHE_CACHE_MAX_MEMORY":                       "cache.max_memory",
		"RESPCACHE_BACKEND_REDIS_ADDRS":                    "backend.redis.addrs",
		"RESPCACHE_BACKEND_REDIS_TLS_INSECURE_SKIP_VERIFY": "backend.redis.tls.insecure_skip_verify",
		"RESPCACHE_TELEMETRY_TRACES_SAMPLE_RATIO":          "telemetry.traces.sample_ratio",
		"RESPCACHE_LOG_LEVEL":                              "log.level",
		"RESPCACHE_AUTH_PASSWORD_FILE":                     "auth.password_file",
	} {
		if got := tbl.leaves[name]; got != want {
			t.Errorf("%s resolves to %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"RESPCACHE_CACHE_NAMESPACES", "RESPCACHE_CACHE", "RESPCACHE_AUTH_RESOLVED_PASSWORD", "RESPCACHE_AUTH_RESOLVEDPASSWORD"} {
		if _, ok := tbl.leaves[name]; ok {
			t.Errorf("%s must not be a settable variable", name)
		}
	}
}

func TestEnvValues(t *testing.T) {
	tests := []struct {
		name  string
		env   []string
		check func(c *Config) bool
	}{
		{"list", []string{"RESPCACHE_BACKEND_REDIS_ADDRS=a:1,b:2", "RESPCACHE_BACKEND_REDIS_TOPOLOGY=cluster", "RESPCACHE_BACKEND_TYPE=redis"},
			func(c *Config) bool { return reflect.DeepEqual(c.Backend.Redis.Addrs, []string{"a:1", "b:2"}) }},
		{"list spaces and empties", []string{"RESPCACHE_LIMITS_DENY_COMMANDS= KEYS , ,FLUSHALL,"},
			func(c *Config) bool { return reflect.DeepEqual(c.Limits.DenyCommands, []string{"KEYS", "FLUSHALL"}) }},
		{"empty list", []string{"RESPCACHE_LIMITS_DENY_COMMANDS="},
			func(c *Config) bool { return c.Limits.DenyCommands != nil && len(c.Limits.DenyCommands) == 0 }},
		{"size", []string{"RESPCACHE_LIMITS_CLIENT_OUTPUT_BUFFER=1 GB"},
			func(c *Config) bool { return c.Limits.ClientOutputBuffer == 1e9 }},
		{"duration", []string{"RESPCACHE_SHUTDOWN_TIMEOUT=250ms"},
			func(c *Config) bool { return c.ShutdownTimeout.D() == 250*time.Millisecond }},
		{"bool", []string{"RESPCACHE_BACKEND_REDIS_TLS_ENABLED=1", "RESPCACHE_BACKEND_TYPE=redis"},
			func(c *Config) bool { return c.Backend.Redis.TLS.Enabled && c.Backend.Redis.TLS.Active() }},
		{"int", []string{"RESPCACHE_LIMITS_MAX_CLIENTS=7"},
			func(c *Config) bool { return c.Limits.MaxClients == 7 }},
		{"empty string", []string{"RESPCACHE_AUTH_PASSWORD="},
			func(c *Config) bool { return c.Auth.Password == "" && c.IsSet("auth.password") }},
		{"value with =", []string{"RESPCACHE_AUTH_PASSWORD=a=b"},
			func(c *Config) bool { return c.Auth.ResolvedPassword == "a=b" }},
		{"last wins", []string{"RESPCACHE_LOG_LEVEL=warn", "RESPCACHE_LOG_LEVEL=debug"},
			func(c *Config) bool { return c.Log.Level == "debug" }},
		{"others ignored", []string{"PATH=/bin", "RESPCACHEX=1", "respcache_log_level=x", "NOEQUALS", "OTEL_SERVICE_NAME=x"},
			func(c *Config) bool { return len(c.set) == 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(LoadOptions{Env: tt.env})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("unexpected config for %v:\n%s", tt.env, c)
			}
		})
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "respcache.yaml", `listen: 127.0.0.1:1001
log:
  level: warn
backend:
  type: redis
  redis:
    topology: cluster
    addrs: [c1:7000, c2:7000]
`)
	tests := []struct {
		name       string
		opts       LoadOptions
		listen     string
		listenFrom string // origin: "file:line", "env NAME", "flag --listen" or "" (default)
		level      string
		addrs      []string
		topology   string
	}{
		{"defaults", LoadOptions{}, "127.0.0.1:6380", "", "info", []string{"127.0.0.1:6379"}, "standalone"},
		{"file", LoadOptions{Path: file}, "127.0.0.1:1001", "file:1", "warn", []string{"c1:7000", "c2:7000"}, "cluster"},
		{"env over file", LoadOptions{Path: file, Env: []string{"RESPCACHE_LISTEN=127.0.0.1:1002", "RESPCACHE_BACKEND_REDIS_ADDRS=e:7000"}},
			"127.0.0.1:1002", "env RESPCACHE_LISTEN", "warn", []string{"e:7000"}, "cluster"},
		{"env over defaults", LoadOptions{Env: []string{"RESPCACHE_LOG_LEVEL=error"}}, "127.0.0.1:6380", "", "error", []string{"127.0.0.1:6379"}, "standalone"},
		{"flags over env", LoadOptions{Path: file, Env: []string{"RESPCACHE_LISTEN=127.0.0.1:1002", "RESPCACHE_BACKEND_REDIS_ADDRS=e:7000"}, Listen: "127.0.0.1:1003", Upstream: "up:6379"},
			"127.0.0.1:1003", "flag --listen", "warn", []string{"up:6379"}, "standalone"},
		{"flags alone", LoadOptions{Listen: ":0", Upstream: "up:6379"}, ":0", "flag --listen", "info", []string{"up:6379"}, "standalone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if c.Listen != tt.listen || c.Log.Level != tt.level || !reflect.DeepEqual(c.Backend.Redis.Addrs, tt.addrs) || c.Backend.Redis.Topology != tt.topology {
				t.Errorf("got listen %q level %q addrs %v topology %q; want %q %q %v %q",
					c.Listen, c.Log.Level, c.Backend.Redis.Addrs, c.Backend.Redis.Topology, tt.listen, tt.level, tt.addrs, tt.topology)
			}
			o, set := c.set["listen"]
			from := o.source
			if o.file != "" {
				from = "file:" + strconv.Itoa(o.line)
			}
			if set != (tt.listenFrom != "") || from != tt.listenFrom {
				t.Errorf("listen origin %q (set %v), want %q", from, set, tt.listenFrom)
			}
			if tt.opts.Upstream != "" {
				if c.Backend.Type != "redis" || c.set["backend.type"].source != "flag --upstream" || c.IsSet("backend.redis.addrs[1]") {
					t.Errorf("--upstream: type %q, set %v", c.Backend.Type, c.set)
				}
			}
		})
	}
}

func TestFlagErrors(t *testing.T) {
	_, fes := loadErrors(t, LoadOptions{Listen: "nonsense", Upstream: "up"})
	got := (&Error{Errors: fes}).Error()
	want := `flag --upstream: backend.redis.addrs[0]: invalid address "up": want host:port
flag --listen: listen: invalid address "nonsense": want host:port`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestIsSet(t *testing.T) {
	file := writeFile(t, "c.yaml", "listen: 127.0.0.1:6380\nbackend:\n  type: redis\n  redis:\n    tls: {}\n")
	c, err := Load(LoadOptions{Path: file, Env: []string{"RESPCACHE_BACKEND_REDIS_DB=0"}})
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{
		"listen":                  true, // same as the default, but written
		"backend":                 true,
		"backend.redis":           true,
		"backend.redis.tls":       true,
		"backend.redis.tls.ca_fi": false,
		"backend.redis.db":        true,
		"backend.re":              false, // not a prefix on a key boundary
		"cache":                   false,
		"log.level":               false,
		"":                        false,
	} {
		if got := c.IsSet(path); got != want {
			t.Errorf("IsSet(%q) = %v, want %v", path, got, want)
		}
	}
	if (&Config{}).IsSet("listen") || Default().IsSet("listen") {
		t.Error("a Config nobody loaded has nothing set")
	}
}

func TestPasswordFile(t *testing.T) {
	tests := []struct {
		content string
		want    string
	}{
		{"xyzzy\n", "xyzzy"},
		{"xyzzy\r\n", "xyzzy"},
		{"xyzzy", "xyzzy"},
		{"xyzzy\n\n", "xyzzy\n"}, // only one trailing newline is dropped
		{" xyzzy \n", " xyzzy "},
	}
	for i, tt := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) { // not the content: it would be in the temp dir's name
			pf := writeFile(t, "pw", tt.content)
			c, err := Load(LoadOptions{Env: []string{"RESPCACHE_AUTH_PASSWORD_FILE=" + pf}})
			if err != nil {
				t.Fatal(err)
			}
			if c.Auth.ResolvedPassword != tt.want || c.Auth.Password != "" {
				t.Errorf("ResolvedPassword = %q, want %q", c.Auth.ResolvedPassword, tt.want)
			}
			if strings.Contains(c.String(), strings.TrimSpace(tt.want)) {
				t.Errorf("String() leaks the password:\n%s", c)
			}
		})
	}

	dir := t.TempDir()
	big := writeFile(t, "big", strings.Repeat("x", maxSecretSize+1))
	nl := writeFile(t, "nl", "\n")
	for _, tt := range []struct{ file, want string }{
		{dir, "env RESPCACHE_AUTH_PASSWORD_FILE: auth.password_file: cannot read: read " + dir + ": is a directory"},
		{filepath.Join(dir, "nope"), "env RESPCACHE_AUTH_PASSWORD_FILE: auth.password_file: cannot read: open " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{big, "env RESPCACHE_AUTH_PASSWORD_FILE: auth.password_file: cannot read: " + big + " is larger than 65536 bytes; is it the right file?"},
		{nl, "env RESPCACHE_AUTH_PASSWORD_FILE: auth.password_file: " + nl + " is empty (an empty password would turn AUTH off)"},
	} {
		_, err := Load(LoadOptions{Env: []string{"RESPCACHE_AUTH_PASSWORD_FILE=" + tt.file}})
		if err == nil || err.Error() != tt.want {
			t.Errorf("password_file %s: got %v\nwant %s", tt.file, err, tt.want)
		}
	}

	c, err := Load(LoadOptions{Env: []string{"RESPCACHE_AUTH_PASSWORD=direct"}})
	if err != nil || c.Auth.ResolvedPassword != "direct" {
		t.Errorf("auth.password: ResolvedPassword %q, %v", c.Auth.ResolvedPassword, err)
	}
}

func TestRedacted(t *testing.T) {
	c, err := Load(LoadOptions{Env: []string{
		"RESPCACHE_AUTH_PASSWORD=client-secret",
		"RESPCACHE_BACKEND_TYPE=redis",
		"RESPCACHE_BACKEND_REDIS_PASSWORD=upstream-secret",
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Redacted()
	if r.Auth.Password != redactedMark || r.Auth.ResolvedPassword != redactedMark || r.Backend.Redis.Password != redactedMark {
		t.Errorf("Redacted left a secret: %+v %+v", r.Auth, r.Backend.Redis)
	}
	if c.Auth.Password != "client-secret" || c.Backend.Redis.Password != "upstream-secret" {
		t.Error("Redacted changed the original")
	}
	r.Backend.Redis.Addrs[0] = "changed:1"
	if c.Backend.Redis.Addrs[0] == "changed:1" {
		t.Error("Redacted shares the addrs slice with the original")
	}
	s := c.String()
	if strings.Contains(s, "secret") || !strings.Contains(s, "password: <redacted>") {
		t.Errorf("String() =\n%s", s)
	}
	if Default().Redacted().Auth.Password != "" {
		t.Error("an empty password must stay empty, so the dump shows AUTH is off")
	}
}

func TestLoadMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing.yaml")
	_, fes := loadErrors(t, LoadOptions{Path: p, Env: []string{"RESPCACHE_LOG_LEVEL=loud"}})
	// Both have no line; the file error has no path, so it sorts first.
	if len(fes) != 2 || fes[0].File != p || !strings.Contains(fes[0].Msg, "cannot read config file") || fes[1].Path != "log.level" {
		t.Errorf("got %v; want the read error and the env error together", fes)
	}
}

func TestErrorSortAndFormat(t *testing.T) {
	l := errList{
		{File: "f.yaml", Line: 9, Path: "b", Msg: "m"},
		{Source: "env RESPCACHE_X", Msg: "unknown variable"},
		{File: "f.yaml", Line: 2, Path: "z", Msg: "m"},
		{File: "f.yaml", Line: 2, Path: "a", Msg: "m"},
		{File: "f.yaml", Line: 9, Path: "b", Msg: "m"}, // duplicate
		{Path: "cache.max_memory", Msg: "derived"},
		{File: "f.yaml", Msg: "cannot read"},
	}
	err := l.err()
	// Line first, then path: errors with no line come first, and among
	// those the ones with no path.
	want := `f.yaml: cannot read
env RESPCACHE_X: unknown variable
cache.max_memory: derived
f.yaml:2: a: m
f.yaml:2: z: m
f.yaml:9: b: m`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	if (errList{}).err() != nil {
		t.Error("an empty list must be a nil error")
	}
}

func TestValidateHandBuilt(t *testing.T) {
	c := Default()
	c.Cache.TTL = -1
	c.Limits.ProtoMaxBulkLen = -5
	c.Telemetry.Traces.SampleRatio = -0.5
	err := c.Validate()
	want := `cache.ttl: must not be negative
limits.proto_max_bulk_len: must be greater than 0, got -5B
limits.proto_max_bulk_len: must not be negative
telemetry.traces.sample_ratio: must be between 0 and 1, got -0.5`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestMultipleErrorsFromAllSources(t *testing.T) {
	file := writeFile(t, "c.yaml", "limits:\n  max_clients: 0\nlog:\n  levl: info\n")
	_, fes := loadErrors(t, LoadOptions{Path: file, Env: []string{"RESPCACHE_LOG_FORMAT=xml"}, Listen: "x"})
	var got []string
	for _, fe := range fes {
		got = append(got, fe.Error())
	}
	want := []string{
		`flag --listen: listen: invalid address "x": want host:port`,
		`env RESPCACHE_LOG_FORMAT: log.format: invalid value "xml" (want one of: text, json)`,
		file + `:2: limits.max_clients: must be at least 1, got 0`,
		file + `:4: log.levl: unknown key (did you mean level?)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
