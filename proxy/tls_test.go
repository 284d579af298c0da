package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/respcache/respcache/internal/redistest"
	"github.com/respcache/respcache/store/redis"
)

// testPKI is a CA with a server certificate (for 127.0.0.1 and
// "localhost") and a client certificate, also written as PEM files.
type testPKI struct {
	pool                  *x509.CertPool
	server, client        tls.Certificate
	caFile                string
	serverCert, serverKey string
}

func newPKI(t *testing.T, name string) *testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name + " CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	p := &testPKI{pool: x509.NewCertPool()}
	p.pool.AddCert(caCert)
	p.caFile = writePEM(t, dir, "ca.crt", "CERTIFICATE", caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage) (tls.Certificate, string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			DNSNames:     []string{"localhost"},
			IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		cf := writePEM(t, dir, cn+".crt", "CERTIFICATE", der)
		kf := writePEM(t, dir, cn+".key", "EC PRIVATE KEY", kder)
		c, err := tls.LoadX509KeyPair(cf, kf)
		if err != nil {
			t.Fatal(err)
		}
		return c, cf, kf
	}
	p.server, p.serverCert, p.serverKey = leaf(2, "server", x509.ExtKeyUsageServerAuth)
	p.client, _, _ = leaf(3, "client", x509.ExtKeyUsageClientAuth)
	return p
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tlsDo runs commands over one TLS connection and returns the replies.
func tlsDo(addr string, cfg *tls.Config, cmds ...[]string) ([]string, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var out []string
	buf := make([]byte, 4096)
	for _, c := range cmds {
		if _, err := conn.Write(redistest.EncodeCommand(c...)); err != nil {
			return out, err
		}
		// The replies used here are short and come in one read.
		n, err := conn.Read(buf)
		if err != nil {
			return out, err
		}
		out = append(out, string(buf[:n]))
	}
	return out, nil
}

func TestTLSListener(t *testing.T) {
	pki := newPKI(t, "listener")
	srv := redistest.Start(t)
	p := startProxy(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{pki.server}}},
		redis.Config{Addrs: []string{srv.Addr()}})
	client := &tls.Config{RootCAs: pki.pool, ServerName: "127.0.0.1"}
	got, err := tlsDo(p.Addr, client, []string{"PING"}, []string{"SET", "k", "v"}, []string{"GET", "k"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"+PONG\r\n", "+OK\r\n", "$1\r\nv\r\n"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("over TLS: %q, want %q", got, want)
	}
	// A plain TCP client gets no RESP reply.
	raw, err := redistest.DialRaw(p.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetReadTimeout(2 * time.Second)
	if r, err := raw.Do("PING"); err == nil {
		t.Fatalf("plain TCP client got a reply from a TLS listener: %q", r)
	}
	// A client that does not trust the proxy's CA fails the handshake.
	if _, err := tlsDo(p.Addr, &tls.Config{ServerName: "127.0.0.1"}, []string{"PING"}); err == nil {
		t.Fatal("a client without the CA completed the handshake")
	}
}

func TestTLSListenerClientAuth(t *testing.T) {
	pki := newPKI(t, "mtls")
	srv := redistest.Start(t)
	p := startProxy(t, Config{TLS: &tls.Config{
		Certificates: []tls.Certificate{pki.server},
		ClientCAs:    pki.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}}, redis.Config{Addrs: []string{srv.Addr()}})
	// Without a certificate: refused (in TLS 1.3 the refusal arrives with
	// the first read).
	if got, err := tlsDo(p.Addr, &tls.Config{RootCAs: pki.pool, ServerName: "127.0.0.1"}, []string{"PING"}); err == nil {
		t.Fatalf("a client without a certificate was served: %q", got)
	}
	// With a certificate from another CA: refused.
	other := newPKI(t, "other")
	if got, err := tlsDo(p.Addr, &tls.Config{RootCAs: pki.pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{other.client}}, []string{"PING"}); err == nil {
		t.Fatalf("a client with a certificate of another CA was served: %q", got)
	}
	got, err := tlsDo(p.Addr, &tls.Config{RootCAs: pki.pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{pki.client}},
		[]string{"PING"}, []string{"SET", "k", "v"}, []string{"GET", "k"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"+PONG\r\n", "+OK\r\n", "$1\r\nv\r\n"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("with a client certificate: %q, want %q", got, want)
	}
}

// startTLSRedis starts a redis-server that also listens with TLS; the
// fixture's plain port serves its readiness probe. It returns the server
// and its TLS address.
func startTLSRedis(t *testing.T, pki *testPKI) (*redistest.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	srv := redistest.Start(t, redistest.WithArgs(
		"--tls-port", strconv.Itoa(port),
		"--tls-cert-file", pki.serverCert,
		"--tls-key-file", pki.serverKey,
		"--tls-ca-cert-file", pki.caFile,
		"--tls-auth-clients", "no",
	))
	return srv, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func TestTLSUpstream(t *testing.T) {
	pki := newPKI(t, "upstream")
	srv, tlsAddr := startTLSRedis(t, pki)
	p := startProxy(t, Config{}, redis.Config{Addrs: []string{tlsAddr},
		TLS: &tls.Config{RootCAs: pki.pool, ServerName: "localhost"}})
	c := redistest.Dial(t, p.Addr)
	for _, s := range []struct {
		args []string
		want string
	}{
		{[]string{"PING"}, "+PONG\r\n"},
		{[]string{"SET", "k", "tls"}, "+OK\r\n"},
		{[]string{"GET", "k"}, "$3\r\ntls\r\n"},
	} {
		if got := c.DoString(s.args...); got != s.want {
			t.Fatalf("%v through a TLS upstream: %q, want %q", s.args, got, s.want)
		}
	}
	if got := redistest.Dial(t, srv.Addr()).DoString("GET", "k"); got != "$3\r\ntls\r\n" {
		t.Fatalf("value on the server: %q", got)
	}

	// An upstream whose certificate the proxy cannot verify: every request
	// fails with upstream unavailable and the x509 reason.
	wrong := newPKI(t, "wrong")
	p2 := startProxy(t, Config{}, redis.Config{Addrs: []string{tlsAddr},
		TLS: &tls.Config{RootCAs: wrong.pool, ServerName: "localhost"}})
	c2 := redistest.Dial(t, p2.Addr)
	for i := 0; i < 3; i++ {
		got := c2.DoString("GET", "k")
		if !strings.HasPrefix(got, "-ERR upstream unavailable: ") || !strings.Contains(got, "x509") {
			t.Fatalf("GET through an untrusted upstream: %q", got)
		}
	}
}
