package config

import (
	"reflect"
	"testing"
	"time"
)

func TestDiff(t *testing.T) {
	tests := []struct {
		name          string
		change        func(c *Config)
		live, restart []string
	}{
		{"nothing", func(c *Config) {}, nil, nil},
		{"nil list equals empty list", func(c *Config) { c.Limits.DenyCommands = nil; c.Cache.Namespaces = nil }, nil, nil},
		{"set state is not a value", func(c *Config) { c.markSet("listen", origin{source: "flag --listen"}) }, nil, nil},
		{"live keys", func(c *Config) {
			c.Cache.MaxMemory = 1 << 30
			c.Cache.TTL = Duration(time.Minute)
			c.Cache.NegativeTTL = Duration(time.Second)
			c.Telemetry.Traces.SampleRatio = 0.5
			c.Log.Level = "debug"
			c.Log.SlowThreshold = 0
		}, []string{"cache.max_memory", "cache.negative_ttl", "cache.ttl", "log.level", "log.slow_threshold", "telemetry.traces.sample_ratio"}, nil},
		{"namespaces are one live path", func(c *Config) {
			c.Cache.Namespaces = []Namespace{{Prefix: "a:", Mode: "cache"}, {Prefix: "b:", Mode: "bypass"}}
		}, []string{"cache.namespaces"}, nil},
		{"restart keys", func(c *Config) {
			c.Listen = "127.0.0.1:1"
			c.Backend.Redis.Addrs = []string{"x:1"}
			c.Backend.Redis.TLS.Enabled = true
			c.Limits.DenyCommands = []string{"KEYS"}
			c.Cache.Invalidation = "ttl"
			c.Cache.MaxItemSize = 2 << 20
			c.Log.Format = "json"
			c.Telemetry.Traces.Exporter = "stdout"
		}, nil, []string{"backend.redis.addrs", "backend.redis.tls.enabled", "cache.invalidation", "cache.max_item_size", "limits.deny_commands", "listen", "log.format", "telemetry.traces.exporter"}},
		{"both", func(c *Config) {
			c.Log.Level = "warn"
			c.Backend.Redis.DB = 2
		}, []string{"log.level"}, []string{"backend.redis.db"}},
		{"password file content", func(c *Config) { c.Auth.ResolvedPassword = "rotated" }, nil, []string{"auth.password_file"}},
		{"password itself", func(c *Config) { c.Auth.Password, c.Auth.ResolvedPassword = "p", "p" }, nil, []string{"auth.password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, new := Default(), Default()
			tt.change(new)
			live, restart := Diff(old, new)
			if !reflect.DeepEqual(live, tt.live) || !reflect.DeepEqual(restart, tt.restart) {
				t.Errorf("Diff = live %v restart %v; want live %v restart %v", live, restart, tt.live, tt.restart)
			}
			// Diff is symmetric in what changed.
			live2, restart2 := Diff(new, old)
			if !reflect.DeepEqual(live, live2) || !reflect.DeepEqual(restart, restart2) {
				t.Errorf("Diff(new, old) = %v %v; Diff(old, new) = %v %v", live2, restart2, live, restart)
			}
		})
	}
}

// TestDiffCoversEveryKey changes every leaf key, one at a time, and expects
// Diff to report exactly that key.
func TestDiffCoversEveryKey(t *testing.T) {
	n := 0
	walkValues(reflect.ValueOf(Default()).Elem(), "", func(path string, _ reflect.Value) {
		n++
		c := Default()
		v, _ := fieldByPath(c, path)
		switch v.Kind() {
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Bool:
			v.SetBool(!v.Bool())
		case reflect.Int, reflect.Int64:
			v.SetInt(v.Int() + 1)
		case reflect.Float64:
			v.SetFloat(v.Float() + 0.25)
		case reflect.Slice:
			v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
		default:
			t.Fatalf("%s: kind %v not handled", path, v.Kind())
		}
		live, restart := Diff(Default(), c)
		got := append(live, restart...)
		if len(got) != 1 || got[0] != path {
			t.Errorf("changing %s: Diff reports %v", path, got)
		}
		if wantLive := isLive(path); wantLive != (len(live) == 1) {
			t.Errorf("%s: live = %v, want %v", path, live, wantLive)
		}
	})
	if n < 50 {
		t.Fatalf("walked %d keys; the walk is broken", n)
	}
}
