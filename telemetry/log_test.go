package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		level, format string
		logged        []string // of debug, info, warn, error
		json          bool
		err           bool
	}{
		{"", "", []string{"info", "warn", "error"}, false, false},
		{"debug", "text", []string{"debug", "info", "warn", "error"}, false, false},
		{"info", "json", []string{"info", "warn", "error"}, true, false},
		{"WARN", "JSON", []string{"warn", "error"}, true, false},
		{"error", "text", []string{"error"}, false, false},
		{"verbose", "text", nil, false, true},
		{"info", "yaml", nil, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.level+"/"+tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			log, lv, err := NewLogger(&buf, tt.level, tt.format)
			if tt.err {
				if !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("err = %v, want ErrInvalidConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			log.Debug("debug")
			log.Info("info")
			log.Warn("warn")
			log.Error("error")
			var got []string
			for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
				if tt.json {
					var rec struct{ Msg string }
					if err := json.Unmarshal([]byte(line), &rec); err != nil {
						t.Fatalf("not JSON: %q", line)
					}
					got = append(got, rec.Msg)
				} else {
					_, msg, ok := strings.Cut(line, "msg=")
					if !ok {
						t.Fatalf("not text format: %q", line)
					}
					got = append(got, msg)
				}
			}
			if !slices.Equal(got, tt.logged) {
				t.Errorf("logged %v, want %v", got, tt.logged)
			}
			// Live reload through the LevelVar.
			buf.Reset()
			lv.Set(slog.LevelDebug)
			log.Debug("now")
			if !strings.Contains(buf.String(), "now") {
				t.Error("LevelVar.Set(debug) did not apply")
			}
		})
	}
}

type slowRecord struct {
	Level    string
	Msg      string
	Cmd      string
	Duration int64
	Client   string
	Argc     int
	Args     []string
}

func TestSlowLog(t *testing.T) {
	var buf bytes.Buffer
	log, _, err := NewLogger(&buf, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	s := NewSlowLog(log, 10*time.Millisecond)
	long := bytes.Repeat([]byte("v"), 100)
	many := make([][]byte, 10)
	for i := range many {
		many[i] = long
	}
	tests := []struct {
		name      string
		threshold time.Duration
		args      [][]byte
		d         time.Duration
		want      *slowRecord
	}{
		{name: "under", threshold: 10 * time.Millisecond, args: [][]byte{[]byte("k")}, d: 9 * time.Millisecond},
		{name: "at threshold", threshold: 10 * time.Millisecond, args: [][]byte{[]byte("k")}, d: 10 * time.Millisecond,
			want: &slowRecord{Level: "WARN", Msg: "slow command", Cmd: "GET", Duration: int64(10 * time.Millisecond), Client: "10.0.0.1:5000", Argc: 1, Args: []string{"k"}}},
		{name: "truncated", threshold: time.Millisecond, args: many, d: time.Second,
			want: &slowRecord{Level: "WARN", Msg: "slow command", Cmd: "GET", Duration: int64(time.Second), Client: "10.0.0.1:5000", Argc: 10,
				Args: append(slices.Repeat([]string{strings.Repeat("v", 64) + "…(+36 bytes)"}, 8), "…(+2 args)")}},
		{name: "exactly 64 bytes kept", threshold: time.Millisecond, args: [][]byte{long[:64]}, d: time.Second,
			want: &slowRecord{Level: "WARN", Msg: "slow command", Cmd: "GET", Duration: int64(time.Second), Client: "10.0.0.1:5000", Argc: 1, Args: []string{strings.Repeat("v", 64)}}},
		{name: "no args", threshold: time.Millisecond, d: time.Second,
			want: &slowRecord{Level: "WARN", Msg: "slow command", Cmd: "GET", Duration: int64(time.Second), Client: "10.0.0.1:5000", Args: []string{}}},
		{name: "off", threshold: 0, args: many, d: time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf.Reset()
			s.SetThreshold(tt.threshold)
			if s.Threshold() != tt.threshold {
				t.Fatalf("Threshold = %v", s.Threshold())
			}
			s.Observe("GET", tt.args, tt.d, "10.0.0.1:5000")
			if tt.want == nil {
				if buf.Len() != 0 {
					t.Fatalf("logged %q", buf.String())
				}
				return
			}
			var got slowRecord
			if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
				t.Fatalf("%q: %v", buf.String(), err)
			}
			if got.Level != tt.want.Level || got.Msg != tt.want.Msg || got.Cmd != tt.want.Cmd || got.Duration != tt.want.Duration ||
				got.Client != tt.want.Client || got.Argc != tt.want.Argc || !slices.Equal(got.Args, tt.want.Args) {
				t.Errorf("logged %+v, want %+v", got, *tt.want)
			}
		})
	}
	var nilLog *SlowLog
	nilLog.Observe("GET", nil, time.Hour, "") // must not panic
}

func TestSlowLogUnderThresholdDoesNotAllocate(t *testing.T) {
	s := NewSlowLog(slog.New(slog.DiscardHandler), 10*time.Millisecond)
	args := [][]byte{[]byte("key"), []byte("value")}
	if n := testing.AllocsPerRun(1000, func() { s.Observe("SET", args, time.Millisecond, "127.0.0.1:1") }); n != 0 {
		t.Errorf("Observe under threshold allocates %v", n)
	}
}
