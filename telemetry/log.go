package telemetry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// ParseLevel maps a log.level value (debug, info, warn, error; case
// ignored; "" = info) to a slog.Level.
func ParseLevel(level string) (slog.Level, error) {
	switch strings.ToLower(level) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return slog.LevelInfo, fmt.Errorf("%w: log level %q: want debug, info, warn or error", ErrInvalidConfig, level)
}

// NewLogger returns a logger writing to w in format "text" (default, "")
// or "json", at level (see ParseLevel). The returned LevelVar changes the
// level live (config reload: lv.Set). w must be safe for concurrent writes
// of whole records (os.Stderr is).
func NewLogger(w io.Writer, level, format string) (*slog.Logger, *slog.LevelVar, error) {
	l, err := ParseLevel(level)
	if err != nil {
		return nil, nil, err
	}
	lv := new(slog.LevelVar)
	lv.Set(l)
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), lv, nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), lv, nil
	}
	return nil, nil, fmt.Errorf("%w: log format %q: want text or json", ErrInvalidConfig, format)
}

// Limits of what SlowLog prints of a command's arguments: values can be
// large and private, a log line should be neither.
const (
	SlowLogMaxArgs     = 8  // arguments printed; the rest are counted
	SlowLogMaxArgBytes = 64 // bytes printed of each argument
)

// SlowLog logs commands slower than a threshold (log.slow_threshold), at
// warn. The threshold is an atomic: SetThreshold applies live. Safe for
// concurrent use.
type SlowLog struct {
	log       *slog.Logger
	threshold atomic.Int64 // nanoseconds; <= 0 = off
}

// NewSlowLog returns a slow-command logger writing to log with threshold
// d (0 = off).
func NewSlowLog(log *slog.Logger, d time.Duration) *SlowLog {
	s := &SlowLog{log: log}
	s.threshold.Store(int64(d))
	return s
}

// SetThreshold changes the threshold; 0 (or negative) turns logging off.
func (s *SlowLog) SetThreshold(d time.Duration) { s.threshold.Store(int64(d)) }

// Threshold returns the current threshold; 0 = off.
func (s *SlowLog) Threshold() time.Duration { return max(0, time.Duration(s.threshold.Load())) }

// Slow reports whether d is at or over the threshold, so callers can skip
// gathering what Observe needs. One atomic load.
func (s *SlowLog) Slow(d time.Duration) bool {
	t := s.threshold.Load()
	return t > 0 && int64(d) >= t
}

// Observe logs cmd if d is at or over the threshold: command name,
// duration, client address, argument count and the first SlowLogMaxArgs
// arguments (args excludes the command name), each cut to
// SlowLogMaxArgBytes. Under the threshold it costs one atomic load and
// allocates nothing. args is not retained.
func (s *SlowLog) Observe(cmd string, args [][]byte, d time.Duration, client string) {
	if s == nil || !s.Slow(d) {
		return
	}
	s.log.LogAttrs(context.Background(), slog.LevelWarn, "slow command",
		slog.String("cmd", cmd),
		slog.Duration("duration", d),
		slog.String("client", client),
		slog.Int("argc", len(args)),
		slog.Any("args", truncArgs(args)),
	)
}

// truncArgs renders at most SlowLogMaxArgs arguments, each cut to
// SlowLogMaxArgBytes with a note of how much was left out.
func truncArgs(args [][]byte) []string {
	n := min(len(args), SlowLogMaxArgs)
	out := make([]string, 0, n+1)
	for _, a := range args[:n] {
		if len(a) <= SlowLogMaxArgBytes {
			out = append(out, string(a))
			continue
		}
		out = append(out, string(a[:SlowLogMaxArgBytes])+"…(+"+strconv.Itoa(len(a)-SlowLogMaxArgBytes)+" bytes)")
	}
	if len(args) > n {
		out = append(out, "…(+"+strconv.Itoa(len(args)-n)+" args)")
	}
	return out
}
