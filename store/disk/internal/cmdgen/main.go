// Command cmdgen captures redis-server's COMMAND INFO and COMMAND DOCS
// replies, in RESP2 and RESP3, into the file store/disk embeds to answer
// COMMAND exactly as the reference server does. Run it against redis-server
// 7.0.15 (the reference) whenever the reference changes:
//
//	redis-server --port 0 --unixsocket /tmp/r.sock --daemonize yes
//	go run ./store/disk/internal/cmdgen -addr unix:/tmp/r.sock \
//	    -out store/disk/testdata/commands-7.0.15.resp
//
// The file holds four frames back to back: COMMAND INFO (RESP2), COMMAND
// DOCS (RESP2), COMMAND INFO (RESP3), COMMAND DOCS (RESP3), each covering
// every command of the server; store/disk picks the entries of the commands
// it supports at run time.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "redis-server address, host:port or unix:/path")
	out := flag.String("out", "commands.resp", "output file")
	want := flag.String("version", "7.0.15", "required redis_version of the server")
	flag.Parse()
	if err := run(*addr, *out, *want); err != nil {
		fmt.Fprintln(os.Stderr, "cmdgen:", err)
		os.Exit(1)
	}
}

func run(addr, out, want string) error {
	var buf bytes.Buffer
	for _, proto := range []int{2, 3} {
		c, err := dial(addr)
		if err != nil {
			return err
		}
		r := bufio.NewReader(c)
		do := func(args ...string) ([]byte, error) {
			if _, err := c.Write(encode(args)); err != nil {
				return nil, err
			}
			return readFrame(r)
		}
		info, err := do("INFO", "server")
		if err != nil {
			return err
		}
		if !bytes.Contains(info, []byte("redis_version:"+want+"\r\n")) {
			return fmt.Errorf("server is not redis %s", want)
		}
		if proto == 3 {
			if _, err := do("HELLO", "3"); err != nil {
				return err
			}
		}
		for _, sub := range []string{"INFO", "DOCS"} {
			f, err := do("COMMAND", sub)
			if err != nil {
				return err
			}
			if len(f) == 0 || f[0] == '-' {
				return fmt.Errorf("COMMAND %s: %q", sub, f)
			}
			buf.Write(f)
		}
		_ = c.Close()
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

func dial(addr string) (net.Conn, error) {
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		return net.DialTimeout("unix", p, 5*time.Second)
	}
	return net.DialTimeout("tcp", addr, 5*time.Second)
}

func encode(args []string) []byte {
	b := []byte("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b = append(b, "$"+strconv.Itoa(len(a))+"\r\n"+a+"\r\n"...)
	}
	return b
}

// readFrame reads one RESP2/RESP3 frame and returns its raw bytes.
func readFrame(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("bad line %q", line)
	}
	n, _ := strconv.Atoi(string(line[1 : len(line)-2]))
	switch line[0] {
	case '$', '=', '!':
		if n < 0 {
			return line, nil
		}
		body := make([]byte, n+2)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		return append(line, body...), nil
	case '*', '~', '>', '%', '|':
		if n < 0 {
			return line, nil
		}
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		for i := 0; i < n; i++ {
			f, err := readFrame(r)
			if err != nil {
				return nil, err
			}
			line = append(line, f...)
		}
		if line[0] == '|' {
			f, err := readFrame(r)
			if err != nil {
				return nil, err
			}
			line = append(line, f...)
		}
		return line, nil
	}
	return line, nil
}
