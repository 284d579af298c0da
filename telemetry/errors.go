package telemetry

import "errors"

// Error sentinels, checked with errors.Is. Returned errors wrap them with the
// offending field or variable and value.
var (
	// ErrInvalidConfig reports a TraceConfig, AdminConfig or logger setting
	// outside its documented range.
	ErrInvalidConfig = errors.New("telemetry: invalid config")
	// ErrInvalidEnv reports an OTEL_* environment variable that applies
	// (the config left its key at the default) but cannot be used.
	ErrInvalidEnv = errors.New("telemetry: invalid OTEL_* environment variable")
	// ErrClosed is returned by Admin.Close when called a second time.
	ErrClosed = errors.New("telemetry: closed")
)
