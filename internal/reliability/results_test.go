package reliability

import (
	"strings"
	"testing"
	"time"
)

func TestReadResults(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		err      string
	}{
		{"empty", "", 0, ""},
		{"two with a blank line", `{"suite":"abuse","scenario":"a"}` + "\n\n" + `{"suite":"fault","scenario":"b","lost":3}` + "\n", 2, ""},
		{"not json", `{"suite":"abuse","scenario":"a"}` + "\nnope\n", 0, "line 2"},
		{"no scenario", `{"suite":"abuse"}`, 0, "line 1: a result needs a suite and a scenario"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := ReadResults(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || len(rs) != tc.n {
				t.Fatalf("%d results, %v; want %d", len(rs), err, tc.n)
			}
		})
	}
}

func TestLatest(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2026, 11, 25, 3, m, 0, 0, time.UTC) }
	in := []Result{
		{Suite: "fault", Scenario: "b", Measured: "fault b", At: at(1)},
		{Suite: "abuse", Scenario: "z", Measured: "old", At: at(1)},
		{Suite: "abuse", Scenario: "z", Measured: "long", Long: true, At: at(3)},
		{Suite: "abuse", Scenario: "z", Measured: "new", At: at(2)},
		{Suite: "abuse", Scenario: "a", Measured: "first of a tie", At: at(5)},
		{Suite: "abuse", Scenario: "a", Measured: "second of a tie", At: at(5)},
	}
	var got []string
	for _, r := range Latest(in) {
		got = append(got, r.Suite+"/"+r.Scenario+": "+r.Measured)
	}
	want := []string{"abuse/a: second of a tie", "abuse/z: new", "abuse/z: long", "fault/b: fault b"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Latest:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if in[1].Measured != "old" {
		t.Error("Latest modified its input")
	}
}

// FuzzReadResults: any input either fails with an error or yields results
// that all have a suite and a scenario, and Latest never returns more than
// it was given.
func FuzzReadResults(f *testing.F) {
	f.Add(`{"suite":"abuse","scenario":"a","lost":-1}` + "\n")
	f.Add(`{"suite":"fault","scenario":"b","recovery_ns":5,"long":true,"at":"2026-11-25T03:00:00Z"}` + "\n\n{}")
	f.Add("not json\n")
	f.Fuzz(func(t *testing.T, in string) {
		rs, err := ReadResults(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, r := range rs {
			if r.Suite == "" || r.Scenario == "" {
				t.Fatalf("accepted a result without suite or scenario: %+v", r)
			}
		}
		if len(Latest(rs)) > len(rs) {
			t.Fatal("Latest returned more results than it was given")
		}
	})
}
