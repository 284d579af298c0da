package redistest

import (
	"fmt"
	"testing"
	"time"
)

// PollInterval is how often Eventually re-evaluates its condition.
const PollInterval = 10 * time.Millisecond

// Eventually calls cond every PollInterval until it returns true, and fails
// the test if that does not happen within timeout. msgf, if given, is a
// format string and arguments describing what was awaited. Call it from the
// test goroutine.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msgf ...any) {
	t.Helper()
	if err := poll(timeout, cond); err != nil {
		msg := "condition"
		if len(msgf) > 0 {
			f, ok := msgf[0].(string)
			if !ok {
				f = "%v"
				msgf = append([]any{nil}, msgf...)
			}
			msg = fmt.Sprintf(f, msgf[1:]...)
		}
		t.Fatalf("redistest: %s not met within %v", msg, timeout)
	}
}

// poll is Eventually without a testing.TB.
func poll(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v", timeout)
		}
		time.Sleep(PollInterval)
	}
}
