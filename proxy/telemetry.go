package proxy

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/respcache/respcache/resp"
	"github.com/respcache/respcache/store/redis"
	"github.com/respcache/respcache/telemetry"
)

// Telemetry is what the proxy reports to; nil fields are off.
type Telemetry struct {
	// Metrics receives respcache_commands_total and
	// respcache_command_duration_seconds per command.
	Metrics *telemetry.Metrics
	// Tracing makes a span per sampled command, with a child span for the
	// upstream work it caused.
	Tracing *telemetry.Tracing
	// Slow logs batches slower than its threshold.
	Slow *telemetry.SlowLog
}

// commandIndex numbers every command and subcommand of the table, so a
// server keeps per-command state in a slice (the table itself is shared).
var commandIndex = func() int {
	n := 1 // 0: unknown commands
	var walk func(cs []*Command)
	walk = func(cs []*Command) {
		for _, c := range cs {
			c.idx = n
			c.spanName = strings.ToUpper(strings.ReplaceAll(c.Name, "|", " "))
			n++
			walk(c.Subcommands)
		}
	}
	walk(commandList)
	return n
}()

// instruments are a server's resolved per-command metrics.
type instruments struct {
	on      bool
	tel     Telemetry
	cmds    []*telemetry.CommandMetrics // by Command.idx
	unknown *telemetry.CommandMetrics
}

func newInstruments(t Telemetry) *instruments {
	in := &instruments{tel: t, on: t.Metrics != nil || t.Tracing != nil || t.Slow != nil}
	if t.Metrics == nil {
		return in
	}
	in.cmds = make([]*telemetry.CommandMetrics, commandIndex)
	var walk func(cs []*Command)
	walk = func(cs []*Command) {
		for _, c := range cs {
			in.cmds[c.idx] = t.Metrics.Command(c.Name)
			walk(c.Subcommands)
		}
	}
	walk(commandList)
	in.unknown = t.Metrics.Command("unknown")
	return in
}

// startSpan opens the command's span when tracing samples it.
func (s *session) startSpan(sl *slot, c *Command) {
	tr := s.srv.ins.tel.Tracing
	if tr == nil {
		return
	}
	name := "UNKNOWN"
	if c != nil {
		name = c.spanName
	}
	sl.spanCtx, sl.span = tr.StartRootCommand(s.ctx, name, s.db, "")
}

// setOutcome records how the cache answered, on a sampled span.
func (sl *slot) setOutcome(o telemetry.Outcome) {
	if sl.span.Recording() {
		sl.span.SetOutcome(o)
	}
}

// observeBatch ends the spans and records the durations of a batch's n
// commands: each gets the batch's duration, from its read to its replies
// (pipelined commands are answered together).
func (s *session) observeBatch(cmds []resp.Command, n int, start time.Time) {
	ins := s.srv.ins
	d := time.Since(start)
	for i := 0; i < n; i++ {
		sl := &s.slots[i]
		if ins.cmds != nil {
			m := ins.unknown
			if sl.cmd != nil {
				m = ins.cmds[sl.cmd.idx]
			}
			m.Observe(d)
		}
		if sl.req.Err != nil && ins.tel.Metrics != nil {
			ins.tel.Metrics.UpstreamError(upstreamErrorKind(sl.req.Err))
		}
		if sl.upSpan.Recording() {
			sl.upSpan.End(sl.req.Err)
			sl.upSpan = telemetry.Span{}
		}
		if sl.span.Recording() {
			if r := sl.req.Reply; sl.req.Err == nil && len(r) > 0 && r[0] == '-' {
				prefix, msg := errorParts(r)
				sl.span.SetRedisError(prefix, msg)
			}
			sl.span.End(sl.req.Err)
			sl.span, sl.spanCtx = telemetry.Span{}, nil
		}
		sl.cmd = nil
	}
	if slow := ins.tel.Slow; slow != nil && slow.Slow(d) && n > 0 {
		args := cmds[0].Args
		name := "unknown"
		if c := lookupCommand(args); c != nil {
			name = c.Name
		}
		if n > 1 {
			name += " (first of a pipeline of " + itoa(n) + ")"
		}
		slow.Observe(name, args[1:], d, s.conn.RemoteAddr().String())
	}
}

// errorParts splits an error reply into its prefix (ERR, WRONGTYPE, ...)
// and message.
func errorParts(r []byte) (string, string) {
	msg := string(r[1 : len(r)-2])
	for i := 0; i < len(msg); i++ {
		if msg[i] == ' ' {
			return msg[:i], msg[i+1:]
		}
	}
	return msg, ""
}

// startUpstreamSpan starts the CLIENT span of a sampled command that goes
// upstream; it ends with the batch.
func (s *session) startUpstreamSpan(sl *slot, op string) {
	if !sl.span.Recording() || sl.upSpan.Recording() {
		return
	}
	n, err := s.srv.up.Route(-1)
	if err != nil {
		return
	}
	_, sl.upSpan = s.srv.ins.tel.Tracing.Upstream(n.Addr()).Start(sl.spanCtx, op, s.db)
}

// upstreamErrorKind classifies a failed upstream call for
// respcache_upstream_errors_total{kind}.
func upstreamErrorKind(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return telemetry.UpstreamErrTimeout
	case errors.Is(err, redis.ErrUnavailable), errors.Is(err, redis.ErrClosed):
		return telemetry.UpstreamErrConnection
	case strings.Contains(err.Error(), "protocol"):
		return telemetry.UpstreamErrProtocol
	}
	return telemetry.UpstreamErrOther
}
