package outbound_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/outbound"
)

func get(c *outbound.Client, url string, limit int64) ([]byte, error) {
	return c.Get(context.Background(), url, limit)
}

func mustRefuse(t *testing.T, err error, want string) {
	t.Helper()
	if !errors.Is(err, outbound.ErrRefused) {
		t.Fatalf("err = %v, want a refusal (%s)", err, want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %q, want it to say %q", err, want)
	}
}

func tlsPool(s *httptest.Server) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.Certificate())
	return p
}

func TestRedirectIsRefusedAndNotFollowed(t *testing.T) {
	var hit atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hit.Add(1) }))
	defer target.Close()
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/latest/meta-data/", http.StatusFound)
	}))
	defer src.Close()
	c := outbound.New(outbound.Options{AllowLoopback: true})
	_, err := get(c, src.URL+"/cert.pem?Token=s3cr3t", 1<<10)
	mustRefuse(t, err, "302 Found")
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("the error holds the query: %q", err)
	}
	if hit.Load() != 0 {
		t.Errorf("the redirect's target was fetched %d times", hit.Load())
	}
}

func TestPlainHTTPOnlyToAllowedLoopback(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer s.Close()
	if b, err := get(outbound.New(outbound.Options{AllowLoopback: true}), s.URL, 10); err != nil || string(b) != "ok" {
		t.Fatalf("http to an allowed loopback: %q, %v", b, err)
	}
	_, err := get(outbound.New(outbound.Options{}), s.URL, 10)
	mustRefuse(t, err, "plain http")
	for _, u := range []string{"http://example.com/", "http://10.0.0.1/", "ftp://127.0.0.1/", "file:///etc/passwd"} {
		_, err := get(outbound.New(outbound.Options{AllowPrivate: true}), u, 10)
		if !errors.Is(err, outbound.ErrRefused) {
			t.Errorf("%s: err = %v, want a refusal", u, err)
		}
	}
}

// The address check runs on the address dialed: https to a loopback server is refused unless
// loopback is allowed, whatever name led there.
func TestLoopbackIsRefusedAtDialTime(t *testing.T) {
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer s.Close()
	_, port, _ := net.SplitHostPort(s.Listener.Addr().String())
	strict := outbound.New(outbound.Options{RootCAs: tlsPool(s)})
	_, err := get(strict, s.URL, 10)
	mustRefuse(t, err, "the address 127.0.0.1 is loopback")
	_, err = get(strict, "https://localhost:"+port+"/", 10)
	mustRefuse(t, err, "is loopback")

	// A public name that resolves (here: is dialed) to loopback, as DNS rebinding would.
	rebind := func(string) string { return "127.0.0.1:" + port }
	_, err = get(outbound.New(outbound.Options{RootCAs: tlsPool(s), DialAddr: rebind}), "https://example.com/", 10)
	mustRefuse(t, err, "the address 127.0.0.1 is loopback")

	allowed := outbound.New(outbound.Options{RootCAs: tlsPool(s), AllowLoopback: true})
	if b, err := get(allowed, s.URL, 10); err != nil || string(b) != "ok" {
		t.Fatalf("https to an allowed loopback: %q, %v", b, err)
	}
	// The server's certificate is still verified.
	_, err = get(outbound.New(outbound.Options{AllowLoopback: true}), s.URL, 10)
	var uae x509.UnknownAuthorityError
	if !errors.As(err, &uae) {
		t.Errorf("a certificate of an unknown authority: err = %v", err)
	}
}

func TestNonPublicAddressesAreRefused(t *testing.T) {
	for _, tc := range []struct{ addr, why string }{
		{"169.254.169.254", "link-local"},
		{"[fe80::1]", "link-local"},
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"192.168.1.1", "private"},
		{"[fd00::1]", "private"},
		{"100.64.0.1", "shared address space"},
		{"0.0.0.0", "unspecified"},
		{"[::]", "unspecified"},
		{"[::1]", "loopback"},
		{"[::ffff:127.0.0.1]", "loopback"},
		{"[::ffff:169.254.169.254]", "link-local"},
		{"[64:ff9b::a9fe:a9fe]", "NAT64"},
		{"224.0.0.1", "multicast"},
		{"255.255.255.255", "broadcast"},
	} {
		_, err := get(outbound.New(outbound.Options{Timeout: 5 * time.Second}), "https://"+tc.addr+"/", 10)
		mustRefuse(t, err, tc.why)
	}
	// The operator's allowance lets private and link-local addresses be dialed: the dial is tried
	// (and, with nothing listening on this loopback port, fails with no refusal).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = get(outbound.New(outbound.Options{AllowPrivate: true}), "https://"+addr+"/", 10)
	if err == nil || errors.Is(err, outbound.ErrRefused) {
		t.Errorf("AllowPrivate: err = %v, want a connection failure, not a refusal", err)
	}
}

func TestBodyIsBounded(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 100)))
	}))
	defer s.Close()
	c := outbound.New(outbound.Options{AllowLoopback: true})
	if b, err := get(c, s.URL, 100); err != nil || len(b) != 100 {
		t.Fatalf("a body of exactly the limit: %d bytes, %v", len(b), err)
	}
	_, err := get(c, s.URL, 99)
	mustRefuse(t, err, "longer than 99 bytes")
}

func TestStatusOtherThan200IsAnError(t *testing.T) {
	s := httptest.NewServer(http.NotFoundHandler())
	defer s.Close()
	_, err := get(outbound.New(outbound.Options{AllowLoopback: true}), s.URL+"/x?Token=s3cr3t", 100)
	if err == nil || !strings.Contains(err.Error(), "404") || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("err = %v, want the 404 and no query", err)
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer s.Close()
	defer close(release)
	_, err := get(outbound.New(outbound.Options{AllowLoopback: true, Timeout: 100 * time.Millisecond}), s.URL, 10)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
}

// PlainHTTP lets plain http reach the hosts it names, and no other; addresses stay checked.
func TestPlainHTTPHosts(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ca")) }))
	defer s.Close()
	to := func(string) string { return s.Listener.Addr().String() }
	only := func(h string) bool { return h == "crt.example.com" }
	c := outbound.New(outbound.Options{PlainHTTP: only, DialAddr: to, AllowLoopback: true})
	if b, err := get(c, "http://crt.example.com/ca.cer", 10); err != nil || string(b) != "ca" {
		t.Fatalf("an allowed plain http host: %q, %v", b, err)
	}
	_, err := get(c, "http://other.example.com/ca.cer", 10)
	mustRefuse(t, err, "plain http")
	_, err = get(outbound.New(outbound.Options{PlainHTTP: only, DialAddr: to}), "http://crt.example.com/ca.cer", 10)
	mustRefuse(t, err, "is loopback")
}
