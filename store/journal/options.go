package journal

import (
	"errors"
	"log/slog"
)

// Fsync policies accepted in Options.Fsync.
const (
	// FsyncAlways: Append returns once the record is fsynced. Concurrent
	// Appends share one fsync (group commit).
	FsyncAlways = "always"
	// FsyncEverySec: Append returns once the record is written to the OS; a
	// background goroutine fsyncs at least once a second, so a power loss can
	// lose up to about a second of acknowledged writes (a process crash loses
	// nothing).
	FsyncEverySec = "everysec"
	// FsyncNo: Append returns once the record is written to the OS; the OS
	// decides when it reaches the disk. Segments are still fsynced when they
	// are sealed and on Close.
	FsyncNo = "no"
)

const (
	// DefaultSegmentSize is the segment size used when Options.SegmentSize is 0.
	DefaultSegmentSize = 64 << 20
	// MinSegmentSize is the smallest accepted Options.SegmentSize.
	MinSegmentSize = 1 << 10
)

// Options configure a Journal. The zero value of every field except Dir
// means its documented default; call EnsureDefaults then Validate (Open does
// both on its own copy).
type Options struct {
	// Dir holds the segment files, the checkpoint and the lock file. Required;
	// created (0755) when missing. One process at a time: Open takes an
	// exclusive lock on Dir/LOCK.
	Dir string
	// Fsync is FsyncAlways, FsyncEverySec (default) or FsyncNo; see those
	// constants. It also decides when the confirmed-seq checkpoint is synced.
	Fsync string
	// SegmentSize is the size in bytes beyond which the journal starts a new
	// segment file; default 64 MiB, at least MinSegmentSize. A segment
	// exceeds it by at most one group of Appends (a group, and so a batch,
	// is never split). Smaller segments free disk space sooner after Confirm, at the
	// cost of more files and one extra fsync per roll.
	SegmentSize int64
	// Logger receives recovery reports (a torn tail cut off, a stale
	// checkpoint) and background sync errors. Default: discard.
	Logger *slog.Logger
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.Fsync == "" {
		o.Fsync = FsyncEverySec
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every invalid field at once (errors.Join), each message
// naming the field. Call it after EnsureDefaults: it treats zero values as
// given, not as defaults.
func (o Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("journal: Dir is required"))
	}
	switch o.Fsync {
	case FsyncAlways, FsyncEverySec, FsyncNo:
	default:
		errs = append(errs, errors.New("journal: Fsync must be always, everysec or no, got "+quote(o.Fsync)))
	}
	if o.SegmentSize < MinSegmentSize {
		errs = append(errs, errors.New("journal: SegmentSize must be at least "+itoa(MinSegmentSize)+" bytes"))
	}
	return errors.Join(errs...)
}

func quote(s string) string { return "\"" + s + "\"" }
