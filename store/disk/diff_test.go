package disk

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/respcache/respcache/internal/redistest"
)

// serveEngine serves s over RESP on 127.0.0.1:0 for the differential tests,
// standing in for the proxy: it answers HELLO as redis-server does and hands
// every other command to a Conn. Stopped by t.Cleanup.
func serveEngine(t testing.TB, s *Store) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		id := 0
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			id++
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func(id int) {
				defer wg.Done()
				defer nc.Close()
				serveConn(s, nc, id)
			}(id)
		}
	}()
	return l.Addr().String()
}

func serveConn(s *Store, nc net.Conn, id int) {
	c := s.NewConn()
	defer c.Close()
	r := bufio.NewReader(nc)
	var out []byte
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		out = out[:0]
		if len(args) > 0 && strings.EqualFold(string(args[0]), "hello") {
			proto := 2
			if len(args) > 1 {
				proto, _ = strconv.Atoi(string(args[1]))
			}
			c.SetProto(proto)
			w := writer{b: out, proto: proto}
			w.mapHeader(7)
			for _, kv := range [][2]string{{"server", "redis"}, {"version", "7.0.15"}} {
				w.bulkString(kv[0])
				w.bulkString(kv[1])
			}
			w.bulkString("proto")
			w.int(int64(proto))
			w.bulkString("id")
			w.int(int64(id))
			w.bulkString("mode")
			w.bulkString("standalone")
			w.bulkString("role")
			w.bulkString("master")
			w.bulkString("modules")
			w.array(0)
			out = w.b
		} else {
			out = c.Do(context.Background(), args, out)
		}
		if _, err := nc.Write(out); err != nil {
			return
		}
	}
}

// readCommand reads one RESP array of bulk strings.
func readCommand(r *bufio.Reader) ([][]byte, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[0] != '*' {
		return nil, errors.New("expected array")
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(line[1:])))
	if err != nil {
		return nil, err
	}
	args := make([][]byte, n)
	for i := range args {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		if len(line) < 3 || line[0] != '$' {
			return nil, errors.New("expected bulk")
		}
		l, err := strconv.Atoi(strings.TrimSpace(string(line[1:])))
		if err != nil {
			return nil, err
		}
		b := make([]byte, l+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		args[i] = b[:l]
	}
	return args, nil
}

// TestDiff runs every script of testdata/diff against redis-server 7.0.15
// and against the engine, comparing reply bytes in RESP2 and RESP3.
func TestDiff(t *testing.T) {
	files, err := filepath.Glob("testdata/diff/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata/diff: %v", err)
	}
	redis := redistest.Start(t)
	s, err := Open(Options{Dir: t.TempDir(), Fsync: FsyncEverysec, BlockCache: 8 << 20, Memtable: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	addr := serveEngine(t, s)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			redistest.RunDiff(t, f, redis.Addr(), addr)
		})
	}
}
