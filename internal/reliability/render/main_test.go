package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/RELIABILITY.golden.md")

// TestGolden renders testdata/results.jsonl (two suites, results out of
// order, a scenario recorded twice, a long variant, replies with escapes,
// pipes and backticks) and compares with the golden file.
func TestGolden(t *testing.T) {
	out := filepath.Join(t.TempDir(), "RELIABILITY.md")
	var stderr bytes.Buffer
	code := run([]string{"-in", "testdata/results.jsonl", "-out", out,
		"-commit", "abc1234", "-nproc", "2", "-kernel", "6.1.0-test", "-go", "go1.26.8", "-redis", "7.0.15"}, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "RELIABILITY.golden.md")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rerun with -update after checking):\n%s", golden, got)
	}
	// Rendering twice gives the same bytes: nothing depends on map order
	// or the clock.
	out2 := filepath.Join(t.TempDir(), "again.md")
	run([]string{"-in", "testdata/results.jsonl", "-out", out2,
		"-commit", "abc1234", "-nproc", "2", "-kernel", "6.1.0-test", "-go", "go1.26.8", "-redis", "7.0.15"}, &stderr)
	again, _ := os.ReadFile(out2)
	if !bytes.Equal(got, again) {
		t.Error("two renderings of the same input differ")
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.jsonl")
	os.WriteFile(empty, nil, 0o644)
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte("{\"suite\":\"abuse\",\"scenario\":\"x\"}\nnot json\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no input", nil, 2, "usage"},
		{"stray argument", []string{"-in", empty, "extra"}, 2, "usage"},
		{"missing file", []string{"-in", filepath.Join(dir, "nope.jsonl")}, 1, "no such file"},
		{"no results", []string{"-in", empty, "-out", filepath.Join(dir, "o.md")}, 1, "holds no results"},
		{"malformed line", []string{"-in", bad, "-out", filepath.Join(dir, "o.md")}, 1, "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(tc.args, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr.String(), tc.code, tc.msg)
			}
		})
	}
}

func TestCode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{`"-ERR x\r\n"`, "`\"-ERR x\\r\\n\"`"},
		{"a`b", "``a`b``"},
		{"`a", "`` `a ``"},
	} {
		if got := code(tc.in); got != tc.want {
			t.Errorf("code(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestShorten(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"one two three four", 10, "one two … (in full below)"},
		{"ééééééééé", 5, "éé … (in full below)"},
	} {
		if got := shorten(tc.in, tc.n); got != tc.want {
			t.Errorf("shorten(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}
