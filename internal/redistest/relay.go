package redistest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// StartRelay starts a plain TCP relay on a free 127.0.0.1 port in front of
// upstreamAddr and returns its address. Each accepted client gets its own
// upstream connection, and bytes are copied unchanged both ways: the perfect
// proxy that the differential test uses as its baseline. Closing either side
// closes the other. It is stopped, and all its connections closed, by
// t.Cleanup.
func StartRelay(t testing.TB, upstreamAddr string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: relay listen: %v", err)
	}
	r := &relay{l: l, upstream: upstreamAddr, conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.serve()
	t.Cleanup(r.close)
	return l.Addr().String()
}

type relay struct {
	l        net.Listener
	upstream string
	wg       sync.WaitGroup // accept loop and copiers

	mu     sync.Mutex // guards conns, closed
	conns  map[net.Conn]struct{}
	closed bool
}

func (r *relay) serve() {
	defer r.wg.Done()
	for {
		c, err := r.l.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", r.upstream)
		if err != nil {
			c.Close()
			continue
		}
		if !r.track(c, u) {
			return
		}
		r.wg.Add(2)
		go r.pipe(c, u)
		go r.pipe(u, c)
	}
}

func (r *relay) track(cs ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		r.conns[c] = struct{}{}
	}
	return true
}

func (r *relay) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	_, _ = io.Copy(dst, src)
	// Either side ending ends the pair, as a client hanging up ends its
	// Redis connection and Redis closing a client ends it for the client.
	dst.Close()
	src.Close()
	r.mu.Lock()
	delete(r.conns, dst)
	delete(r.conns, src)
	r.mu.Unlock()
}

func (r *relay) close() {
	r.mu.Lock()
	r.closed = true
	r.l.Close()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}
