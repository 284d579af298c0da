package telemetry

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys respcache adds to the database semantic conventions.
const (
	// AttrCacheOutcome is how the cache answered: an Outcome's string.
	AttrCacheOutcome = attribute.Key("respcache.cache.outcome")
	// AttrNamespace is the configured namespace (key prefix) the key fell in.
	AttrNamespace = attribute.Key("respcache.namespace")
)

// Outcome is how the cache answered a command, recorded on its span.
type Outcome uint8

// Outcomes. OutcomeNone records nothing.
const (
	OutcomeNone      Outcome = iota
	OutcomeHit               // served from the local cache
	OutcomeMiss              // fetched from the store (and cached)
	OutcomeStale             // served from cache while the store was unreachable (serve_stale_on_error)
	OutcomeCoalesced         // waited for another command's fill of the same key
	OutcomeBypass            // not cacheable (namespace mode bypass, write, oversized) and passed through
)

var outcomeNames = [...]string{"", "hit", "miss", "stale", "coalesced", "bypass"}

// String returns the attribute value: hit, miss, stale, coalesced, bypass,
// or "" for OutcomeNone and unknown values.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return ""
}

// dbIndexNames avoids strconv for the databases clients actually use.
var dbIndexNames = func() (s [16]string) {
	for i := range s {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func dbNamespace(db int) attribute.KeyValue {
	if db >= 0 && db < len(dbIndexNames) {
		return semconv.DBNamespace(dbIndexNames[db])
	}
	return semconv.DBNamespace(strconv.Itoa(db))
}

// Span is a sampled span or, for an unsampled command, the zero Span on
// which every method does nothing. It is a small value: pass it by value,
// end it exactly once, from any goroutine.
type Span struct{ s trace.Span }

// Recording reports whether the span is sampled; callers use it to skip
// computing attributes for unsampled commands.
func (s Span) Recording() bool { return s.s != nil }

// SetOutcome records how the cache answered (respcache.cache.outcome).
func (s Span) SetOutcome(o Outcome) {
	if s.s != nil && o != OutcomeNone {
		s.s.SetAttributes(AttrCacheOutcome.String(o.String()))
	}
}

// SetNamespace records the namespace the key fell in (respcache.namespace),
// for when it is known only after the span started.
func (s Span) SetNamespace(ns string) {
	if s.s != nil && ns != "" {
		s.s.SetAttributes(AttrNamespace.String(ns))
	}
}

// SetAttributes adds attributes; kv is not retained.
func (s Span) SetAttributes(kv ...attribute.KeyValue) {
	if s.s != nil {
		s.s.SetAttributes(kv...)
	}
}

// SetRedisError records an error reply sent to the client: prefix is its
// first word (ERR, WRONGTYPE, NOAUTH, …), kept in db.response.status_code and
// error.type as the conventions ask, msg the reply's text.
func (s Span) SetRedisError(prefix, msg string) {
	if s.s == nil {
		return
	}
	s.s.SetAttributes(semconv.DBResponseStatusCode(prefix), semconv.ErrorTypeKey.String(prefix))
	s.s.SetStatus(codes.Error, msg)
}

// End ends the span; a non-nil err marks it failed with error.type set to
// "timeout", "canceled", the Redis error prefix when err is a Redis error
// reply, else "_OTHER". A nil reply (missing key) is not a failure: pass
// nil.
func (s Span) End(err error) {
	if s.s == nil {
		return
	}
	if err != nil {
		typ := errorType(err)
		if isRedisPrefix(typ) {
			s.s.SetAttributes(semconv.DBResponseStatusCode(typ))
		}
		s.s.SetAttributes(semconv.ErrorTypeKey.String(typ))
		s.s.SetStatus(codes.Error, err.Error())
	}
	s.s.End()
}

// SpanContext returns the span's identity (invalid for the zero Span), for
// logging a trace ID next to a slow command.
func (s Span) SpanContext() trace.SpanContext {
	if s.s == nil {
		return trace.SpanContext{}
	}
	return s.s.SpanContext()
}

func errorType(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	// go-redis error replies (and respcache's own) read "PREFIX message".
	msg := err.Error()
	for i := 0; i < len(msg); i++ {
		if msg[i] == ' ' {
			if isRedisPrefix(msg[:i]) {
				return msg[:i]
			}
			break
		}
	}
	return "_OTHER"
}

// isRedisPrefix reports whether w looks like a Redis error prefix: 2 to 16
// upper-case letters (ERR, WRONGTYPE, CLUSTERDOWN, …).
func isRedisPrefix(w string) bool {
	if len(w) < 2 || len(w) > 16 {
		return false
	}
	for i := 0; i < len(w); i++ {
		if w[i] < 'A' || w[i] > 'Z' {
			return false
		}
	}
	return true
}

// sample decides whether a span starting under ctx is recorded: a child of
// a span follows its parent (free), a root asks the fast path.
func (t *Tracing) sample(ctx context.Context) (ok, root bool) {
	if t.tp == nil {
		return false, false
	}
	if psc := trace.SpanContextFromContext(ctx); psc.IsValid() {
		return psc.IsSampled(), false
	}
	return t.sampler.draw(), true
}

// StartCommand starts the SERVER span of one client command, named cmd
// (the command name as Redis spells it, e.g. "GET"), with db.system.name
// redis, db.operation.name cmd, db.namespace the selected database and, when
// ns is not "", respcache.namespace. For an unsampled command it returns ctx
// and the zero Span without allocating (~20ns, see doc.go); the caller
// should check Span.Recording before computing anything only for the span.
// Safe for concurrent use.
func (t *Tracing) StartCommand(ctx context.Context, cmd string, db int, ns string) (context.Context, Span) {
	ok, root := t.sample(ctx)
	if !ok {
		return ctx, Span{}
	}
	if root {
		ctx = context.WithValue(ctx, preSampledKey{}, struct{}{})
	}
	return t.startCommand(ctx, cmd, db, ns)
}

// StartRootCommand is StartCommand for a command that cannot have a parent
// (RESP carries no trace context; a proxy session's ctx holds no span): it
// decides on the ratio alone, without looking for a parent in ctx, which
// saves walking the context chain on every unsampled command (1.3% of a
// cache hit's CPU in a profile at ratio 0.01). The span is always a root.
func (t *Tracing) StartRootCommand(ctx context.Context, cmd string, db int, ns string) (context.Context, Span) {
	if t.tp == nil || !t.sampler.draw() {
		return ctx, Span{}
	}
	return t.startCommand(context.WithValue(ctx, preSampledKey{}, struct{}{}), cmd, db, ns, trace.WithNewRoot())
}

func (t *Tracing) startCommand(ctx context.Context, cmd string, db int, ns string, opts ...trace.SpanStartOption) (context.Context, Span) {
	attrs := [4]attribute.KeyValue{semconv.DBSystemNameRedis, semconv.DBOperationName(cmd), dbNamespace(db)}
	n := 3
	if ns != "" {
		attrs[3] = AttrNamespace.String(ns)
		n = 4
	}
	opts = append(opts, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs[:n]...))
	ctx, sp := t.tracer.Start(ctx, cmd, opts...)
	return ctx, Span{sp}
}

// Upstream describes one store endpoint for CLIENT spans; build it once per
// address (Tracing.Upstream) and keep it.
type Upstream struct {
	t     *Tracing
	attrs []attribute.KeyValue // server.address, server.port; never modified
}

// Upstream returns the CLIENT span starter for the store at addr
// ("host:port"; a bare host or a socket path is used as server.address
// alone).
func (t *Tracing) Upstream(addr string) *Upstream {
	u := &Upstream{t: t}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		u.attrs = append(u.attrs, semconv.ServerAddress(host))
		if p, err := strconv.Atoi(port); err == nil {
			u.attrs = append(u.attrs, semconv.ServerPort(p))
		}
	} else if addr != "" {
		u.attrs = append(u.attrs, semconv.ServerAddress(addr))
	}
	return u
}

// Start starts the CLIENT span of one call to the store made for a client
// command, named op (the command sent, e.g. "GET", or "PIPELINE"): a child
// of the command's span in ctx, recorded exactly when the command is. A
// ctx without a span (an unsampled command) gives the zero Span at no cost;
// Start never starts a trace of its own. db < 0 omits db.namespace. Safe
// for concurrent use.
func (u *Upstream) Start(ctx context.Context, op string, db int) (context.Context, Span) {
	if u.t.tp == nil {
		return ctx, Span{}
	}
	psc := trace.SpanContextFromContext(ctx)
	if !psc.IsValid() || !psc.IsSampled() {
		return ctx, Span{}
	}
	return u.start(ctx, op, db)
}

// StartRoot starts the CLIENT span of a call made outside any client
// command (write-back flush, tracking reconnect): a new trace, sampled at
// the ratio, unless ctx already holds a span, which it then follows like
// Start. Safe for concurrent use.
func (u *Upstream) StartRoot(ctx context.Context, op string, db int) (context.Context, Span) {
	ok, root := u.t.sample(ctx)
	if !ok {
		return ctx, Span{}
	}
	if root {
		ctx = context.WithValue(ctx, preSampledKey{}, struct{}{})
	}
	return u.start(ctx, op, db)
}

func (u *Upstream) start(ctx context.Context, op string, db int) (context.Context, Span) {
	attrs := make([]attribute.KeyValue, 0, 3+len(u.attrs))
	attrs = append(attrs, semconv.DBSystemNameRedis, semconv.DBOperationName(op))
	if db >= 0 {
		attrs = append(attrs, dbNamespace(db))
	}
	attrs = append(attrs, u.attrs...)
	ctx, sp := u.t.tracer.Start(ctx, op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx, Span{sp}
}

// Span names of respcache's own work (not client commands).
const (
	// SpanJournalAppend is the write of a pipeline's write-back records to
	// the journal, a child of each sampled command whose record it holds.
	SpanJournalAppend = "respcache.journal.append"
	// SpanFlush is one write-back flush batch: a root span linked to the
	// spans of the writes whose states it carries.
	SpanFlush = "respcache.writeback.flush"
)

// AttrFlushKeys is the number of keys in a flush batch.
const AttrFlushKeys = attribute.Key("respcache.writeback.keys")

// StartInternal starts an INTERNAL span named name as a child of the span
// in ctx, recorded exactly when that span is: for an unsampled command it
// returns the zero Span at no cost. Safe for concurrent use.
func (t *Tracing) StartInternal(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, Span) {
	if t.tp == nil {
		return ctx, Span{}
	}
	psc := trace.SpanContextFromContext(ctx)
	if !psc.IsValid() || !psc.IsSampled() {
		return ctx, Span{}
	}
	ctx, sp := t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(attrs...))
	return ctx, Span{sp}
}

// StartLinked starts the root INTERNAL span of work done later on behalf of
// earlier commands (a write-back flush batch), with a link to each of their
// spans. It is recorded when any link is sampled (so a sampled write's
// trace leads to its flush), otherwise at the sample ratio. links may be
// empty. Safe for concurrent use.
func (t *Tracing) StartLinked(ctx context.Context, name string, links []trace.SpanContext, attrs ...attribute.KeyValue) (context.Context, Span) {
	if t.tp == nil {
		return ctx, Span{}
	}
	linked := false
	for _, l := range links {
		linked = linked || l.IsSampled()
	}
	if !linked && !t.sampler.draw() {
		return ctx, Span{}
	}
	ctx = context.WithValue(ctx, preSampledKey{}, struct{}{})
	ls := make([]trace.Link, 0, len(links))
	for _, l := range links {
		if l.IsValid() {
			ls = append(ls, trace.Link{SpanContext: l})
		}
	}
	ctx, sp := t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindInternal), trace.WithNewRoot(),
		trace.WithLinks(ls...), trace.WithAttributes(attrs...))
	return ctx, Span{sp}
}
