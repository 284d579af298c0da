package redistest

import (
	"reflect"
	"strings"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`SET k v`, []string{"SET", "k", "v"}},
		{"  GET\t k  ", []string{"GET", "k"}},
		{`SET "a b" ""`, []string{"SET", "a b", ""}},
		{`SET k "\r\n\x00\xff\t\"\\"`, []string{"SET", "k", "\r\n\x00\xff\t\"\\"}},
		{`SET k "\xZZ"`, []string{"SET", "k", "xZZ"}},
		{`SET k 'it\'s "raw" \n'`, []string{"SET", "k", `it's "raw" \n`}},
		{`SET k ''`, []string{"SET", "k", ""}},
		{``, nil},
	} {
		got, err := SplitArgs(tc.in)
		if err != nil {
			t.Errorf("SplitArgs(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSplitArgsErrors(t *testing.T) {
	for _, in := range []string{`SET "k`, `SET 'k`, `SET "k"v`, `SET 'k'v`, `SET k a"b`} {
		if got, err := SplitArgs(in); err == nil {
			t.Errorf("SplitArgs(%q) = %q, want an error", in, got)
		}
	}
}

func TestParseScript(t *testing.T) {
	s, err := ParseScript("x.txt", `# comment
resp: 3

SET k v
~TIME
@2 GET k
@3& BLPOP q 5
!blocked 1
RPUSH q a
@3 <
<
@2 ~<
`)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.RESP, []int{3}) || s.Conns != 3 {
		t.Fatalf("RESP %v, Conns %d", s.RESP, s.Conns)
	}
	want := []Step{
		{Line: 4, Conn: 1, Kind: StepDo, Args: []string{"SET", "k", "v"}},
		{Line: 5, Conn: 1, Kind: StepDo, Args: []string{"TIME"}, Shape: true},
		{Line: 6, Conn: 2, Kind: StepDo, Args: []string{"GET", "k"}},
		{Line: 7, Conn: 3, Kind: StepSend, Args: []string{"BLPOP", "q", "5"}},
		{Line: 8, Conn: 1, Kind: StepBlocked, N: 1},
		{Line: 9, Conn: 1, Kind: StepDo, Args: []string{"RPUSH", "q", "a"}},
		{Line: 10, Conn: 3, Kind: StepRead},
		{Line: 11, Conn: 1, Kind: StepRead},
		{Line: 12, Conn: 2, Kind: StepRead, Shape: true},
	}
	if len(s.Steps) != len(want) {
		t.Fatalf("%d steps, want %d: %+v", len(s.Steps), len(want), s.Steps)
	}
	for i, st := range s.Steps {
		st.Text = ""
		if !reflect.DeepEqual(st, want[i]) {
			t.Errorf("step %d: %+v, want %+v", i, st, want[i])
		}
	}
}

func TestParseScriptErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"", "no commands"},
		{"# only a comment\n", "no commands"},
		{"SET k v\nresp: 2\n", "x.txt:2: resp: header after the first command"},
		{"resp: 4\n", "want 2, 3 or both"},
		{"@0 GET k\n", "bad connection marker"},
		{"@x GET k\n", "bad connection marker"},
		{"@17 GET k\n", "bad connection marker"},
		{"@2& ~GET k\n", "send-only"},
		{"@2& <\n", "makes no sense"},
		{"!blocked x\n", "want `!blocked N`"},
		{"@2 !blocked 1\n", "want `!blocked N`"},
		{"SET \"k\n", "x.txt:1: unbalanced quotes"},
		{"@2\n", "no command"},
	} {
		_, err := ParseScript("x.txt", tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseScript(%q): got %v, want an error containing %q", tc.text, err, tc.want)
		}
	}
}

// TestCorpusParses keeps every corpus file well-formed even when redis-server
// is missing and the differential tests skip.
func TestCorpusParses(t *testing.T) {
	for _, f := range CorpusFiles(t) {
		s, err := ParseScriptFile(f)
		if err != nil {
			t.Error(err)
			continue
		}
		if len(s.Steps) < 10 {
			t.Errorf("%s: only %d steps", f, len(s.Steps))
		}
	}
}
