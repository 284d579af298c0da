package redistest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DiffCorpusDir is the corpus of differential-test scripts, relative to this
// package's directory (the working directory of its tests).
const DiffCorpusDir = "testdata/diff"

// DiffDB is the database every script runs in; the runner selects it on each
// connection and flushes everything before a script, as Redis's own test
// suite does with db 9.
const DiffDB = "9"

// VerboseEnv names the environment variable that, set to 1, makes the
// runner log every command with its direct reply, to review what a script
// really exercises.
const VerboseEnv = "REDISTEST_DIFF_VERBOSE"

var verbose = os.Getenv(VerboseEnv) == "1"

// BlockedTimeout bounds the wait of a `!blocked N` directive.
const BlockedTimeout = 10 * time.Second

// Script is a parsed differential-test script. See doc.go for the syntax.
type Script struct {
	Path  string
	RESP  []int // protocol versions to run: [2], [3] or [2 3]
	Steps []Step
	Conns int // highest connection number used
}

// StepKind says what a Step does.
type StepKind int

const (
	StepDo      StepKind = iota // send a command and compare its reply
	StepSend                    // send a command, read nothing yet
	StepRead                    // read and compare one pending reply
	StepBlocked                 // wait until the server has N blocked clients
)

// Step is one line of a script.
type Step struct {
	Line  int
	Conn  int // 1-based
	Kind  StepKind
	Args  []string
	Shape bool // compare only Shape of the replies
	N     int  // StepBlocked: clients to wait for
	Text  string
}

// ParseScriptFile reads and parses a script.
func ParseScriptFile(path string) (*Script, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseScript(path, string(b))
}

// ParseScript parses a script's text; path is used in error messages.
func ParseScript(path, text string) (*Script, error) {
	s := &Script{Path: path, RESP: []int{2, 3}, Conns: 1}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	line := 0
	for sc.Scan() {
		line++
		raw := strings.TrimSpace(sc.Text())
		if raw == "" || strings.HasPrefix(raw, "#") {
			continue
		}
		errf := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", path, line, fmt.Sprintf(format, args...))
		}
		if v, ok := strings.CutPrefix(raw, "resp:"); ok {
			if len(s.Steps) > 0 {
				return nil, errf("resp: header after the first command")
			}
			switch strings.TrimSpace(v) {
			case "2":
				s.RESP = []int{2}
			case "3":
				s.RESP = []int{3}
			case "both":
				s.RESP = []int{2, 3}
			default:
				return nil, errf("resp: want 2, 3 or both, got %q", v)
			}
			continue
		}
		st := Step{Line: line, Conn: 1, Kind: StepDo, Text: raw}
		rest := raw
		if strings.HasPrefix(rest, "@") {
			head, tail, _ := strings.Cut(rest, " ")
			num := head[1:]
			if n, ok := strings.CutSuffix(num, "&"); ok {
				num, st.Kind = n, StepSend
			}
			c, err := strconv.Atoi(num)
			if err != nil || c < 1 || c > 16 {
				return nil, errf("bad connection marker %q (want @1..@16, optionally @N&)", head)
			}
			st.Conn, rest = c, strings.TrimSpace(tail)
		} else if r, ok := strings.CutPrefix(rest, "&"); ok {
			st.Kind, rest = StepSend, strings.TrimSpace(r)
		}
		if r, ok := strings.CutPrefix(rest, "~"); ok {
			st.Shape, rest = true, strings.TrimSpace(r)
			if st.Kind == StepSend {
				return nil, errf("~ (shape) applies to replies; a send-only line has none")
			}
		}
		switch {
		case rest == "<":
			if st.Kind == StepSend {
				return nil, errf("@N& < makes no sense")
			}
			st.Kind = StepRead
		case strings.HasPrefix(rest, "!blocked"):
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(rest, "!blocked")))
			if err != nil || n < 0 || st.Shape || st.Kind != StepDo || strings.HasPrefix(raw, "@") {
				return nil, errf("want `!blocked N`")
			}
			st.Kind, st.N = StepBlocked, n
		default:
			args, err := SplitArgs(rest)
			if err != nil {
				return nil, errf("%v", err)
			}
			if len(args) == 0 {
				return nil, errf("no command")
			}
			st.Args = args
		}
		if st.Conn > s.Conns {
			s.Conns = st.Conn
		}
		s.Steps = append(s.Steps, st)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(s.Steps) == 0 {
		return nil, fmt.Errorf("%s: no commands", path)
	}
	return s, nil
}

// SplitArgs splits a command line the way redis-cli does (sdssplitargs):
// arguments are separated by spaces; "double quotes" allow \" \\ \n \r \t \b
// \a and \xHH escapes, so any byte can be written; 'single quotes' allow
// only \'. A closing quote must be followed by a space or the end.
func SplitArgs(line string) ([]string, error) {
	var args []string
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) {
			return args, nil
		}
		var cur []byte
		inDQ, inSQ, done := false, false, false
		for !done {
			if i == len(line) {
				if inDQ || inSQ {
					return nil, fmt.Errorf("unbalanced quotes in %q", line)
				}
				break
			}
			c := line[i]
			switch {
			case inDQ:
				switch {
				case c == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					v, _ := strconv.ParseUint(line[i+2:i+4], 16, 8)
					cur = append(cur, byte(v))
					i += 3
				case c == '\\' && i+1 < len(line):
					i++
					switch line[i] {
					case 'n':
						cur = append(cur, '\n')
					case 'r':
						cur = append(cur, '\r')
					case 't':
						cur = append(cur, '\t')
					case 'b':
						cur = append(cur, '\b')
					case 'a':
						cur = append(cur, '\a')
					default:
						cur = append(cur, line[i])
					}
				case c == '"':
					if i+1 < len(line) && line[i+1] != ' ' && line[i+1] != '\t' {
						return nil, fmt.Errorf("closing quote must be followed by a space in %q", line)
					}
					done = true
				default:
					cur = append(cur, c)
				}
			case inSQ:
				switch {
				case c == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					cur = append(cur, '\'')
				case c == '\'':
					if i+1 < len(line) && line[i+1] != ' ' && line[i+1] != '\t' {
						return nil, fmt.Errorf("closing quote must be followed by a space in %q", line)
					}
					done = true
				default:
					cur = append(cur, c)
				}
			default:
				switch c {
				case ' ', '\t':
					done = true
				case '"':
					inDQ = true
				case '\'':
					inSQ = true
				default:
					cur = append(cur, c)
				}
			}
			i++
		}
		if cur == nil {
			cur = []byte{}
		}
		args = append(args, string(cur))
		if i > len(line) {
			i = len(line)
		}
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// DiffOption configures RunDiff.
type DiffOption func(*diffConfig)

type diffConfig struct {
	viaServer string
	resp      []int
	shapeOnly func(args []string) bool
}

// WithShapeOnly compares the replies of the commands for which match
// returns true by Shape only: for a known, documented difference of the
// thing under test (say, an internal encoding OBJECT ENCODING reveals).
func WithShapeOnly(match func(args []string) bool) DiffOption {
	return func(c *diffConfig) { c.shapeOnly = match }
}

// WithViaServer names the redis-server behind viaAddr. `!blocked N` then
// polls that server's INFO directly instead of sending INFO through viaAddr,
// which is more reliable when the thing under test answers INFO itself.
func WithViaServer(addr string) DiffOption {
	return func(c *diffConfig) { c.viaServer = addr }
}

// WithRESP restricts the protocol versions run to those listed that the
// script also allows.
func WithRESP(versions ...int) DiffOption {
	return func(c *diffConfig) { c.resp = versions }
}

// RunDiff runs the script at scriptPath against directAddr (a redis-server)
// and against viaAddr (the thing under test, in front of a second, identical
// redis-server), once per RESP version the script asks for, each as a subtest
// "resp2"/"resp3". Commands are executed in lockstep, first on the direct
// side and then on the via side, and every reply is compared byte for byte
// (or by Shape for `~` lines). The first difference fails the subtest with
// the script's file:line, the command and both replies quoted.
//
// Before a script the runner opens one connection per @N used, sends HELLO 3
// on each (RESP3 runs; its reply is compared by Shape since it carries the
// client id) and SELECT 9, then FLUSHALL, SCRIPT FLUSH and FUNCTION FLUSH on
// connection 1, comparing all those replies too.
func RunDiff(t *testing.T, scriptPath, directAddr, viaAddr string, opts ...DiffOption) {
	t.Helper()
	var cfg diffConfig
	for _, o := range opts {
		o(&cfg)
	}
	s, err := ParseScriptFile(scriptPath)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	for _, v := range s.RESP {
		if cfg.resp != nil && !containsInt(cfg.resp, v) {
			continue
		}
		t.Run("resp"+strconv.Itoa(v), func(t *testing.T) {
			runScript(t, s, v, directAddr, viaAddr, cfg)
		})
	}
}

// RunDiffCorpus starts two fresh redis-servers, A and B, asks newVia to put
// the thing under test in front of B and return its address, and runs every
// script in the corpus (DiffCorpusDir, next to this file) as a subtest per
// file and RESP version, comparing A's replies with those that come through
// the thing under test.
//
// Why two servers: a script's replies depend on more than the keyspace
// (client ids, the script and function caches, INFO counters, keyspace
// events a proxy causes with its own connections, e.g. CLIENT TRACKING).
// Two servers started the same way and fed the same commands are in the same
// state at every step, whatever the thing under test does on the side, and
// the two runs can interleave step by step so that a blocking command sees
// the same order of events on both.
//
// It may be called from any package's tests: the corpus is found through
// this package's source directory (recorded at build time, so binaries built
// with -trimpath cannot find it).
func RunDiffCorpus(t *testing.T, newVia func(t testing.TB, upstreamAddr string) string, opts ...DiffOption) {
	t.Helper()
	files := CorpusFiles(t)
	a := Start(t)
	b := Start(t)
	via := newVia(t, b.Addr())
	opts = append([]DiffOption{WithViaServer(b.Addr())}, opts...)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			RunDiff(t, f, a.Addr(), via, opts...)
		})
	}
}

// CorpusFiles returns the corpus scripts, sorted.
func CorpusFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir(), "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("redistest: no diff corpus in %s: %v", corpusDir(), err)
	}
	sort.Strings(files)
	return files
}

func corpusDir() string {
	return filepath.Join(packageDir(), DiffCorpusDir)
}

type side struct {
	name     string
	addr     string // what the script's connections dial
	observer string // where !blocked polls INFO
	conns    []*RawConn
}

func runScript(t testing.TB, s *Script, resp int, directAddr, viaAddr string, cfg diffConfig) {
	t.Helper()
	direct := &side{name: "direct", addr: directAddr, observer: directAddr}
	via := &side{name: "via", addr: viaAddr, observer: viaAddr}
	if cfg.viaServer != "" {
		via.observer = cfg.viaServer
	}
	sides := []*side{direct, via}
	for _, sd := range sides {
		for i := 0; i < s.Conns; i++ {
			c, err := DialRaw(sd.addr, 5*time.Second)
			if err != nil {
				t.Fatalf("redistest: %s: dial %s: %v", sd.name, sd.addr, err)
			}
			sd.conns = append(sd.conns, c)
			defer c.Close()
		}
	}
	where := func(line int) string { return fmt.Sprintf("%s:%d", s.Path, line) }
	compare := func(what string, shape bool, conn int) {
		t.Helper()
		var replies [2][]byte
		for i, sd := range sides {
			r, err := sd.conns[conn-1].ReadReply()
			if err != nil {
				t.Fatalf("%s: reading the %s reply (%s): %v", what, sd.name, sd.addr, err)
			}
			replies[i] = r
		}
		a, b := replies[0], replies[1]
		if verbose {
			t.Logf("%s\n  -> %s", what, strconv.Quote(string(a)))
		}
		if shape {
			if sa, sb := Shape(a), Shape(b); sa != sb {
				t.Fatalf("%s: reply shapes differ\n  direct shape: %s\n  via shape:    %s%s", what, clip(sa), clip(sb), describeDiff(a, b))
			}
			return
		}
		if string(a) != string(b) {
			t.Fatalf("%s: replies differ%s", what, describeDiff(a, b))
		}
	}
	send := func(what string, conn int, args []string) {
		t.Helper()
		for _, sd := range sides {
			if err := sd.conns[conn-1].Send(args...); err != nil {
				t.Fatalf("%s: sending to %s (%s): %v", what, sd.name, sd.addr, err)
			}
		}
	}
	setup := func(conn int, shape bool, args ...string) {
		t.Helper()
		send("setup", conn, args)
		compare(fmt.Sprintf("%s: setup of @%d: %s", where(0), conn, quoteArgs(args)), shape, conn)
	}
	for i := 1; i <= s.Conns; i++ {
		if resp == 3 {
			setup(i, true, "HELLO", "3")
		}
		setup(i, false, "SELECT", DiffDB)
	}
	setup(1, false, "FLUSHALL")
	setup(1, false, "SCRIPT", "FLUSH")
	setup(1, false, "FUNCTION", "FLUSH")

	for _, st := range s.Steps {
		what := fmt.Sprintf("%s: %s", where(st.Line), st.Text)
		switch st.Kind {
		case StepDo, StepSend:
			send(what, st.Conn, st.Args)
			if st.Kind == StepDo {
				compare(what, st.Shape || cfg.shapeOnly != nil && cfg.shapeOnly(st.Args), st.Conn)
			}
		case StepRead:
			compare(what, st.Shape || cfg.shapeOnly != nil && cfg.shapeOnly(st.Args), st.Conn)
		case StepBlocked:
			for _, sd := range sides {
				waitBlocked(t, what, sd, st.N)
			}
		}
	}
}

// diffContext is how many bytes around the first difference a failure shows
// when the replies are too long to print whole.
const diffContext = 200

// describeDiff renders two different replies for a failure message: both in
// full (quoted) when short, else the first differing offset with some
// context on each side.
func describeDiff(a, b []byte) string {
	if len(a)+len(b) <= 4*diffContext {
		return fmt.Sprintf("\n  direct: %s\n  via:    %s", strconv.Quote(string(a)), strconv.Quote(string(b)))
	}
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(i-diffContext, 0)
	window := func(x []byte) string {
		hi := min(i+diffContext, len(x))
		if lo > len(x) {
			return `""`
		}
		return strconv.Quote(string(x[lo:hi]))
	}
	return fmt.Sprintf("\n  first difference at byte %d (direct %d bytes, via %d bytes); bytes %d.. of each:\n  direct: %s\n  via:    %s",
		i, len(a), len(b), lo, window(a), window(b))
}

func clip(s string) string {
	if len(s) > 4*diffContext {
		return s[:4*diffContext] + "..."
	}
	return s
}

func waitBlocked(t testing.TB, what string, sd *side, n int) {
	t.Helper()
	want := "blocked_clients:" + strconv.Itoa(n) + "\r\n"
	var last string
	err := poll(BlockedTimeout, func() bool {
		info, err := doStringValue(sd.observer, "", "INFO", "clients")
		if err != nil {
			last = err.Error()
			return false
		}
		last = info
		return strings.Contains(info, want)
	})
	if err != nil {
		t.Fatalf("%s: %s side (%s) never reached %q: %v; last INFO clients:\n%s", what, sd.name, sd.observer, strings.TrimSpace(want), err, last)
	}
}

// CorpusCommands returns, for every command used in the corpus (upper-cased,
// first argument of each command line), the number of lines using it. Setup
// commands the runner sends itself are not counted.
func CorpusCommands(t testing.TB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, f := range CorpusFiles(t) {
		s, err := ParseScriptFile(f)
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		for _, st := range s.Steps {
			if len(st.Args) > 0 {
				out[strings.ToUpper(st.Args[0])]++
			}
		}
	}
	return out
}

// containerCommands are the Redis 7.0 commands whose first argument names a
// subcommand (Redis reports them as "config|get" and so on).
var containerCommands = map[string]bool{
	"ACL": true, "CLIENT": true, "CLUSTER": true, "COMMAND": true, "CONFIG": true,
	"DEBUG": true, "FUNCTION": true, "LATENCY": true, "MEMORY": true, "MODULE": true,
	"OBJECT": true, "PUBSUB": true, "SCRIPT": true, "SLOWLOG": true, "XGROUP": true, "XINFO": true,
}

// CorpusSubcommands returns the sorted "COMMAND|SUBCOMMAND" names the corpus
// uses, for container commands such as CONFIG and XINFO.
func CorpusSubcommands(t testing.TB) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, f := range CorpusFiles(t) {
		s, err := ParseScriptFile(f)
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		for _, st := range s.Steps {
			if len(st.Args) > 1 && containerCommands[strings.ToUpper(st.Args[0])] && !strings.HasPrefix(strings.ToUpper(st.Args[1]), "NOSUCH") {
				seen[strings.ToUpper(st.Args[0])+"|"+strings.ToUpper(st.Args[1])] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
