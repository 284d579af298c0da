package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fuzzSecret stands in for reading auth.password_file: fuzz inputs name
// arbitrary paths, and reading /dev/zero or a FIFO must not stall the run.
func fuzzSecret(name string) ([]byte, error) {
	if strings.HasPrefix(name, "ok") {
		return []byte("secret\n"), nil
	}
	return nil, errors.New("fuzz: no such file")
}

// FuzzLoad feeds arbitrary bytes as the config file. Load must never panic
// and must return either a config or a *Error, never both or neither. A
// config it accepts must validate again and its dump must decode back.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"testdata/good/*.yaml", "testdata/bad/*.yaml", "testdata/design.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	for _, s := range []string{
		"", "~", "---\n...\n", "[", "{", "a: &a [*a]", "listen: !!binary aGVsbG8=",
		"auth: {password_file: ok}", "limits: {client_output_buffer: 1.5GiB, max_clients: 0x10}",
		"backend: {type: redis, redis: {addrs: [\"[::1]:1\"], db: 1e3}}",
		"cache:\n  namespaces:\n    - {prefix: a}\n    - *x\n", "? [a]\n: b\n", "listen: \"\\u0000\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// The fuzzer has no per-input deadline; a hang would just stall
		// the run. Crash instead, so the input is saved.
		watchdog := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("load hangs on %q", data)) })
		defer watchdog.Stop()
		c, err := load(LoadOptions{Path: "fuzz.yaml"}, data, nil, fuzzSecret)
		if (c == nil) == (err == nil) {
			t.Fatalf("load returned config %v and error %v", c != nil, err)
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || len(e.Errors) == 0 {
				t.Fatalf("error %T %v is not a non-empty *Error", err, err)
			}
			_ = err.Error()
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("loaded config fails Validate: %v", err)
		}
		var errs errList
		decodeFile(Default(), "dump.yaml", []byte(c.String()), &errs)
		if err := errs.err(); err != nil {
			t.Fatalf("dump does not decode: %v\n%s", err, c)
		}
	})
}
