package disk

import (
	"errors"
	"fmt"
)

// Errors returned by the package. Command-level failures are not errors:
// they are RESP error replies written by Do.
var (
	// ErrClosed is returned by operations on a closed Store.
	ErrClosed = errors.New("disk: store closed")
	// ErrInvalidOptions wraps every Options.Validate failure.
	ErrInvalidOptions = errors.New("disk: invalid options")
	// ErrCorrupt is returned when a record on disk cannot be decoded.
	ErrCorrupt = errors.New("disk: corrupt record")
)

// errCorrupt is the decoders' error; a package-local alias keeps the
// decoders short.
var errCorrupt = ErrCorrupt

// replyErr is an error that becomes a RESP error reply as is: the text
// includes the Redis error code. Handlers return these for user errors.
type replyErr string

func (e replyErr) Error() string { return string(e) }

// Redis's error replies, word for word as redis-server 7.0.15 sends them.
const (
	errWrongType    replyErr = "WRONGTYPE Operation against a key holding the wrong kind of value"
	errNotInt       replyErr = "ERR value is not an integer or out of range"
	errNotFloat     replyErr = "ERR value is not a valid float"
	errSyntax       replyErr = "ERR syntax error"
	errOverflow     replyErr = "ERR increment or decrement would overflow"
	errNoKey        replyErr = "ERR no such key"
	errMaxBulk      replyErr = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
	errHashNotInt   replyErr = "ERR hash value is not an integer"
	errHashNotFloat replyErr = "ERR hash value is not a float"
	errNaNInf       replyErr = "ERR increment would produce NaN or Infinity"
	errDBIndex      replyErr = "ERR DB index is out of range"
	errSameObject   replyErr = "ERR source and destination objects are the same"
	errNotNegative  replyErr = "ERR value is out of range, must be positive"
)

func joinErrors(errs []error) error { return errors.Join(errs...) }

const errInvalidCursor replyErr = "ERR invalid cursor"

// errCountMismatch reports a collection whose meta count disagrees with its
// elements: on-disk corruption, never a user error.
func errCountMismatch(key []byte, want, got int64) error {
	return fmt.Errorf("%w: key %q: meta count %d, %d elements", ErrCorrupt, key, want, got)
}
