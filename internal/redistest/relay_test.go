package redistest

import (
	"strings"
	"testing"
	"time"
)

func TestRelay(t *testing.T) {
	s := Start(t)
	relay := StartRelay(t, s.Addr())
	direct := Dial(t, s.Addr())
	clients := func() int {
		info, err := doStringValue(s.Addr(), "", "INFO", "clients")
		if err != nil {
			return -1
		}
		// connected_clients counts the INFO connection itself too.
		for _, l := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(l, "connected_clients:"); ok {
				n := 0
				for _, c := range v {
					n = n*10 + int(c-'0')
				}
				return n - 1
			}
		}
		return -1
	}
	Eventually(t, 5*time.Second, func() bool { return clients() == 1 }, "one direct client")

	c := Dial(t, relay)
	// A pipeline in one write, replies read one frame at a time.
	c.SendRaw([]byte("SET k v\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n"))
	for _, want := range []string{"+OK\r\n", "$1\r\nv\r\n", "+PONG\r\n"} {
		if got := string(c.ReadReply()); got != want {
			t.Fatalf("through relay: %q, want %q", got, want)
		}
	}
	if got := direct.DoString("GET", "k"); got != "$1\r\nv\r\n" {
		t.Fatalf("direct: %q", got)
	}
	Eventually(t, 5*time.Second, func() bool { return clients() == 2 }, "relay's upstream connection")
	c.Close()
	Eventually(t, 5*time.Second, func() bool { return clients() == 1 }, "relay to close its upstream connection after the client left")

	// And the other way: the server closing the connection reaches the client.
	c2 := Dial(t, relay)
	if got := c2.DoString("QUIT"); got != "+OK\r\n" {
		t.Fatalf("QUIT: %q", got)
	}
	c2.SetReadTimeout(time.Second)
	if _, err := c2.raw.ReadReply(); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("after QUIT: want EOF, got %v", err)
	}
}
