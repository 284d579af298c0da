package loadgen

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Errors returned by this package; check them with errors.Is.
var (
	// ErrInvalidOptions wraps every complaint of Options.Validate and of the
	// Parse functions.
	ErrInvalidOptions = errors.New("loadgen: invalid options")
	// ErrHandshake wraps a refused AUTH, HELLO or SELECT: the server is
	// reachable but the run cannot start.
	ErrHandshake = errors.New("loadgen: connection handshake failed")
	// ErrBadReply wraps a reply that is not RESP; the connection it came
	// from is closed.
	ErrBadReply = errors.New("loadgen: malformed reply")
)

// Dist names the key distribution.
type Dist string

// Key distributions.
const (
	// DistZipf draws key ranks from a Zipf distribution with exponent
	// Options.ZipfS; rank 0 is the hottest.
	DistZipf Dist = "zipf"
	// DistUniform draws every key with the same probability.
	DistUniform Dist = "uniform"
)

// Defaults of Options; the CLI shows the same values.
const (
	DefaultAddr          = "127.0.0.1:6380"
	DefaultClients       = 50
	DefaultPipeline      = 1
	DefaultDuration      = 10 * time.Second
	DefaultKeys          = 100_000
	DefaultKeyPrefix     = "key:"
	DefaultZipfS         = 0.99
	DefaultValueSize     = 100
	DefaultReadRatio     = 0.9
	DefaultTimeout       = 5 * time.Second
	DefaultMaxErrorTexts = 10
	// DefaultFillBatch is how many commands a client pipelines per round
	// trip while filling.
	DefaultFillBatch = 256
)

// Options describe one run. The zero value of a field means its documented
// default (EnsureDefaults fills them in), with one exception: ReadRatio,
// where zero is a meaningful "writes only"; DefaultOptions sets it to
// DefaultReadRatio.
type Options struct {
	// Addr is the server's host:port. Default DefaultAddr (respcache's
	// default listener).
	Addr string
	// Password, when set, is sent with AUTH on every connection before
	// anything else.
	Password string
	// DB, when not 0, is selected with SELECT on every connection (proxies
	// such as twemproxy refuse SELECT, so 0 sends nothing).
	DB int
	// RESP is the protocol version: 2 (default, nothing is sent) or 3
	// (HELLO 3 on every connection).
	RESP int
	// Clients is the number of connections, each driven by its own
	// goroutine. Default DefaultClients.
	Clients int
	// Pipeline is the number of commands a client writes before reading
	// their replies. Default DefaultPipeline (no pipelining).
	Pipeline int
	// Requests, when > 0, is the exact number of commands measured (the
	// clients claim them batch by batch); Duration must then be 0.
	Requests int64
	// Duration is how long the measurement runs when Requests is 0.
	// Default DefaultDuration.
	Duration time.Duration
	// Warmup is run before the measurement with the same workload; nothing
	// of it is reported. Default 0 (none).
	Warmup time.Duration
	// Keys is the number of distinct keys, numbered [0, Keys). Default
	// DefaultKeys.
	Keys uint64
	// KeyPrefix is prepended to the decimal key number. Default
	// DefaultKeyPrefix; an empty prefix cannot be asked for.
	KeyPrefix string
	// Dist is the key distribution. Default DistZipf.
	Dist Dist
	// ZipfS is the Zipf exponent (> 0; 1.0 and below are fine). Default
	// DefaultZipfS.
	ZipfS float64
	// ValueSize is the size of written values in bytes, drawn uniformly
	// from the range for each write. The zero value means DefaultValueSize.
	ValueSize SizeRange
	// ReadRatio is the fraction of commands drawn from the read commands
	// of Commands, in [0, 1]; the rest are drawn from its write commands.
	// When Commands has only reads (or only writes) it does not matter.
	// No implicit default: zero means writes only.
	ReadRatio float64
	// Commands is the command mix; nil means get,set. See ParseCommands.
	Commands []Command
	// Fill, when set, writes every key once (pipelined, before warmup and
	// measurement) so that reads find values: SET, or HSET with every
	// field when the mix uses hashes.
	Fill bool
	// Seed seeds the per-client random sources (client i uses Seed and i):
	// the same seed gives every client the same command and key sequence
	// in every run.
	Seed uint64
	// Timeout bounds dialing and each read and write; a connection
	// silent for longer is failed. Default DefaultTimeout.
	Timeout time.Duration
	// MaxErrorTexts is how many distinct error replies the result lists
	// (the most frequent first). Default DefaultMaxErrorTexts.
	MaxErrorTexts int
}

// DefaultOptions returns Options with every default filled in, ReadRatio
// included.
func DefaultOptions() Options {
	o := Options{ReadRatio: DefaultReadRatio}
	o.EnsureDefaults()
	return o
}

// EnsureDefaults replaces zero fields by their defaults (see each field).
func (o *Options) EnsureDefaults() {
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.RESP == 0 {
		o.RESP = 2
	}
	if o.Clients == 0 {
		o.Clients = DefaultClients
	}
	if o.Pipeline == 0 {
		o.Pipeline = DefaultPipeline
	}
	if o.Requests == 0 && o.Duration == 0 {
		o.Duration = DefaultDuration
	}
	if o.Keys == 0 {
		o.Keys = DefaultKeys
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if o.Dist == "" {
		o.Dist = DistZipf
	}
	if o.ZipfS == 0 {
		o.ZipfS = DefaultZipfS
	}
	if o.ValueSize == (SizeRange{}) {
		o.ValueSize = SizeRange{Min: DefaultValueSize, Max: DefaultValueSize}
	}
	if o.Commands == nil {
		o.Commands = []Command{{Kind: Get, Keys: 1}, {Kind: Set, Keys: 1}}
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxErrorTexts == 0 {
		o.MaxErrorTexts = DefaultMaxErrorTexts
	}
}

// MaxValueSize bounds ValueSize.Max: values are cut from one preallocated
// buffer per client.
const MaxValueSize = 64 << 20

// Validate reports every invalid field at once, wrapped in
// ErrInvalidOptions. Call it after EnsureDefaults.
func (o *Options) Validate() error {
	var errs []string
	bad := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	if o.DB < 0 {
		bad("db %d must be >= 0", o.DB)
	}
	if o.RESP != 2 && o.RESP != 3 {
		bad("resp %d must be 2 or 3", o.RESP)
	}
	if o.Clients < 1 {
		bad("clients %d must be >= 1", o.Clients)
	}
	if o.Pipeline < 1 {
		bad("pipeline %d must be >= 1", o.Pipeline)
	}
	if o.Requests < 0 {
		bad("requests %d must be >= 0", o.Requests)
	}
	if o.Duration < 0 {
		bad("duration %v must be >= 0", o.Duration)
	}
	if o.Requests > 0 && o.Duration > 0 {
		bad("requests and duration are exclusive: set one of them")
	}
	if o.Warmup < 0 {
		bad("warmup %v must be >= 0", o.Warmup)
	}
	switch o.Dist {
	case DistZipf, DistUniform:
	default:
		bad("dist %q must be zipf or uniform", o.Dist)
	}
	if !(o.ZipfS > 0) || math.IsInf(o.ZipfS, 0) {
		bad("zipf-s %v must be finite and > 0", o.ZipfS)
	}
	if o.ValueSize.Min < 0 || o.ValueSize.Max < o.ValueSize.Min || o.ValueSize.Max > MaxValueSize {
		bad("value size %v must satisfy 0 <= min <= max <= %d", o.ValueSize, MaxValueSize)
	}
	if !(o.ReadRatio >= 0 && o.ReadRatio <= 1) {
		bad("read ratio %v must be in [0, 1]", o.ReadRatio)
	}
	if err := validateMix(o.Commands); err != nil {
		bad("%v", err)
	}
	if o.Timeout < 0 {
		bad("timeout %v must be >= 0", o.Timeout)
	}
	if o.MaxErrorTexts < 0 {
		bad("max error texts %d must be >= 0", o.MaxErrorTexts)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidOptions, strings.Join(errs, "; "))
	}
	return nil
}
