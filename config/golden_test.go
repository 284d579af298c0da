package config

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*/*.golden from the current output")

// readEnvFile reads the optional NAME=value file next to a test config;
// blank lines and # comments are skipped.
func readEnvFile(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var env []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		env = append(env, line)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}

// setReport lists the explicitly set paths and their origins, so goldens
// pin down IsSet tracking as well as values.
func setReport(c *Config) string {
	var b strings.Builder
	b.WriteString("# explicitly set:\n")
	for _, p := range c.setPaths() {
		o := c.set[p]
		loc := o.source
		if o.file != "" {
			loc = filepath.Base(o.file) + ":" + strconv.Itoa(o.line)
		}
		b.WriteString("#   " + p + " (" + loc + ")\n")
	}
	return b.String()
}

func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./config -run TestGolden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s\n--- got ---\n%s--- want ---\n%s", golden, got, want)
	}
}

// TestGolden loads every testdata/good/*.yaml (must load; the effective
// config, redacted, and the set paths are compared with the .golden) and
// every testdata/bad/*.yaml (must fail; the error text is compared). A
// NAME.env file next to a config supplies its environment.
func TestGolden(t *testing.T) {
	for _, dir := range []string{"good", "bad"} {
		files, err := filepath.Glob(filepath.Join("testdata", dir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) < 5 {
			t.Fatalf("testdata/%s holds %d configs; the golden tests were lost", dir, len(files))
		}
		sort.Strings(files)
		for _, f := range files {
			base := strings.TrimSuffix(f, ".yaml")
			t.Run(dir+"/"+filepath.Base(base), func(t *testing.T) {
				env := readEnvFile(t, base+".env")
				c, err := Load(LoadOptions{Path: f, Env: env})
				var got string
				if dir == "good" {
					if err != nil {
						t.Fatalf("Load: %v", err)
					}
					got = c.String() + setReport(c)
					checkRoundTrip(t, c)
				} else {
					if err == nil {
						t.Fatalf("Load succeeded; want errors")
					}
					if c != nil {
						t.Errorf("Load returned a config with an error")
					}
					got = err.Error() + "\n"
				}
				checkGolden(t, base+".golden", got)
			})
		}
	}
}

// checkRoundTrip decodes the dump of c and expects the same values: String
// must print a file that means what c means.
func checkRoundTrip(t *testing.T, c *Config) {
	t.Helper()
	back := Default()
	var errs errList
	decodeFile(back, "dump.yaml", []byte(c.String()), &errs)
	if err := errs.err(); err != nil {
		t.Fatalf("dump does not decode: %v\n%s", err, c.String())
	}
	want, got := c.Redacted(), back.Redacted()
	want.set, got.set = nil, nil
	want.Auth.ResolvedPassword, got.Auth.ResolvedPassword = "", ""
	if !reflect.DeepEqual(want, got) {
		t.Errorf("dump does not round-trip:\nwant %+v\ngot  %+v", want, got)
	}
}
