package disk

import (
	"fmt"
	"log/slog"
)

// Fsync policies (Options.Fsync).
const (
	FsyncAlways   = "always"   // every acknowledged write is synced before Do returns
	FsyncEverysec = "everysec" // a background sync each second; a crash loses at most ~1s
	FsyncNo       = "no"       // the OS decides; a crash of the machine may lose more
)

// Options configures a Store. Zero fields mean the documented defaults
// (EnsureDefaults fills them in).
type Options struct {
	// Dir is the directory of the pebble database; created if missing.
	// Default "./data".
	Dir string
	// Fsync is the durability policy: FsyncAlways, FsyncEverysec (default)
	// or FsyncNo. With always, concurrent writers share WAL syncs (group
	// commit), so throughput grows with the number of writing clients.
	Fsync string
	// BlockCache is the size in bytes of pebble's block cache (reads).
	// Default 64 MiB.
	BlockCache int64
	// Memtable is pebble's write buffer in bytes (writes buffered before a
	// flush to L0), as memtables of half this size: one takes the writes,
	// writes wait while two full ones queue for their flush. Measured peak
	// of memtable memory: 1.5x Memtable (a flushed memtable is released
	// when its flush ends; bench/disk.sh). Default 64 MiB; below 4 GiB.
	Memtable int64
	// Databases is the number of logical databases (SELECT 0..Databases-1).
	// Default 16; at most 256.
	Databases int
	// Logger receives background errors (expiry, sync). Default
	// slog.Default().
	Logger *slog.Logger
}

// EnsureDefaults fills zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.Dir == "" {
		o.Dir = "./data"
	}
	if o.Fsync == "" {
		o.Fsync = FsyncEverysec
	}
	if o.BlockCache == 0 {
		o.BlockCache = 64 << 20
	}
	if o.Memtable == 0 {
		o.Memtable = 64 << 20
	}
	if o.Databases == 0 {
		o.Databases = 16
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate reports every invalid field at once. Call it after
// EnsureDefaults; zero values other than those defaults fill are invalid.
func (o Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, fmt.Errorf("%w: dir is empty", ErrInvalidOptions))
	}
	switch o.Fsync {
	case FsyncAlways, FsyncEverysec, FsyncNo:
	default:
		errs = append(errs, fmt.Errorf("%w: fsync %q: want always, everysec or no", ErrInvalidOptions, o.Fsync))
	}
	if o.BlockCache < 0 {
		errs = append(errs, fmt.Errorf("%w: block_cache %d: must be >= 0", ErrInvalidOptions, o.BlockCache))
	}
	if o.Memtable < 1<<20 || o.Memtable >= 4<<30 {
		errs = append(errs, fmt.Errorf("%w: memtable %d: must be in [1MiB, 4GiB)", ErrInvalidOptions, o.Memtable))
	}
	if o.Databases < 1 || o.Databases > 256 {
		errs = append(errs, fmt.Errorf("%w: databases %d: must be in [1, 256]", ErrInvalidOptions, o.Databases))
	}
	return joinErrors(errs)
}
