package events

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1 is SHA1withRSA; version 2 is SHA256
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/httpapi"
)

// snsEnvelope is an Amazon SNS HTTP(S) delivery: a notification, or the subscription's
// confirmation handshake.
type snsEnvelope struct {
	Type             string `json:"Type"` // Notification, SubscriptionConfirmation, UnsubscribeConfirmation
	MessageID        string `json:"MessageId"`
	Token            string `json:"Token"`
	TopicArn         string `json:"TopicArn"`
	Subject          string `json:"Subject"`
	Message          string `json:"Message"`
	Timestamp        string `json:"Timestamp"`
	SignatureVersion string `json:"SignatureVersion"`
	Signature        string `json:"Signature"`
	SigningCertURL   string `json:"SigningCertURL"`
	SubscribeURL     string `json:"SubscribeURL"`
}

// SNS message types.
const (
	snsNotification = "Notification"
	snsSubscribe    = "SubscriptionConfirmation"
	snsUnsubscribe  = "UnsubscribeConfirmation"
)

// snsHost is what SNS's own host names look like (as AWS's message validators check them):
// sns.<region>.amazonaws.com, and .com.cn in the China regions.
var snsHost = regexp.MustCompile(`^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

// snsClockSkew is how far in the future a Timestamp may be.
const snsClockSkew = 5 * time.Minute

func (h *handler) serveSNS(w http.ResponseWriter, r *http.Request, e *entry, data []byte) {
	var env snsEnvelope
	if bad := decodeObject(data, &env); bad != nil {
		h.refuse(w, r, e, bad)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.Timeout)
	defer cancel()
	bad, err := h.sns.verify(ctx, &env)
	switch {
	case err != nil:
		e.err = err
		e.code = httpapi.Unavailable(w, h.RetryAfter, nil, "the SNS signing certificate could not be fetched: this delivery is not acknowledged; SNS retries it").Code
		return
	case bad != nil:
		h.refuse(w, r, e, bad)
		return
	}
	switch env.Type {
	case snsSubscribe:
		if err := h.sns.confirm(ctx, env.SubscribeURL); err != nil {
			e.err = err
			e.code = httpapi.Unavailable(w, h.RetryAfter, nil, "the SNS subscription could not be confirmed (GET SubscribeURL failed): "+
				"SNS sends the confirmation again; or confirm it in the SNS console").Code
			return
		}
		h.Log.Info("SNS subscription confirmed: S3 events of this topic now reach the worker", zap.String("topic", env.TopicArn))
		h.o.Metrics.received("sns", snsSubscribe, OutcomeIgnored)
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "subscription confirmed", "topic": env.TopicArn})
	case snsUnsubscribe:
		h.Log.Warn("SNS subscription removed: S3 events of this topic no longer reach the worker", zap.String("topic", env.TopicArn))
		h.o.Metrics.received("sns", snsUnsubscribe, OutcomeIgnored)
		httpapi.WriteJSON(w, http.StatusOK, map[string]string{"status": "unsubscribed", "topic": env.TopicArn})
	default: // snsNotification (verify refuses every other type)
		var msg s3Message
		if bad := decodeObject([]byte(env.Message), &msg); bad != nil {
			bad.Body.Message = "the SNS notification's Message is not an S3 event message: " + bad.Body.Message
			h.refuse(w, r, e, bad)
			return
		}
		evs, bad := s3Events(&msg, "sns")
		if bad != nil {
			h.refuse(w, r, e, bad)
			return
		}
		h.deliver(w, r, e, evs)
	}
}

// snsVerifier checks SNS signatures with certificates fetched from SNS's own hosts.
type snsVerifier struct {
	client *http.Client
	maxAge time.Duration
	now    func() time.Time

	mu    sync.Mutex
	certs map[string]*x509.Certificate // by SigningCertURL
}

func newSNSVerifier(c *http.Client, maxAge time.Duration, now func() time.Time) *snsVerifier {
	return &snsVerifier{client: c, maxAge: maxAge, now: now, certs: map[string]*x509.Certificate{}}
}

func forbidden(code, msg string) *httpapi.Problem {
	return &httpapi.Problem{Status: http.StatusForbidden, Body: httpapi.Error{Code: code, Message: msg}}
}

// verify checks an SNS message: a known type, a fresh Timestamp, a signing certificate on an
// SNS host, and the signature over the message's fields (SignatureVersion 1: SHA1withRSA, 2:
// SHA256withRSA). The Problem says why it is refused; the error is set when the certificate
// could not be fetched (a passing failure: the message is neither accepted nor refused).
func (v *snsVerifier) verify(ctx context.Context, env *snsEnvelope) (*httpapi.Problem, error) {
	var canonical []string
	switch env.Type {
	case snsNotification:
		canonical = []string{"Message", env.Message, "MessageId", env.MessageID}
		if env.Subject != "" {
			canonical = append(canonical, "Subject", env.Subject)
		}
		canonical = append(canonical, "Timestamp", env.Timestamp, "TopicArn", env.TopicArn, "Type", env.Type)
	case snsSubscribe, snsUnsubscribe:
		canonical = []string{"Message", env.Message, "MessageId", env.MessageID, "SubscribeURL", env.SubscribeURL,
			"Timestamp", env.Timestamp, "Token", env.Token, "TopicArn", env.TopicArn, "Type", env.Type}
	default:
		return unknownFormat(fmt.Sprintf("SNS message type %q is not one of Notification, SubscriptionConfirmation, UnsubscribeConfirmation", env.Type)), nil
	}
	if env.Signature == "" || env.SigningCertURL == "" {
		return forbidden("sns_unsigned", "the SNS message has no Signature or SigningCertURL: unsigned messages are refused"), nil
	}
	var hash crypto.Hash
	switch env.SignatureVersion {
	case "1":
		hash = crypto.SHA1
	case "2":
		hash = crypto.SHA256
	default:
		return forbidden("sns_signature_invalid", fmt.Sprintf("SNS SignatureVersion %q is not supported: use 1 or 2", env.SignatureVersion)), nil
	}
	ts, err := time.Parse(time.RFC3339, env.Timestamp)
	now := v.now()
	switch {
	case err != nil:
		return forbidden("sns_stale", fmt.Sprintf("the SNS message's Timestamp %q is not an RFC 3339 time", env.Timestamp)), nil
	case now.Sub(ts) > v.maxAge:
		return forbidden("sns_stale", fmt.Sprintf("the SNS message is from %s, more than %s ago: refused as a replay", ts.UTC().Format(time.RFC3339), v.maxAge)), nil
	case ts.Sub(now) > snsClockSkew:
		return forbidden("sns_stale", fmt.Sprintf("the SNS message is from %s, in the future: check this machine's clock", ts.UTC().Format(time.RFC3339))), nil
	}
	if reason := checkSNSURL(env.SigningCertURL); reason != "" {
		return forbidden("sns_certificate_untrusted", "SigningCertURL "+reason), nil
	}
	cert, err := v.cert(ctx, env.SigningCertURL)
	if err != nil {
		var p *certProblem
		if errors.As(err, &p) {
			return forbidden("sns_certificate_untrusted", err.Error()), nil
		}
		return nil, err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return forbidden("sns_certificate_untrusted", "the SNS signing certificate has no RSA key"), nil
	}
	sig, err := base64.StdEncoding.DecodeString(env.Signature)
	if err != nil {
		return forbidden("sns_signature_invalid", "the SNS Signature is not base64"), nil
	}
	var b strings.Builder
	for _, s := range canonical {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	var digest []byte
	if hash == crypto.SHA1 {
		d := sha1.Sum([]byte(b.String())) //nolint:gosec // the signature's own algorithm
		digest = d[:]
	} else {
		d := sha256.Sum256([]byte(b.String()))
		digest = d[:]
	}
	if err := rsa.VerifyPKCS1v15(pub, hash, digest, sig); err != nil {
		return forbidden("sns_signature_invalid", "the SNS message's signature does not verify against its signing certificate: refused"), nil
	}
	return nil, nil
}

// checkSNSURL says what is wrong with a URL the worker would fetch for SNS (a signing
// certificate, a SubscribeURL), or "" when it is https on an SNS host.
func checkSNSURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("%q is not a URL", raw)
	}
	if u.Scheme != "https" || u.User != nil || u.Port() != "" || !snsHost.MatchString(u.Hostname()) {
		return fmt.Sprintf("%q is not an https URL on an SNS host (sns.<region>.amazonaws.com)", raw)
	}
	return ""
}

// certProblem is a certificate that was fetched but is not usable: not a retryable failure.
type certProblem struct{ msg string }

func (p *certProblem) Error() string { return p.msg }

// maxCerts bounds the certificate cache (SNS rotates its certificate every few years; one per
// region is expected).
const maxCerts = 64

func (v *snsVerifier) cert(ctx context.Context, certURL string) (*x509.Certificate, error) {
	now := v.now()
	v.mu.Lock()
	c, ok := v.certs[certURL]
	v.mu.Unlock()
	if ok && now.Before(c.NotAfter) {
		return c, nil
	}
	body, err := v.get(ctx, certURL, 64<<10)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(body)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, &certProblem{"the SigningCertURL does not hold a PEM certificate"}
	}
	c, err = x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, &certProblem{"the SNS signing certificate does not parse: " + err.Error()}
	}
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return nil, &certProblem{fmt.Sprintf("the SNS signing certificate is valid from %s to %s, not now", c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))}
	}
	v.mu.Lock()
	if len(v.certs) >= maxCerts {
		clear(v.certs)
	}
	v.certs[certURL] = c
	v.mu.Unlock()
	return c, nil
}

// confirm answers a SubscriptionConfirmation by fetching its SubscribeURL (on an SNS host).
func (v *snsVerifier) confirm(ctx context.Context, subscribeURL string) error {
	if reason := checkSNSURL(subscribeURL); reason != "" {
		return errors.New("SubscribeURL " + reason)
	}
	_, err := v.get(ctx, subscribeURL, 64<<10)
	return err
}

// get fetches raw (already checked to be on an SNS host) and returns at most limit bytes of a
// 200 answer. Errors never hold the URL's query (a SubscribeURL's token).
func (v *snsVerifier) get(ctx context.Context, raw string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, err
	}
	where := req.URL.Host + req.URL.Path
	resp, err := v.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("GET https://%s: %w", where, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		return nil, fmt.Errorf("GET https://%s: %w", where, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET https://%s: %s", where, resp.Status)
	}
	return body, nil
}
