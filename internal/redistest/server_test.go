package redistest

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	c := Dial(t, s.Addr())
	if got := c.DoString("SET", "k", "v"); got != "+OK\r\n" {
		t.Fatalf("SET: %q", got)
	}
	// No persistence: a restart comes back empty on the same port.
	if got := c.DoString("CONFIG", "GET", "save"); got != "*2\r\n$4\r\nsave\r\n$0\r\n\r\n" {
		t.Fatalf("CONFIG GET save: %q", got)
	}
	if got := c.DoString("DEBUG", "SLEEP", "0"); got != "+OK\r\n" {
		t.Fatalf("DEBUG enabled: %q", got)
	}
	port := s.Port()
	s.Restart()
	if s.Port() != port {
		t.Fatalf("port changed across Restart: %d -> %d", port, s.Port())
	}
	c2 := Dial(t, s.Addr())
	if got := c2.DoString("EXISTS", "k"); got != ":0\r\n" {
		t.Fatalf("EXISTS after restart: %q", got)
	}
	s.Kill()
	if s.Running() {
		t.Fatal("still running after Kill")
	}
	if _, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		t.Fatal("port still accepting after Kill")
	}
	s.Restart()
	Dial(t, s.Addr()).Do("PING")
}

func TestPassword(t *testing.T) {
	s := Start(t, WithPassword("sekret"), WithArgs("--maxmemory", "1mb"))
	c := Dial(t, s.Addr())
	if got := c.DoString("GET", "k"); !strings.HasPrefix(got, "-NOAUTH") {
		t.Fatalf("GET without AUTH: %q", got)
	}
	if got := c.DoString("AUTH", "sekret"); got != "+OK\r\n" {
		t.Fatalf("AUTH: %q", got)
	}
	if got := c.DoString("CONFIG", "GET", "maxmemory"); got != "*2\r\n$9\r\nmaxmemory\r\n$7\r\n1048576\r\n" {
		t.Fatalf("extra args not applied: %q", got)
	}
}

func TestPauseResume(t *testing.T) {
	s := Start(t)
	c, err := DialRaw(s.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s.Pause()
	c.SetReadTimeout(200 * time.Millisecond)
	_, err = c.Do("PING")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("PING to a paused server: want a timeout, got %v", err)
	}
	s.Resume()
	c.SetReadTimeout(0)
	// The PING sent while paused is answered once the server runs again.
	r, err := c.ReadReply()
	if err != nil || string(r) != "+PONG\r\n" {
		t.Fatalf("after Resume: %q %v", r, err)
	}
}

// A paused server must still be stopped by cleanup; this test only pauses.
func TestCleanupOfPausedServer(t *testing.T) {
	Start(t).Pause()
}

func TestFreePortRace(t *testing.T) {
	// Start many servers at once: ports are released before redis-server
	// binds them, so collisions must be retried, not reported.
	for i := 0; i < 4; i++ {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			Dial(t, Start(t).Addr()).Do("PING")
		})
	}
}

func TestEventually(t *testing.T) {
	n := 0
	Eventually(t, time.Second, func() bool { n++; return n == 3 }, "counter to reach %d", 3)
	ft := &fakeTB{TB: t}
	func() {
		defer func() { _ = recover() }()
		Eventually(ft, 30*time.Millisecond, func() bool { return false }, "never %s", "true")
	}()
	if !strings.Contains(ft.msg, "never true not met within 30ms") {
		t.Fatalf("failure message: %q", ft.msg)
	}
}

// fakeTB captures Fatalf instead of failing the real test.
type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = sprintf(format, args...)
	panic("fatal")
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func (f *fakeTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	panic("fatal")
}
func (f *fakeTB) Cleanup(fn func()) { f.TB.Cleanup(fn) }
