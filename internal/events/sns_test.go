package events_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/events"
)

// The test's SNS: a signing certificate served at an SNS host name through the receivers'
// SNSClient (how the test trusts its own certificate), and the SubscribeURL GETs it receives.
const (
	certURL      = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
	topicArn     = "arn:aws:sns:us-west-2:123456789012:MyTopic"
	subscribeURL = "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736"
)

type fakeSNS struct {
	key  *rsa.PrivateKey
	pem  []byte
	mu   sync.Mutex
	gets []string // URLs fetched
}

func newFakeSNS(t *testing.T) *fakeSNS {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeSNS{key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// RoundTrip serves the certificate and the SubscribeURL; anything else is 404.
func (f *fakeSNS) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.gets = append(f.gets, r.URL.String())
	f.mu.Unlock()
	body, code := "not found", http.StatusNotFound
	switch r.URL.String() {
	case certURL:
		body, code = string(f.pem), http.StatusOK
	case subscribeURL:
		body, code = "<ConfirmSubscriptionResponse/>", http.StatusOK
	}
	return &http.Response{StatusCode: code, Status: http.StatusText(code), Body: io.NopCloser(strings.NewReader(body)), Header: http.Header{}, Request: r}, nil
}

func (f *fakeSNS) fetched() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.gets...)
}

// sign sets Signature over the message's fields, as SNS does (version 1: SHA1withRSA, 2: SHA256).
func (f *fakeSNS) sign(t *testing.T, m map[string]string) {
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
		sig, err = rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA1, d[:])
	} else {
		d := sha256.Sum256(b.Bytes())
		sig, err = rsa.SignPKCS1v15(rand.Reader, f.key, crypto.SHA256, d[:])
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
	return setup(t, func(o *events.Options) { o.SNSClient = &http.Client{Transport: f} }), f
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
