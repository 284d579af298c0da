package proxy

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/respcache/respcache/internal/redistest"
	"github.com/respcache/respcache/store/redis"
)

func up(t *testing.T) *redistest.Server { return redistest.Start(t) }

func TestAuth(t *testing.T) {
	srv := up(t)
	p := startProxy(t, Config{Password: "s3cret"}, redis.Config{Addrs: []string{srv.Addr()}})
	c := redistest.Dial(t, p.Addr)
	steps := []struct{ cmd, want string }{
		{"GET k", "-NOAUTH Authentication required.\r\n"},
		{"FOO a b", "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"},
		{"GET", "-ERR wrong number of arguments for 'get' command\r\n"},
		{"CLIENT NOSUCH", "-ERR unknown subcommand 'NOSUCH'. Try CLIENT HELP.\r\n"},
		{"HELLO 3", "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n"},
		{"AUTH wrong", "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{"AUTH someone s3cret", "-WRONGPASS invalid username-password pair or user is disabled.\r\n"},
		{"AUTH a b c", "-ERR syntax error\r\n"},
		{"AUTH s3cret", "+OK\r\n"},
		{"SET k v", "+OK\r\n"},
		{"RESET", "+RESET\r\n"},
		{"GET k", "-NOAUTH Authentication required.\r\n"},
		{"AUTH default s3cret", "+OK\r\n"},
		{"GET k", "$1\r\nv\r\n"},
	}
	for _, s := range steps {
		if got := c.DoString(strings.Fields(s.cmd)...); got != s.want {
			t.Errorf("%s: got %q, want %q", s.cmd, got, s.want)
		}
	}
	// HELLO with AUTH authenticates and switches protocol in one go.
	c2 := redistest.Dial(t, p.Addr)
	if got := c2.DoString("HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "app"); !strings.HasPrefix(got, "%7\r\n") {
		t.Fatalf("HELLO AUTH: %q", got)
	}
	if got := c2.DoString("CLIENT", "GETNAME"); got != "$3\r\napp\r\n" {
		t.Fatalf("CLIENT GETNAME: %q", got)
	}
	// An unauthenticated client cannot make the proxy buffer a big request.
	c3 := redistest.Dial(t, p.Addr)
	c3.SendRaw([]byte("*1\r\n$100000\r\n"))
	if got := string(c3.ReadReply()); got != "-ERR Protocol error: unauthenticated bulk length\r\n" {
		t.Fatalf("unauthenticated bulk: %q", got)
	}
}

func TestAuthWithoutPassword(t *testing.T) {
	srv := up(t)
	c := redistest.Dial(t, startStandalone(t, srv.Addr()).Addr)
	if got := c.DoString("AUTH", "x"); got != "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n" {
		t.Errorf("AUTH x: %q", got)
	}
	if got := c.DoString("AUTH", "default", "anything"); got != "+OK\r\n" {
		t.Errorf("AUTH default: %q", got)
	}
}

func TestDenyCommands(t *testing.T) {
	srv := up(t)
	p := startProxy(t, Config{DenyCommands: []string{"FLUSHALL", "config|set"}}, redis.Config{Addrs: []string{srv.Addr()}})
	c := redistest.Dial(t, p.Addr)
	if got := c.DoString("FLUSHALL"); got != "-NOPERM this user has no permissions to run the 'flushall' command\r\n" {
		t.Errorf("FLUSHALL: %q", got)
	}
	if got := c.DoString("CONFIG", "SET", "maxmemory", "1"); got != "-NOPERM this user has no permissions to run the 'config|set' command\r\n" {
		t.Errorf("CONFIG SET: %q", got)
	}
	if got := c.DoString("CONFIG", "GET", "maxmemory"); !strings.HasPrefix(got, "*2\r\n") {
		t.Errorf("CONFIG GET: %q", got)
	}
	if _, err := New(Config{DenyCommands: []string{"nosuch"}}, nil); err == nil {
		t.Error("an unknown command in deny_commands was accepted")
	}
}

func TestMaxClients(t *testing.T) {
	srv := up(t)
	p := startProxy(t, Config{MaxClients: 2}, redis.Config{Addrs: []string{srv.Addr()}})
	a, b := redistest.Dial(t, p.Addr), redistest.Dial(t, p.Addr)
	a.Do("PING")
	b.Do("PING")
	c := redistest.Dial(t, p.Addr)
	if got := string(c.ReadReply()); got != "-ERR max number of clients reached\r\n" {
		t.Fatalf("third client: %q", got)
	}
	a.Close()
	redistest.Eventually(t, 5*time.Second, func() bool { return p.srv.Clients() == 1 }, "client count back to 1")
	d := redistest.Dial(t, p.Addr)
	if got := d.DoString("PING"); got != "+PONG\r\n" {
		t.Fatalf("after a slot freed: %q", got)
	}
}

func TestIdleTimeout(t *testing.T) {
	srv := up(t)
	p := startProxy(t, Config{IdleTimeout: 200 * time.Millisecond}, redis.Config{Addrs: []string{srv.Addr()}})
	conn, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("read data from an idle connection")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("idle connection closed after %v, want about 200ms", d)
	}
}

// A malformed or oversized request ends its own connection only; a busy
// client on another connection sees nothing.
func TestBadInputIsolated(t *testing.T) {
	srv := up(t)
	p := startStandalone(t, srv.Addr())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failures []string
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		rc, err := redistest.DialRaw(p.Addr, 5*time.Second)
		if err != nil {
			t.Error(err)
			return
		}
		defer rc.Close()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			v := fmt.Sprint(i)
			if r, err := rc.Do("SET", "busy", v); err != nil || string(r) != "+OK\r\n" {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("SET: %q %v", r, err))
				mu.Unlock()
				return
			}
			if r, err := rc.Do("GET", "busy"); err != nil || string(r) != fmt.Sprintf("$%d\r\n%s\r\n", len(v), v) {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("GET: %q %v", r, err))
				mu.Unlock()
				return
			}
		}
	}()
	bad := []struct{ in, want string }{
		{"*1\r\n$4\r\nPING\r\n*x\r\n", "+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n"},
		{"*1\r\n$600000000\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"*2\r\n$3\r\nGET\r\n!\r\n", "-ERR Protocol error: expected '$', got '!'\r\n"},
		{"GET \"unterminated\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
		{strings.Repeat("x", 70000), "-ERR Protocol error: too big inline request\r\n"},
		{strings.Repeat("*1\r\n", 100000), "-ERR Protocol error: expected '$', got '*'\r\n"},
	}
	for _, b := range bad {
		conn, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		conn.Write([]byte(b.in))
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		var got bytes.Buffer
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				break // closed by the proxy after the error
			}
		}
		conn.Close()
		if got.String() != b.want {
			t.Errorf("%.40q: got %q, want %q then close", b.in, got.String(), b.want)
		}
	}
	close(stop)
	wg.Wait()
	for _, f := range failures {
		t.Error("busy client disturbed:", f)
	}
}

// respcache starts without its upstream, answers a clear error meanwhile,
// and recovers by itself once the upstream is there.
func TestUpstreamDownAndBack(t *testing.T) {
	srv := up(t)
	srv.Stop()
	p := startStandalone(t, srv.Addr())
	c := redistest.Dial(t, p.Addr)
	got := c.DoString("GET", "k")
	if !strings.HasPrefix(got, "-ERR upstream unavailable: ") {
		t.Fatalf("while down: %q", got)
	}
	// PING goes to the upstream, so a health check sees the outage.
	if got := c.DoString("PING"); !strings.HasPrefix(got, "-ERR upstream unavailable: ") {
		t.Fatalf("PING while down: %q", got)
	}
	srv.Restart()
	start := time.Now()
	redistest.Eventually(t, 10*time.Second, func() bool { return c.DoString("SET", "k", "v") == "+OK\r\n" }, "SET through the recovered upstream")
	t.Logf("recovered %v after the upstream restarted", time.Since(start))
	// And again: an upstream killed under a connected client.
	srv.Kill()
	if got := c.DoString("GET", "k"); !strings.HasPrefix(got, "-ERR upstream unavailable: ") {
		t.Fatalf("after kill: %q", got)
	}
	srv.Restart()
	// Every attempt is answered within a second, error or not: the writer of
	// the dead connection must not swallow the wake-up meant for the new one.
	redistest.Eventually(t, 10*time.Second, func() bool {
		start := time.Now()
		got := c.DoString("SET", "k", "v")
		if d := time.Since(start); d > time.Second {
			t.Fatalf("a command during recovery took %v (%q)", d, got)
		}
		return got == "+OK\r\n"
	}, "recovery after kill")
	// Once recovered, every command is answered at once: the writer of the
	// dead connection must not swallow the wake-up meant for the new one.
	for i := 0; i < 50; i++ {
		start := time.Now()
		if got := c.DoString("INCR", "n"); got != fmt.Sprintf(":%d\r\n", i+1) {
			t.Fatalf("INCR after recovery: %q", got)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("INCR %d after recovery took %v", i, d)
		}
	}
}

// A client that hangs up while its BLPOP waits cancels it on the server and
// returns its pinned connection.
func TestBlockingCancelledOnHangup(t *testing.T) {
	srv := up(t)
	p := startStandalone(t, srv.Addr())
	direct := redistest.Dial(t, srv.Addr())
	c := redistest.Dial(t, p.Addr)
	c.Send("BLPOP", "q", "0")
	redistest.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(direct.DoString("CLIENT", "LIST"), "cmd=blpop")
	}, "BLPOP blocked on the server")
	c.Close()
	redistest.Eventually(t, 5*time.Second, func() bool {
		return !strings.Contains(direct.DoString("CLIENT", "LIST"), "cmd=blpop")
	}, "BLPOP gone from the server after the client hung up")
	// A blocked client still gets its reply, and data pipelined after the
	// blocking command is executed afterwards.
	c2 := redistest.Dial(t, p.Addr)
	c2.SendRaw([]byte("*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n*1\r\n$4\r\nPING\r\n"))
	redistest.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(direct.DoString("CLIENT", "LIST"), "cmd=blpop")
	}, "second BLPOP blocked")
	direct.Do("RPUSH", "q", "x")
	if got := string(c2.ReadReply()); got != "*2\r\n$1\r\nq\r\n$1\r\nx\r\n" {
		t.Fatalf("BLPOP reply %q", got)
	}
	if got := string(c2.ReadReply()); got != "+PONG\r\n" {
		t.Fatalf("pipelined PING %q", got)
	}
}

func TestMaxPinned(t *testing.T) {
	srv := up(t)
	p := startProxy(t, Config{}, redis.Config{Addrs: []string{srv.Addr()}, MaxPinned: 1})
	a, b := redistest.Dial(t, p.Addr), redistest.Dial(t, p.Addr)
	if got := a.DoString("MULTI"); got != "+OK\r\n" {
		t.Fatal(got)
	}
	if got := b.DoString("MULTI"); got != "-ERR too many pinned upstream connections (backend.redis.max_pinned is 1)\r\n" {
		t.Fatalf("second MULTI: %q", got)
	}
	if got := b.DoString("SET", "x", "1"); got != "+OK\r\n" {
		t.Fatalf("plain command beside the limit: %q", got)
	}
	a.Do("SET", "k", "1")
	if got := a.DoString("EXEC"); got != "*1\r\n+OK\r\n" {
		t.Fatalf("EXEC: %q", got)
	}
	if got := b.DoString("MULTI"); got != "+OK\r\n" {
		t.Fatalf("MULTI after release: %q", got)
	}
}

// A pipeline mixing local, lane and pinned commands replies in order.
func TestPipelineOrder(t *testing.T) {
	srv := up(t)
	c := redistest.Dial(t, startStandalone(t, srv.Addr()).Addr)
	var in []byte
	cmds := [][]string{
		{"SET", "a", "1"}, {"PING"}, {"INCR", "a"}, {"MULTI"}, {"INCR", "a"}, {"ECHO", "e"},
		{"EXEC"}, {"GET", "a"}, {"SELECT", "2"}, {"GET", "a"}, {"SELECT", "0"}, {"GET", "a"},
	}
	want := []string{"+OK\r\n", "+PONG\r\n", ":2\r\n", "+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n",
		"*2\r\n:3\r\n$1\r\ne\r\n", "$1\r\n3\r\n", "+OK\r\n", "$-1\r\n", "+OK\r\n", "$1\r\n3\r\n"}
	for _, cmd := range cmds {
		in = append(in, redistest.EncodeCommand(cmd...)...)
	}
	c.SendRaw(in)
	for i, w := range want {
		if got := string(c.ReadReply()); got != w {
			t.Errorf("%v: got %q, want %q", cmds[i], got, w)
		}
	}
}

// Replies are identical however a pipeline is split into reads.
func TestLargePipeline(t *testing.T) {
	srv := up(t)
	c := redistest.Dial(t, startStandalone(t, srv.Addr()).Addr)
	const n = 20000
	var in []byte
	for i := 0; i < n; i++ {
		in = append(in, redistest.EncodeCommand("INCR", "ctr")...)
	}
	go c.SendRaw(in)
	for i := 1; i <= n; i++ {
		if got, want := string(c.ReadReply()), fmt.Sprintf(":%d\r\n", i); got != want {
			t.Fatalf("reply %d: %q, want %q", i, got, want)
		}
	}
}

// SYNC through respcache: the RDB payload and the replication stream are
// relayed unframed, as a replica attached to the upstream would see them.
func TestSyncReplicationStream(t *testing.T) {
	srv := up(t)
	p := startStandalone(t, srv.Addr())
	conn, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("*1\r\n$4\r\nSYNC\r\n"))
	direct := redistest.Dial(t, srv.Addr())
	var got bytes.Buffer
	buf := make([]byte, 4096)
	deadline := time.Now().Add(10 * time.Second)
	for !bytes.Contains(got.Bytes(), []byte("streamed-key")) {
		if time.Now().After(deadline) {
			t.Fatalf("no replication stream after 10s; got %q", got.String())
		}
		direct.Do("SET", "streamed-key", "v")
		conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _ := conn.Read(buf)
		got.Write(buf[:n])
	}
	if !bytes.Contains(got.Bytes(), []byte("REDIS")) {
		t.Fatalf("no RDB payload before the stream: %q", got.String()[:min(200, got.Len())])
	}
}

// CLIENT UNBLOCK names respcache's client ids; the blocked command waits on
// a pinned upstream connection with another id.
func TestClientUnblock(t *testing.T) {
	srv := up(t)
	p := startStandalone(t, srv.Addr())
	direct := redistest.Dial(t, srv.Addr())
	blocked, ctl := redistest.Dial(t, p.Addr), redistest.Dial(t, p.Addr)
	id := strings.TrimSuffix(strings.TrimPrefix(blocked.DoString("CLIENT", "ID"), ":"), "\r\n")
	for _, tc := range []struct{ reason, reply string }{
		{"", "*-1\r\n"},
		{"TIMEOUT", "*-1\r\n"},
		{"ERROR", "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"},
	} {
		blocked.Send("BLPOP", "l", "0")
		// flags=b, not cmd=blpop: an idle pooled connection that ran the
		// previous BLPOP still shows it as its last command.
		redistest.Eventually(t, 5*time.Second, func() bool {
			return strings.Contains(direct.DoString("CLIENT", "LIST"), "flags=b")
		}, "BLPOP blocked")
		args := []string{"CLIENT", "UNBLOCK", id}
		if tc.reason != "" {
			args = append(args, tc.reason)
		}
		if got := ctl.DoString(args...); got != ":1\r\n" {
			t.Fatalf("CLIENT UNBLOCK %s: %q", tc.reason, got)
		}
		if got := string(blocked.ReadReply()); got != tc.reply {
			t.Fatalf("unblocked (%s) reply %q, want %q", tc.reason, got, tc.reply)
		}
	}
	if got := ctl.DoString("CLIENT", "UNBLOCK", id); got != ":0\r\n" {
		t.Fatalf("unblocking a client that is not blocked: %q", got)
	}
	if got := ctl.DoString("CLIENT", "UNBLOCK", "asd"); got != "-ERR value is not an integer or out of range\r\n" {
		t.Fatalf("bad id: %q", got)
	}
	if got := ctl.DoString("CLIENT", "UNBLOCK", id, "NOPE"); got != "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n" {
		t.Fatalf("bad reason: %q", got)
	}
	if got := ctl.DoString("CLIENT", "unblock", id, "timeout", "x"); got != "-ERR unknown subcommand or wrong number of arguments for 'unblock'. Try CLIENT HELP.\r\n" {
		t.Fatalf("too many arguments: %q", got)
	}
}

// CLIENT TRACKING REDIRECT names a respcache client: invalidations reach it.
func TestTrackingRedirect(t *testing.T) {
	srv := up(t)
	p := startStandalone(t, srv.Addr())
	sub, tracker, writer := redistest.Dial(t, p.Addr), redistest.Dial(t, p.Addr), redistest.Dial(t, p.Addr)
	subID := strings.TrimSuffix(strings.TrimPrefix(sub.DoString("CLIENT", "ID"), ":"), "\r\n")
	if got := sub.DoString("SUBSCRIBE", "__redis__:invalidate"); !strings.HasPrefix(got, "*3\r\n$9\r\nsubscribe") {
		t.Fatalf("SUBSCRIBE: %q", got)
	}
	if got := tracker.DoString("CLIENT", "TRACKING", "on", "REDIRECT", subID); got != "+OK\r\n" {
		t.Fatalf("CLIENT TRACKING REDIRECT: %q", got)
	}
	tracker.Do("GET", "tracked")
	writer.Do("SET", "tracked", "1")
	msg := string(sub.ReadReply())
	if !strings.Contains(msg, "invalidate") || !strings.Contains(msg, "tracked") {
		t.Fatalf("invalidation message: %q", msg)
	}
}

// CLIENT LIST shows respcache's clients, with flags=b for one blocked in a
// blocking command, as Redis's own list tests expect.
func TestClientListShowsBlocked(t *testing.T) {
	srv := up(t)
	p := startStandalone(t, srv.Addr())
	direct := redistest.Dial(t, srv.Addr())
	blocked, ctl := redistest.Dial(t, p.Addr), redistest.Dial(t, p.Addr)
	blocked.Do("CLIENT", "SETNAME", "waiter")
	id := strings.TrimSuffix(strings.TrimPrefix(blocked.DoString("CLIENT", "ID"), ":"), "\r\n")
	blocked.Send("BRPOP", "k", "0")
	redistest.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(direct.DoString("CLIENT", "LIST"), "cmd=brpop")
	}, "BRPOP blocked")
	line := ctl.DoString("CLIENT", "LIST", "ID", id)
	for _, want := range []string{"id=" + id + " ", " name=waiter ", " flags=b ", " cmd=brpop "} {
		if !strings.Contains(line, want) {
			t.Errorf("CLIENT LIST ID %s lacks %q: %q", id, want, line)
		}
	}
	all := ctl.DoString("CLIENT", "LIST")
	if strings.Count(all, "id=") != 2 || !strings.Contains(all, "cmd=client|list") {
		t.Errorf("CLIENT LIST: %q", all)
	}
	ctl.Do("CLIENT", "UNBLOCK", id)
	blocked.ReadReply()
	if line := ctl.DoString("CLIENT", "LIST", "ID", id); !strings.Contains(line, " flags=N ") {
		t.Errorf("after unblock: %q", line)
	}
}

// A command slower than the read timeout (a long script) is waited for: the
// timeout detects a dead server, not a busy one, which answers a PING on
// another connection once the script ends (or BUSY after 5s). A paused
// server is still detected, within the read timeout plus the 6s probe.
func TestSlowCommandIsNotAnOutage(t *testing.T) {
	srv := up(t)
	p := startProxy(t, Config{UpstreamReadTimeout: 300 * time.Millisecond},
		redis.Config{Addrs: []string{srv.Addr()}, ReadTimeout: 300 * time.Millisecond})
	c := redistest.Dial(t, p.Addr)
	start := time.Now()
	script := "local s = redis.call('TIME'); local n = 0; " +
		"while true do local t = redis.call('TIME'); if (t[1]-s[1])*1000000 + (t[2]-s[2]) > 1200000 then break end; n = n + 1 end; return 1"
	if got := c.DoString("EVAL", script, "0"); got != ":1\r\n" {
		t.Fatalf("slow script: %q after %v", got, time.Since(start))
	}
	if got := c.DoString("SET", "after", "1"); got != "+OK\r\n" {
		t.Fatalf("after the slow script: %q", got)
	}
	srv.Pause()
	defer srv.Resume()
	if got := c.DoString("GET", "after"); !strings.HasPrefix(got, "-ERR upstream unavailable: ") {
		t.Fatalf("a hung server must still be detected: %q", got)
	}
}

// A client is not held behind another client's slow command on a shared
// lane: it moves to another lane and gets the server's own answer (BUSY
// while a script runs past lua-time-limit).
func TestNoHeadOfLineBlocking(t *testing.T) {
	srv := up(t)
	p := startProxy(t, Config{}, redis.Config{Addrs: []string{srv.Addr()}, Lanes: 1})
	slow, other := redistest.Dial(t, p.Addr), redistest.Dial(t, p.Addr)
	direct := redistest.Dial(t, srv.Addr())
	direct.Do("CONFIG", "SET", "lua-time-limit", "10")
	slow.Send("EVAL", "while true do end", "0")
	redistest.Eventually(t, 5*time.Second, func() bool {
		start := time.Now()
		got := other.DoString("PING")
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("PING behind a running script took %v", d)
		}
		return strings.HasPrefix(got, "-BUSY")
	}, "BUSY from the server while the script runs")
	if got := other.DoString("SCRIPT", "KILL"); got != "+OK\r\n" {
		t.Fatalf("SCRIPT KILL: %q", got)
	}
	if got := string(slow.ReadReply()); !strings.HasPrefix(got, "-ERR Error running script") && !strings.Contains(got, "killed") {
		t.Fatalf("killed script reply: %q", got)
	}
	if got := other.DoString("PING"); got != "+PONG\r\n" {
		t.Fatalf("PING after the kill: %q", got)
	}
}
