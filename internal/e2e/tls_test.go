package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/testkit"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/apiclient"
	"github.com/cipurge/cipurge/pkg/tasks"
)

// TestAPITLSIsAlwaysVerified: an HTTPS API endpoint with a certificate no trusted authority signed
// is refused, by the API client and by the worker, with an error that says why; the server never
// sees a request (so never the key).
func TestAPITLSIsAlwaysVerified(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	ts.StartTLS()
	t.Cleanup(ts.Close)

	c, err := apiclient.New(testKey, apiclient.WithBaseURL(ts.URL))
	must(t, err)
	_, err = c.Invalidate(context.Background(), []string{"https://img.example.com/tls/a.jpg"})
	switch {
	case err == nil:
		t.Fatal("the client accepted a certificate no trusted authority signed")
	case !errors.Is(err, apiclient.ErrTransport) || !strings.Contains(err.Error(), "certificate"):
		t.Errorf("the error does not say the certificate was refused: %v", err)
	case apiclient.IsTransient(err):
		t.Errorf("a refused certificate is reported as transient: %v", err)
	case strings.Contains(err.Error(), testKey):
		t.Errorf("the error shows the key: %v", err)
	}

	// The worker stops sending, like after a rejected key: retries cannot help until someone
	// fixes the setup, so none are burned and nothing is dead-lettered; the work stays queued.
	h := newHarness(t, "CLOUDIMAGE_API_URL="+ts.URL, "PURGE_MAX_RETRY=0")
	u := "https://img.example.com/tls/worker.jpg"
	h.mustEnqueue(t, u)
	w := h.startWorker()
	testkit.WaitFor(t, 20*time.Second, "the worker to stop sending", func() bool {
		return strings.Contains(w.Logs.String(), "sending stopped: cannot reach the Cloudimage API safely")
	})
	// Several probe intervals (200ms in the harness): the sleep is the measurement, since "said
	// once" can only be shown over probes that came and said nothing more.
	time.Sleep(time.Second)
	logs := w.Logs.String()
	if c := strings.Count(logs, "sending stopped:"); c != 1 {
		t.Errorf("the stop was logged %d times, want once", c)
	}
	if !strings.Contains(logs, "x509: certificate signed by unknown authority") {
		t.Errorf("the worker's log does not say why:\n%s", testkit.Tail(logs, 10))
	}
	if dl := h.archived(tasks.QueueInteractive); len(dl) != 0 {
		t.Errorf("an untrusted certificate dead-lettered %d requests (PURGE_MAX_RETRY=0): %s", len(dl), dl[0].LastErr)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the untrusted server received %d requests", n)
	}
}

// TestRedisOverTLS: enqueue and the worker reach a TLS-only redis-server (no plain port) through
// rediss:// with REDIS_TLS_CA_FILE naming the CA that signed its certificate (generated here);
// without the CA file both refuse the certificate with an error that says so.
func TestRedisOverTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTestPKI(t, dir)
	port := testredis.FreePort(t)
	startTLSRedis(t, dir, port, caFile, certFile, keyFile)

	h := newHarness(t, "REDIS_URL=rediss://127.0.0.1:"+strconv.Itoa(port)+"/0", "REDIS_TLS_CA_FILE="+caFile)
	in := testkit.ImageURLs("tls", 20)
	code, _, stderr := h.enqueue("", in...)
	if code != 0 || !strings.Contains(stderr, "20 enqueued") {
		t.Fatalf("enqueue over rediss://: exit %d: %s", code, stderr)
	}
	h.startWorker()
	testkit.WaitFor(t, 20*time.Second, "every URL invalidated by a worker on rediss://", func() bool { return invalidatedAll(h.SB, in) })
	if code, out, stderr := h.enqueue("", "status"); code != 0 {
		t.Errorf("enqueue status over rediss://: exit %d: %s%s", code, out, stderr)
	}

	// Without the CA, the server's certificate is refused, and the error says so.
	h.Env.Set("REDIS_TLS_CA_FILE=")
	code, _, stderr = h.enqueue("", "https://img.example.com/tls/no-ca.jpg")
	if code != 2 || !strings.Contains(stderr, "certificate") || !strings.Contains(stderr, "REDIS_TLS_CA_FILE") {
		t.Errorf("enqueue without the CA file: exit %d, want 2 and the certificate named: %s", code, stderr)
	}
	t.Logf("without the CA: %s", strings.TrimSpace(stderr))
}

// writeTestPKI writes a CA and a server certificate for 127.0.0.1 signed by it, as PEM files.
func writeTestPKI(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cipurge test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(t, err)
	ca, err := x509.ParseCertificate(caDER)
	must(t, err)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	must(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	must(t, err)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", srvDER), write("server.key", "PRIVATE KEY", keyDER)
}

// startTLSRedis starts a redis-server that listens only on a TLS port and stops it by pid when the
// test ends.
func startTLSRedis(t *testing.T, dir string, port int, caFile, certFile, keyFile string) {
	t.Helper()
	logFile := filepath.Join(dir, "redis.log")
	cmd := exec.Command(testredis.Binary(t), "--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", caFile, "--tls-auth-clients", "no",
		"--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", logFile)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	pem, err := os.ReadFile(caFile)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port), MaxRetries: -1,
		TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		select {
		case <-done:
			b, _ := os.ReadFile(logFile)
			t.Fatalf("redis-server exited with the TLS options (is it built without TLS? Debian's 7.0 package has it): %s", testkit.Tail(string(b), 10))
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logFile)
			t.Fatalf("redis-server on TLS port %d did not answer within 10s: %v\n%s", port, err, testkit.Tail(string(b), 10))
		}
		time.Sleep(25 * time.Millisecond)
	}
}
