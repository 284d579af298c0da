package config

import (
	"reflect"
	"sort"
)

// livePaths are the keys a running respcache applies on reload (SIGHUP or
// file change) without a restart; a path under one of them is live too.
var livePaths = []string{
	"cache.max_memory",
	"cache.ttl",
	"cache.negative_ttl",
	"cache.namespaces",
	"telemetry.traces.sample_ratio",
	"log.level",
	"log.slow_threshold",
}

// Diff compares two configurations key by key and returns the paths whose
// values differ, split into those applied live and those that need a
// restart, each sorted. Lists compare whole (cache.namespaces is one path;
// an empty list equals a nil one). A changed password read from
// auth.password_file counts as a change of auth.password_file. The caller
// owns the returned slices.
func Diff(old, new *Config) (live, restart []string) {
	var changed []string
	ov, nv := reflect.ValueOf(old).Elem(), reflect.ValueOf(new).Elem()
	walkLeaves(ov, nv, "", func(p string, a, b reflect.Value) {
		if a.Kind() == reflect.Slice && a.Len() == 0 && b.Len() == 0 {
			return
		}
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			changed = append(changed, p)
		}
	})
	if old.Auth.ResolvedPassword != new.Auth.ResolvedPassword && old.Auth.PasswordFile == new.Auth.PasswordFile &&
		old.Auth.Password == new.Auth.Password {
		changed = append(changed, "auth.password_file")
	}
	sort.Strings(changed)
	for _, p := range changed {
		if isLive(p) {
			live = append(live, p)
		} else {
			restart = append(restart, p)
		}
	}
	return live, restart
}

func isLive(p string) bool {
	for _, l := range livePaths {
		if p == l || isUnder(p, l) {
			return true
		}
	}
	return false
}

// walkLeaves calls fn with the matching fields of two values of the same
// struct type for every key that is not a section.
func walkLeaves(a, b reflect.Value, prefix string, fn func(path string, a, b reflect.Value)) {
	t := a.Type()
	for i := range t.NumField() {
		k := yamlKey(t.Field(i))
		if k == "" {
			continue
		}
		p := joinPath(prefix, k)
		if t.Field(i).Type.Kind() == reflect.Struct {
			walkLeaves(a.Field(i), b.Field(i), p, fn)
			continue
		}
		fn(p, a.Field(i), b.Field(i))
	}
}
