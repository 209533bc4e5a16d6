package events_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/events"
	"github.com/cipurge/cipurge/internal/outbound"
)

// The test's SNS: a test CA that the test installs as the root, an Amazon-like intermediate
// published at a "CA Issuers" address on Amazon Trust's host name, and a signing certificate
// (CN=sns.amazonaws.com) served at an SNS host name. Loopback servers answer those names: the
// receivers' outbound client dials them there (Options.SNSFetch.DialAddr).
const (
	certURL      = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
	topicArn     = "arn:aws:sns:us-west-2:123456789012:MyTopic"
	subscribeURL = "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736"
	issuerURL    = "http://crt.r2m01.amazontrust.com/r2m01.cer"
)

// snsHosts are the names the fake's TLS certificate covers: SNS's, and S3's addresses of a
// bucket named "sns" (refused before any fetch).
var snsHosts = []string{"sns.us-west-2.amazonaws.com", "sns.eu-west-1.amazonaws.com",
	"sns.s3.amazonaws.com", "sns.s3-accelerate.amazonaws.com", "sns.s3-us-west-2.amazonaws.com"}

type fakeSNS struct {
	key      *rsa.PrivateKey // the signing certificate's
	pem      []byte          // the signing certificate, as SNS serves it (no chain)
	chainPEM []byte          // the signing certificate, then the intermediate
	interDER []byte          // the intermediate, as Amazon Trust publishes it
	roots    *x509.CertPool  // the test CA
	selfKey  *rsa.PrivateKey // a self-signed CN=sns.amazonaws.com certificate's
	selfPEM  []byte
	otherPEM []byte // a certificate of the test CA's chain issued to another name (key: key)

	tls, plain *httptest.Server
	mu         sync.Mutex
	gets       []string // URLs fetched from the SNS hosts
	issuerGets []string // URLs fetched from the plain http server (issuers; anything else is a bug)
}

func newKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// issue makes a certificate from tmpl for pub, signed by parent's key (tmpl itself when parent
// is nil: self-signed).
func issue(t *testing.T, tmpl *x509.Certificate, pub *rsa.PublicKey, parent *x509.Certificate, parentKey *rsa.PrivateKey) *x509.Certificate {
	t.Helper()
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pemOf(cs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range cs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

func newFakeSNS(t *testing.T) *fakeSNS {
	t.Helper()
	caKey, interKey, key, selfKey, tlsKey := newKey(t), newKey(t), newKey(t), newKey(t), newKey(t)
	ca := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "cipurge test root CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, &caKey.PublicKey, nil, caKey)
	inter := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "cipurge test RSA 2048 M01", Organization: []string{"Amazon"}},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, &interKey.PublicKey, ca, caKey)
	leafTmpl := func(cn string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, IssuingCertificateURL: []string{issuerURL}}
	}
	leaf := issue(t, leafTmpl("sns.amazonaws.com"), &key.PublicKey, inter, interKey)
	other := issue(t, leafTmpl("example.com"), &key.PublicKey, inter, interKey)
	self := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "sns.amazonaws.com"}, KeyUsage: x509.KeyUsageDigitalSignature},
		&selfKey.PublicKey, nil, selfKey)
	srvCert := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "sns"}, DNSNames: snsHosts,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, &tlsKey.PublicKey, ca, caKey)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	f := &fakeSNS{key: key, pem: pemOf(leaf), chainPEM: pemOf(leaf, inter), interDER: inter.Raw, roots: roots,
		selfKey: selfKey, selfPEM: pemOf(self), otherPEM: pemOf(other)}

	f.plain = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.issuerGets = append(f.issuerGets, "http://"+r.Host+r.URL.RequestURI())
		f.mu.Unlock()
		if "http://"+r.Host+r.URL.RequestURI() == issuerURL {
			_, _ = w.Write(f.interDER)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(f.plain.Close)
	f.tls = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	f.tls.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: tlsKey}}}
	f.tls.StartTLS()
	t.Cleanup(f.tls.Close)
	return f
}

// serve answers for SNS's hosts: the certificates, the SubscribeURL, and redirects to loopback.
func (f *fakeSNS) serve(w http.ResponseWriter, r *http.Request) {
	u := "https://" + r.Host + r.URL.RequestURI()
	f.mu.Lock()
	f.gets = append(f.gets, u)
	f.mu.Unlock()
	switch {
	case u == certURL || strings.HasSuffix(r.URL.Path, "/cert.pem"):
		_, _ = w.Write(f.pem)
	case strings.HasSuffix(r.URL.Path, "/chain.pem"):
		_, _ = w.Write(f.chainPEM)
	case strings.HasSuffix(r.URL.Path, "/self-signed.pem"):
		_, _ = w.Write(f.selfPEM)
	case strings.HasSuffix(r.URL.Path, "/other-name.pem"):
		_, _ = w.Write(f.otherPEM)
	case strings.HasPrefix(r.URL.Path, "/redirect"):
		http.Redirect(w, r, f.plain.URL+"/latest/meta-data/iam/security-credentials/", http.StatusFound)
	case u == subscribeURL:
		_, _ = w.Write([]byte("<ConfirmSubscriptionResponse/>"))
	default:
		http.NotFound(w, r)
	}
}

// options makes the receivers fetch from the fake and trust its CA: port 443 is dialed at the
// TLS server, port 80 at the plain one.
func (f *fakeSNS) options(o *events.Options) {
	o.SNSRoots = f.roots
	o.SNSFetch = outbound.Options{RootCAs: f.roots, AllowLoopback: true, DialAddr: func(addr string) string {
		if strings.HasSuffix(addr, ":80") {
			return f.plain.Listener.Addr().String()
		}
		return f.tls.Listener.Addr().String()
	}}
}

func (f *fakeSNS) fetched() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.gets...)
}

func (f *fakeSNS) issuersFetched() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.issuerGets...)
}

// sign sets Signature over the message's fields, as SNS does (version 1: SHA1withRSA, 2: SHA256).
func (f *fakeSNS) sign(t *testing.T, m map[string]string) { f.signWith(t, f.key, m) }

// signWith signs m with key.
func (f *fakeSNS) signWith(t *testing.T, key *rsa.PrivateKey, m map[string]string) {
	t.Helper()
	names := []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	if m["Type"] != "Notification" {
		names = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var b bytes.Buffer
	for _, n := range names {
		if v, ok := m[n]; ok {
			b.WriteString(n + "\n" + v + "\n")
		}
	}
	var sig []byte
	var err error
	if m["SignatureVersion"] == "1" {
		d := sha1.Sum(b.Bytes()) //nolint:gosec // SNS SignatureVersion 1
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, d[:])
	} else {
		d := sha256.Sum256(b.Bytes())
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	m["Signature"] = base64.StdEncoding.EncodeToString(sig)
}

// notification is AWS's documented HTTP/HTTPS notification, carrying message, signed.
func (f *fakeSNS) notification(t *testing.T, version, message string) map[string]string {
	m := map[string]string{
		"Type": "Notification", "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", "TopicArn": topicArn,
		"Subject": "Amazon S3 Notification", "Message": message, "Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"SignatureVersion": version, "SigningCertURL": certURL,
		"UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c9135db0-26c4-47ec-8998-413945fb5a96",
	}
	f.sign(t, m)
	return m
}

// confirmation is AWS's documented SubscriptionConfirmation, signed.
func (f *fakeSNS) confirmation(t *testing.T) map[string]string {
	m := map[string]string{
		"Type": "SubscriptionConfirmation", "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
		"Token":        "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
		"TopicArn":     topicArn,
		"Message":      "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
		"SubscribeURL": subscribeURL, "Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"SignatureVersion": "1", "SigningCertURL": certURL,
	}
	f.sign(t, m)
	return m
}

func js(t *testing.T, m map[string]string) string {
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// snsEnv is an env whose receivers fetch from the fake SNS.
func snsEnv(t *testing.T) (*env, *fakeSNS) {
	f := newFakeSNS(t)
	return setup(t, f.options), f
}

// TestSNS: AWS S3 -> SNS -> HTTPS. The subscription is confirmed; notifications signed with
// SignatureVersion 1 and 2 are verified and their S3 records enqueued (authenticated the way an
// SNS subscription URL can: basic auth).
func TestSNS(t *testing.T) {
	t.Parallel()
	e, f := snsEnv(t)
	auth := "Authorization: Basic " + basic("sns", testToken)
	a := e.sendAs(http.MethodPost, events.PathS3, js(t, f.confirmation(t)), auth, "X-Amz-Sns-Message-Type: SubscriptionConfirmation", "Content-Type: text/plain; charset=UTF-8")
	if a.Status != http.StatusOK || !strings.Contains(string(a.Body), "subscription confirmed") {
		t.Fatalf("confirmation: %d %s", a.Status, a.Body)
	}
	if got := f.fetched(); len(got) != 2 || got[1] != subscribeURL {
		t.Fatalf("fetched %v: want the certificate, then the SubscribeURL", got)
	}
	for i, v := range []string{"1", "2"} {
		key := "uploads/photo " + v + ".jpg"
		msg := s3Message(t, "aws:s3", [3]string{"ObjectCreated:Put", "media", key})
		a := e.sendAs(http.MethodPost, events.PathS3, js(t, f.notification(t, v, msg)), auth, "X-Amz-Sns-Message-Type: Notification", "Content-Type: text/plain; charset=UTF-8")
		if s := a.summary(t); s.Enqueued != 1 {
			t.Errorf("SignatureVersion %s: %+v", v, s)
		}
		u := "https://storage.example.com/media/uploads/photo%20" + v + ".jpg"
		if src := e.source(u); src != "event: sns media/"+key {
			t.Errorf("SignatureVersion %s: %s has source %q", v, u, src)
		}
		_ = i
	}
	if n := len(f.fetched()); n != 2 {
		t.Errorf("the certificate was fetched again: %v", f.fetched())
	}
	// S3's test event through SNS.
	if s := e.sendAs(http.MethodPost, events.PathS3, js(t, f.notification(t, "2", sample(t, "aws-s3-test-event.json"))), auth).summary(t); s.Ignored != 1 {
		t.Errorf("test event: %+v", s)
	}
	if e.count("sns", "ObjectCreated:Put", events.OutcomeEnqueued) != 2 || e.count("sns", "SubscriptionConfirmation", events.OutcomeIgnored) != 1 {
		t.Error("SNS events are not counted")
	}
}

// TestSNSRefusals: unsigned, tampered, stale, and certificates that are not on an SNS host are
// refused (403) with nothing enqueued; a certificate off SNS's hosts is never fetched.
func TestSNSRefusals(t *testing.T) {
	t.Parallel()
	e, f := snsEnv(t)
	msg := s3Message(t, "aws:s3", [3]string{"ObjectCreated:Put", "media", "x.jpg"})
	cases := []struct {
		name, code string
		mod        func(m map[string]string)
	}{
		{"unsigned", "sns_unsigned", func(m map[string]string) { delete(m, "Signature") }},
		{"no certificate", "sns_unsigned", func(m map[string]string) { delete(m, "SigningCertURL") }},
		{"tampered message", "sns_signature_invalid", func(m map[string]string) {
			m["Message"] = strings.Replace(m["Message"], "x.jpg", "y.jpg", 1)
		}},
		{"version 2 claimed for a version 1 signature", "sns_signature_invalid", func(m map[string]string) { m["SignatureVersion"] = "2" }},
		{"unknown version", "sns_signature_invalid", func(m map[string]string) { m["SignatureVersion"] = "3" }},
		{"stale", "sns_stale", func(m map[string]string) {
			m["Timestamp"] = time.Now().Add(-2 * time.Hour).UTC().Format(time.RFC3339)
			f.sign(t, m)
		}},
		{"future", "sns_stale", func(m map[string]string) {
			m["Timestamp"] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
			f.sign(t, m)
		}},
		{"certificate over http", "sns_certificate_untrusted", func(m map[string]string) {
			m["SigningCertURL"] = strings.Replace(certURL, "https:", "http:", 1)
		}},
		{"certificate elsewhere", "sns_certificate_untrusted", func(m map[string]string) {
			m["SigningCertURL"] = "https://sns.us-west-2.amazonaws.com.evil.example/cert.pem"
		}},
		{"certificate on a look-alike", "sns_certificate_untrusted", func(m map[string]string) {
			m["SigningCertURL"] = "https://sns-us-west-2.amazonaws.com/cert.pem"
		}},
		{"certificate that is not one", "sns_certificate_untrusted", func(m map[string]string) {
			m["SigningCertURL"] = "https://sns.eu-west-1.amazonaws.com/missing.pem" // 404 from the fake: not a certificate
		}},
	}
	for _, c := range cases {
		m := f.notification(t, "1", msg)
		c.mod(m)
		a := e.send(http.MethodPost, events.PathS3, js(t, m))
		if c.name == "certificate that is not one" {
			// A certificate that cannot be fetched may be a passing failure: 503, SNS retries.
			if a.Status != http.StatusServiceUnavailable {
				t.Errorf("%s: %d %s, want 503", c.name, a.Status, a.Body)
			}
			continue
		}
		if a.Status != http.StatusForbidden || a.errorCode(t) != c.code {
			t.Errorf("%s: %d %s, want 403 %s", c.name, a.Status, a.Body, c.code)
		}
	}
	// Raw message delivery: an SNS delivery without its signed envelope.
	if a := e.send(http.MethodPost, events.PathS3, msg, "X-Amz-Sns-Message-Type: Notification"); a.Status != http.StatusForbidden || a.errorCode(t) != "sns_unsigned" {
		t.Errorf("raw delivery: %d %s", a.Status, a.Body)
	}
	for _, u := range f.fetched() {
		if u != certURL && u != "https://sns.eu-west-1.amazonaws.com/missing.pem" {
			t.Errorf("fetched %s, which is not on an SNS host", u)
		}
	}
	if p := e.pending(); len(p) != 0 {
		t.Errorf("pending: %v", p)
	}
}

// TestSNSUnsubscribe: the UnsubscribeConfirmation SNS sends when the subscription is deleted is
// verified, acknowledged and logged; nothing is fetched but the certificate.
func TestSNSUnsubscribe(t *testing.T) {
	t.Parallel()
	e, f := snsEnv(t)
	m := f.confirmation(t)
	m["Type"] = "UnsubscribeConfirmation"
	m["Message"] = "You have chosen to deactivate subscription arn:aws:sns:us-west-2:123456789012:MyTopic:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55."
	f.sign(t, m)
	a := e.send(http.MethodPost, events.PathS3, js(t, m))
	if a.Status != http.StatusOK || !strings.Contains(string(a.Body), "unsubscribed") {
		t.Fatalf("%d %s", a.Status, a.Body)
	}
	if got := f.fetched(); len(got) != 1 || got[0] != certURL {
		t.Errorf("fetched %v, want only the certificate", got)
	}
	if e.logs.FilterMessageSnippet("SNS subscription removed").Len() != 1 {
		t.Error("the unsubscription is not logged")
	}
	// A tampered one is refused like any other SNS message.
	m["TopicArn"] = "arn:aws:sns:us-west-2:123456789012:Other"
	if a := e.send(http.MethodPost, events.PathS3, js(t, m)); a.Status != http.StatusForbidden {
		t.Errorf("tampered: %d %s", a.Status, a.Body)
	}
}

// TestSNSTrust: the signing certificate must chain to a root (here the test's CA) and be issued
// to SNS, on SNS's own hosts, fetched with no redirect, and the topic must be allowed. Each
// refusal is a 403 with the reason in the request's log line and a count in
// cipurge_events_refused_total; nothing is enqueued and nothing off SNS's hosts is fetched.
// It runs over 80 lines on purpose: a table of refusals, then the chains that pass, on one fake SNS.
func TestSNSTrust(t *testing.T) {
	t.Parallel()
	f := newFakeSNS(t)
	e := setup(t, func(o *events.Options) {
		f.options(o)
		o.SNSTopics = []string{topicArn, "arn:aws:sns:eu-west-1:123456789012:Other"}
	})
	msg := s3Message(t, "aws:s3", [3]string{"ObjectCreated:Put", "media", "trust.jpg"})
	cases := []struct {
		name, code, reason string
		mod                func(m map[string]string)
	}{
		{"self-signed certificate", "sns_certificate_untrusted", "does not chain to a trusted root", func(m map[string]string) {
			m["SigningCertURL"] = "https://sns.us-west-2.amazonaws.com/self-signed.pem"
			f.signWith(t, f.selfKey, m)
		}},
		{"certificate issued to another name", "sns_certificate_untrusted", "not to SNS (sns.amazonaws.com", func(m map[string]string) {
			m["SigningCertURL"] = "https://sns.us-west-2.amazonaws.com/other-name.pem"
		}},
		{"certificate on S3 (bucket sns)", "sns_certificate_untrusted", "not an https URL on an SNS host", func(m map[string]string) {
			m["SigningCertURL"] = "https://sns.s3.amazonaws.com/cert.pem"
		}},
		{"certificate on S3 Transfer Acceleration", "sns_certificate_untrusted", "not an https URL on an SNS host", func(m map[string]string) {
			m["SigningCertURL"] = "https://sns.s3-accelerate.amazonaws.com/cert.pem"
		}},
		{"certificate on S3's regional dash form", "sns_certificate_untrusted", "not an https URL on an SNS host", func(m map[string]string) {
			m["SigningCertURL"] = "https://sns.s3-us-west-2.amazonaws.com/cert.pem"
		}},
		{"certificate redirected to loopback", "sns_certificate_untrusted", "redirects are not followed", func(m map[string]string) {
			m["SigningCertURL"] = "https://sns.us-west-2.amazonaws.com/redirect.pem"
		}},
		{"topic not allowed", "sns_topic_not_allowed", "is not one of EVENTS_SNS_TOPICS", func(m map[string]string) {
			m["TopicArn"] = "arn:aws:sns:us-west-2:123456789012:Stranger"
			f.sign(t, m)
		}},
	}
	for _, c := range cases {
		m := f.notification(t, "2", msg)
		c.mod(m)
		if c.name != "self-signed certificate" && c.name != "topic not allowed" {
			f.sign(t, m)
		}
		a := e.send(http.MethodPost, events.PathS3, js(t, m))
		if a.Status != http.StatusForbidden || a.errorCode(t) != c.code || !strings.Contains(string(a.Body), c.reason) {
			t.Errorf("%s: %d %s, want 403 %s saying %q", c.name, a.Status, a.Body, c.code, c.reason)
		}
	}
	for _, c := range cases {
		logged := 0
		for _, l := range e.logs.FilterMessage("events request").All() {
			if d, _ := l.ContextMap()["detail"].(string); strings.Contains(d, c.reason) {
				logged++
			}
		}
		if logged == 0 {
			t.Errorf("%s: no request log line says %q", c.name, c.reason)
		}
	}
	if n := testutilRefused(e, events.PathS3, "sns_certificate_untrusted"); n != 6 {
		t.Errorf("cipurge_events_refused_total{code=sns_certificate_untrusted} = %d, want 6", n)
	}
	if n := testutilRefused(e, events.PathS3, "sns_topic_not_allowed"); n != 1 {
		t.Errorf("cipurge_events_refused_total{code=sns_topic_not_allowed} = %d, want 1", n)
	}
	for _, u := range f.fetched() {
		if strings.Contains(u, ".s3") {
			t.Errorf("fetched %s, which is S3, not SNS", u)
		}
	}
	for _, u := range f.issuersFetched() {
		if u != issuerURL {
			t.Errorf("the plain http server got %s: a redirect was followed", u)
		}
	}
	if p := e.pending(); len(p) != 0 {
		t.Errorf("pending: %v", p)
	}

	// A chain made by the test CA is accepted, whether the intermediate comes with the
	// certificate or from its "CA Issuers" address.
	for _, certAt := range []string{certURL, "https://sns.eu-west-1.amazonaws.com/chain.pem"} {
		m := f.notification(t, "2", msg)
		m["SigningCertURL"] = certAt
		f.sign(t, m)
		if s := e.send(http.MethodPost, events.PathS3, js(t, m)).summary(t); s.Enqueued+s.AlreadyPending != 1 {
			t.Errorf("%s: %+v", certAt, s)
		}
	}
	if got := f.issuersFetched(); len(got) != 1 || got[0] != issuerURL {
		t.Errorf("issuers fetched %v, want %s once (it is kept; chain.pem carries its own)", got, issuerURL)
	}
	if p := e.pending(); len(p) != 1 {
		t.Errorf("pending: %v, want the one URL", p)
	}
}

// TestSNSSubscribeRedirect: a signed SubscriptionConfirmation whose SubscribeURL answers with a
// redirect to loopback is refused: the redirect is not followed and nothing says "confirmed".
func TestSNSSubscribeRedirect(t *testing.T) {
	t.Parallel()
	e, f := snsEnv(t)
	m := f.confirmation(t)
	m["SubscribeURL"] = "https://sns.us-west-2.amazonaws.com/redirect?Action=ConfirmSubscription&Token=abc"
	f.sign(t, m)
	a := e.send(http.MethodPost, events.PathS3, js(t, m))
	if a.Status != http.StatusForbidden || a.errorCode(t) != "sns_subscribe_refused" || strings.Contains(string(a.Body), "confirmed\"") {
		t.Fatalf("%d %s, want 403 sns_subscribe_refused", a.Status, a.Body)
	}
	if strings.Contains(string(a.Body), "Token=abc") {
		t.Errorf("the answer holds the SubscribeURL's token: %s", a.Body)
	}
	if got := f.issuersFetched(); len(got) != 1 || got[0] != issuerURL {
		t.Errorf("the plain http server got %v: only the issuer may be fetched there", got)
	}
	if e.logs.FilterMessageSnippet("SNS subscription confirmed").Len() != 0 {
		t.Error("the subscription is logged as confirmed")
	}
	if n := testutilRefused(e, events.PathS3, "sns_subscribe_refused"); n != 1 {
		t.Errorf("cipurge_events_refused_total{code=sns_subscribe_refused} = %d, want 1", n)
	}
}
