package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// origin says where an explicitly set value came from: a file and line, or
// a source such as "env RESPCACHE_LOG_LEVEL" or "flag --listen".
type origin struct {
	file   string
	line   int
	source string
}

var (
	sizeType       = reflect.TypeFor[Size]()
	durationType   = reflect.TypeFor[Duration]()
	stringsType    = reflect.TypeFor[[]string]()
	namespacesType = reflect.TypeFor[[]Namespace]()
)

// yamlKey returns the YAML key of a struct field, or "" when the field is not
// part of the schema (unexported, or tagged "-").
func yamlKey(sf reflect.StructField) string {
	name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
	if !sf.IsExported() || name == "-" {
		return ""
	}
	return name
}

// fieldByKey returns the field of struct v whose YAML key is key.
func fieldByKey(v reflect.Value, key string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		if k := yamlKey(t.Field(i)); k != "" && k == key {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// keysOf lists the YAML keys of struct type t in declaration order.
func keysOf(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if k := yamlKey(t.Field(i)); k != "" {
			keys = append(keys, k)
		}
	}
	return keys
}

// walkSchema calls fn for every key path in the schema of struct type t,
// sections included, parents before children. A list of structs
// (cache.namespaces) is reported but not descended into.
func walkSchema(t reflect.Type, prefix string, fn func(path string, t reflect.Type)) {
	for i := range t.NumField() {
		sf := t.Field(i)
		k := yamlKey(sf)
		if k == "" {
			continue
		}
		p := joinPath(prefix, k)
		fn(p, sf.Type)
		if sf.Type.Kind() == reflect.Struct {
			walkSchema(sf.Type, p, fn)
		}
	}
}

// fieldByPath returns the field of *Config c at a dotted path without list
// indexes ("backend.redis.db").
func fieldByPath(c *Config, path string) (reflect.Value, bool) {
	v := reflect.ValueOf(c).Elem()
	for _, k := range strings.Split(path, ".") {
		if v.Kind() != reflect.Struct {
			return reflect.Value{}, false
		}
		f, ok := fieldByKey(v, k)
		if !ok {
			return reflect.Value{}, false
		}
		v = f
	}
	return v, true
}

func joinPath(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// describeType names what a value of type t must look like, for errors.
func describeType(t reflect.Type) string {
	switch {
	case t == sizeType:
		return "a size (bytes, or a number with a unit: 64MiB, 1GB)"
	case t == durationType:
		return "a duration (250ms, 10s, 5m)"
	case t == stringsType:
		return "a list of strings"
	case t == namespacesType:
		return "a list of namespaces (mappings with prefix, max_memory, ttl, mode)"
	}
	switch t.Kind() {
	case reflect.Struct:
		return "a mapping of keys"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int:
		return "an integer"
	case reflect.Float64:
		return "a number"
	}
	return t.String()
}

// describeNode names what the file holds at n, for errors.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "an unsupported YAML node"
}

// setScalar parses s into the leaf v. fromFile says s is a YAML scalar with
// resolved tag; environment values (fromFile false) have no tag and are
// parsed by the same rules otherwise, so RESPCACHE_X=64MiB means what
// x: 64MiB means.
func setScalar(v reflect.Value, s, tag string, fromFile bool) error {
	t := v.Type()
	wrong := func() error {
		return fmt.Errorf("expected %s, got %s", describeType(t), strconv.Quote(s))
	}
	if fromFile && tag == "!!null" && t.Kind() != reflect.String {
		return fmt.Errorf("expected %s, got nothing", describeType(t))
	}
	switch {
	case t == sizeType:
		if fromFile && tag == "!!bool" {
			return wrong()
		}
		n, err := ParseSize(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(n))
	case t == durationType:
		if fromFile && tag == "!!bool" {
			return wrong()
		}
		d, err := ParseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
	case t.Kind() == reflect.String:
		if fromFile && tag == "!!null" {
			s = ""
		}
		v.SetString(s)
	case t.Kind() == reflect.Bool:
		if fromFile && tag != "!!bool" {
			return wrong()
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			return wrong()
		}
		v.SetBool(b)
	case t.Kind() == reflect.Int:
		// !!float too: YAML resolves integers too large for int64 as
		// floats, and "out of range" says more than "not an integer".
		if fromFile && tag != "!!int" && tag != "!!float" {
			return wrong()
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, strconv.IntSize)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return fmt.Errorf("integer %s is out of range", strconv.Quote(s))
			}
			return wrong()
		}
		v.SetInt(n)
	case t.Kind() == reflect.Float64:
		if fromFile && tag != "!!int" && tag != "!!float" {
			return wrong()
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return wrong()
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("cannot set %s from a scalar", describeType(t))
	}
	return nil
}

// fileDecoder walks a yaml.Node tree against the schema. It reports every
// problem it meets and keeps going, so one run shows them all.
type fileDecoder struct {
	c    *Config
	file string
	errs *errList
}

func (d *fileDecoder) errorf(n *yaml.Node, path, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs.add(FieldError{File: d.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// maxAliasHops bounds alias chasing; the parser can build alias cycles.
const maxAliasHops = 32

// deref follows aliases to the node they name; nil when there is none.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i == maxAliasHops {
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// value decodes n into v. Recursion follows the schema's types, never the
// document's shape, so its depth is bounded by the schema even when aliases
// form cycles.
func (d *fileDecoder) value(n *yaml.Node, v reflect.Value, path string) {
	orig := n
	if n = deref(n); n == nil {
		d.errorf(orig, path, "alias cannot be resolved")
		return
	}
	t := v.Type()
	switch {
	case t.Kind() == reflect.Struct:
		if isNull(n) { // "section:" with nothing under it changes nothing
			return
		}
		if n.Kind != yaml.MappingNode {
			d.errorf(n, path, "expected %s, got %s", describeType(t), describeNode(n))
			return
		}
		d.mapping(n, v, path)
	case t == stringsType:
		if isNull(n) {
			v.Set(reflect.ValueOf([]string{}))
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "expected %s, got %s", describeType(t), describeNode(n))
			return
		}
		list, ok := make([]string, 0, len(n.Content)), true
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			it := deref(item)
			if it == nil || it.Kind != yaml.ScalarNode || isNull(it) {
				what := "an unresolvable alias"
				if it != nil {
					what = describeNode(it)
				}
				d.errorf(item, p, "expected a string, got %s", what)
				ok = false
				continue
			}
			d.c.markSet(p, origin{file: d.file, line: it.Line})
			list = append(list, it.Value)
		}
		if ok {
			v.Set(reflect.ValueOf(list))
		}
	case t == namespacesType:
		if isNull(n) {
			v.Set(reflect.ValueOf([]Namespace{}))
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "expected %s, got %s", describeType(t), describeNode(n))
			return
		}
		list := make([]Namespace, 0, len(n.Content))
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			ns := defaultNamespace()
			d.c.markSet(p, origin{file: d.file, line: item.Line})
			if it := deref(item); it == nil || it.Kind != yaml.MappingNode {
				what := "an unresolvable alias"
				if it != nil {
					what = describeNode(it)
				}
				d.errorf(item, p, "expected a namespace (a mapping with prefix, max_memory, ttl, mode), got %s", what)
				continue
			}
			d.value(item, reflect.ValueOf(&ns).Elem(), p)
			list = append(list, ns)
		}
		v.Set(reflect.ValueOf(list))
	default:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "expected %s, got %s", describeType(t), describeNode(n))
			return
		}
		if err := setScalar(v, n.Value, n.ShortTag(), true); err != nil {
			d.errorf(n, path, "%v", err)
		}
	}
}

func (d *fileDecoder) mapping(n *yaml.Node, v reflect.Value, path string) {
	seen := make(map[string]int)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := deref(n.Content[i]), n.Content[i+1]
		if kn == nil || kn.Kind != yaml.ScalarNode {
			d.errorf(n.Content[i], path, "keys must be plain strings")
			continue
		}
		key := kn.Value
		p := joinPath(path, key)
		if kn.ShortTag() == "!!merge" {
			d.errorf(kn, path, "YAML merge keys (<<) are not supported")
			continue
		}
		if first, dup := seen[key]; dup {
			d.errorf(kn, p, "duplicate key (first set on line %d)", first)
			continue
		}
		seen[key] = kn.Line
		f, ok := fieldByKey(v, key)
		if !ok {
			d.errorf(kn, p, "unknown key%s", suggestKey(key, v.Type()))
			continue
		}
		d.c.markSet(p, origin{file: d.file, line: kn.Line})
		d.value(vn, f, p)
	}
}

// suggestKey returns " (did you mean X?)" for a mistyped key: the closest
// sibling key, or else a key of that name elsewhere in the schema
// (max_memory at the top level → cache.max_memory).
func suggestKey(key string, t reflect.Type) string {
	if s := closest(key, keysOf(t)); s != "" {
		return " (did you mean " + s + "?)"
	}
	var elsewhere []string
	walkSchema(reflect.TypeFor[Config](), "", func(p string, _ reflect.Type) {
		if p == key || strings.HasSuffix(p, "."+key) {
			elsewhere = append(elsewhere, p)
		}
	})
	if len(elsewhere) > 0 {
		return " (did you mean " + strings.Join(elsewhere, " or ") + "?)"
	}
	return ""
}

// closest returns the candidate nearest to s by edit distance when it is
// near enough to be a typo, else "".
func closest(s string, candidates []string) string {
	best, bestD := "", -1
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(s), strings.ToLower(c)); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD < 0 || bestD > max(2, len(s)/4) {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var yamlLineRE = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// yamlSyntaxError turns a yaml.v3 parse error into a located FieldError.
func yamlSyntaxError(file string, err error) FieldError {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return FieldError{File: file, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return FieldError{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// decodeFile decodes data (named file in errors) over c, recording each key
// it sets. An empty document leaves c as it is.
func decodeFile(c *Config, file string, data []byte, errs *errList) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err != io.EOF {
			errs.add(yamlSyntaxError(file, err))
		}
		return
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == io.EOF:
	case err != nil:
		errs.add(yamlSyntaxError(file, err))
		return
	default:
		errs.add(FieldError{File: file, Line: extra.Line, Msg: "more than one YAML document; a config file holds one"})
		return
	}
	root := &doc
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return
		}
		root = doc.Content[0]
	}
	if doc.Kind == 0 {
		return
	}
	d := &fileDecoder{c: c, file: file, errs: errs}
	if r := deref(root); r != nil && r.Kind != yaml.MappingNode && !isNull(r) {
		d.errorf(r, "", "the file must be a mapping of keys (listen: ..., cache: ...), got %s", describeNode(r))
		return
	}
	d.value(root, reflect.ValueOf(c).Elem(), "")
}

// EnvPrefix starts every environment variable this package reads.
const EnvPrefix = "RESPCACHE_"

// envName is the variable that overrides path: "backend.redis.addrs" →
// "RESPCACHE_BACKEND_REDIS_ADDRS".
func envName(path string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
}

// envSchema maps variable names to the paths they set (scalars and lists of
// scalars), and names the sections and file-only lists, so a variable that
// matches one of those gets a precise error. Keys contain "_" themselves, so
// names are matched whole against this table rather than split.
type envSchema struct {
	leaves   map[string]string // RESPCACHE_CACHE_MAX_MEMORY → cache.max_memory
	sections map[string]string // RESPCACHE_CACHE → cache
	fileOnly map[string]string // RESPCACHE_CACHE_NAMESPACES → cache.namespaces
}

var envTable = sync.OnceValue(func() envSchema {
	s := envSchema{leaves: map[string]string{}, sections: map[string]string{}, fileOnly: map[string]string{}}
	walkSchema(reflect.TypeFor[Config](), "", func(p string, t reflect.Type) {
		switch {
		case t == namespacesType:
			s.fileOnly[envName(p)] = p
		case t.Kind() == reflect.Struct:
			s.sections[envName(p)] = p
		default:
			s.leaves[envName(p)] = p
		}
	})
	return s
})

// EnvNames lists every RESPCACHE_ variable Load understands, sorted. The
// caller owns the slice.
func EnvNames() []string {
	t := envTable()
	names := make([]string, 0, len(t.leaves))
	for n := range t.leaves {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// applyEnv applies RESPCACHE_ variables from env ("NAME=value" entries, as
// os.Environ returns) over c. Later entries for the same name win.
func applyEnv(c *Config, env []string, errs *errList) {
	tbl := envTable()
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		src := "env " + name
		path, ok := tbl.leaves[name]
		if !ok {
			errs.add(envNameError(tbl, name, src))
			continue
		}
		v, _ := fieldByPath(c, path)
		c.markSet(path, origin{source: src})
		if v.Type() == stringsType {
			list := []string{}
			for _, item := range strings.Split(val, ",") {
				if item = strings.TrimSpace(item); item != "" {
					list = append(list, item)
				}
			}
			v.Set(reflect.ValueOf(list))
			continue
		}
		if err := setScalar(v, val, "", false); err != nil {
			errs.add(FieldError{Source: src, Path: path, Msg: err.Error()})
		}
	}
}

func envNameError(tbl envSchema, name, src string) FieldError {
	for n, p := range tbl.fileOnly {
		if name == n || strings.HasPrefix(name, n+"_") {
			return FieldError{Source: src, Path: p, Msg: "can only be set in the config file, not by environment"}
		}
	}
	if p, ok := tbl.sections[name]; ok {
		return FieldError{Source: src, Path: p, Msg: fmt.Sprintf("is a section; set its keys one by one (%s_...)", name)}
	}
	msg := "unknown variable"
	names := make([]string, 0, len(tbl.leaves))
	for n := range tbl.leaves {
		names = append(names, n)
	}
	sort.Strings(names)
	if s := closest(name, names); s != "" {
		msg += " (did you mean " + s + "?)"
	}
	return FieldError{Source: src, Msg: msg}
}

// applyFlags applies command-line flags, the highest precedence.
func applyFlags(c *Config, opts LoadOptions) {
	if opts.Listen != "" {
		c.Listen = opts.Listen
		c.markSet("listen", origin{source: "flag --listen"})
	}
	if opts.Upstream != "" {
		o := origin{source: "flag --upstream"}
		c.Backend.Type = "redis"
		c.Backend.Redis.Addrs = []string{opts.Upstream}
		c.Backend.Redis.Topology = "standalone"
		c.markSet("backend.type", o)
		c.markSet("backend.redis.addrs", o)
		c.markSet("backend.redis.topology", o)
	}
}
