package redistest

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// minCorpusCommands is the promise the corpus makes: this many distinct
// Redis 7.0 commands are proved to relay byte for byte.
const minCorpusCommands = 150

// TestDiffCorpusRelay runs the whole corpus through the plain TCP relay. The
// relay cannot change a byte, so every difference it reports is
// nondeterminism in the corpus (or the runner), never a proxy bug: this is
// what makes the corpus fit to judge the real proxy.
func TestDiffCorpusRelay(t *testing.T) {
	RunDiffCorpus(t, func(t testing.TB, upstream string) string {
		return StartRelay(t, upstream)
	})
}

// notCommands are names the corpus uses on purpose to get "unknown command"
// errors; they do not count as coverage.
var notCommands = map[string]bool{"NOSUCHCOMMAND": true}

func TestDiffCorpusCoverage(t *testing.T) {
	cmds := CorpusCommands(t)
	names := make([]string, 0, len(cmds))
	for c := range cmds {
		if !notCommands[c] {
			names = append(names, c)
		}
	}
	sort.Strings(names)
	t.Logf("corpus covers %d distinct Redis commands: %s", len(names), strings.Join(names, " "))
	subs := CorpusSubcommands(t)
	t.Logf("and %d subcommands of container commands: %s", len(subs), strings.Join(subs, " "))
	if len(names) < minCorpusCommands {
		t.Fatalf("corpus covers %d distinct commands, want at least %d", len(names), minCorpusCommands)
	}
}

// TestDiffCorpusCommandsExist makes sure every command name in the corpus is
// one Redis 7.0 knows, so the coverage count is not padded with typos (which
// would only produce "unknown command" errors on both sides).
func TestDiffCorpusCommandsExist(t *testing.T) {
	s := Start(t)
	c := Dial(t, s.Addr())
	for name := range CorpusCommands(t) {
		if notCommands[name] {
			continue
		}
		if got := c.DoString("COMMAND", "INFO", name); strings.HasPrefix(got, "*1\r\n*-1") || strings.HasPrefix(got, "*1\r\n_") {
			t.Errorf("corpus uses %q, which redis-server does not know", name)
		}
	}
}

// TestRunDiffReportsDifferences proves the runner can fail: a relay that
// rewrites one byte sequence in replies must be caught at the right line with
// both replies quoted.
func TestRunDiffReportsDifferences(t *testing.T) {
	a := Start(t)
	b := Start(t)
	via := startRewritingRelay(t, b.Addr(), []byte("hello"), []byte("HELLO"))
	path := filepath.Join(t.TempDir(), "case.txt")
	script := "resp: 2\nSET k hello\n# the reply below carries the payload\nGET k\n"
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := ParseScriptFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ft := &fakeTB{TB: t}
	func() {
		defer func() { _ = recover() }()
		runScript(ft, s, 2, a.Addr(), via, diffConfig{viaServer: b.Addr()})
	}()
	for _, want := range []string{path + ":4:", "GET k", `direct: "$5\r\nhello\r\n"`, `via:    "$5\r\nHELLO\r\n"`} {
		if !strings.Contains(ft.msg, want) {
			t.Errorf("failure message lacks %q:\n%s", want, ft.msg)
		}
	}

	// Same replies by shape: a ~ line passes where bytes differ.
	if err := os.WriteFile(path, []byte("SET k hello\n~GET k\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = ParseScriptFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ft = &fakeTB{TB: t}
	func() {
		defer func() { _ = recover() }()
		runScript(ft, s, 3, a.Addr(), via, diffConfig{viaServer: b.Addr()})
	}()
	if ft.msg != "" {
		t.Errorf("shape comparison failed: %s", ft.msg)
	}
}

// startRewritingRelay is StartRelay with replies rewritten: a broken proxy.
// Each read is rewritten on its own, which suffices for small replies.
func startRewritingRelay(t *testing.T, upstream string, old, new []byte) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex // guards conns
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(u, c); u.Close() }()
			go func() {
				defer wg.Done()
				buf := make([]byte, 64<<10)
				for {
					n, err := u.Read(buf)
					if n > 0 {
						if _, werr := c.Write(bytes.ReplaceAll(buf[:n], old, new)); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				c.Close()
			}()
		}
	}()
	return l.Addr().String()
}
