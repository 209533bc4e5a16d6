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
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge/internal/httpapi"
	"github.com/cipurge/cipurge/internal/outbound"
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

// snsHost is what SNS's own host names look like: sns.<region>.amazonaws.com, with a region
// such as us-east-1, us-gov-west-1 or us-isob-east-1, and sns.cn-<region>.amazonaws.com.cn in
// the China regions. The region is one label that starts with two letters, so S3's addresses
// of a bucket named "sns" (sns.s3.amazonaws.com, sns.s3-us-west-2.amazonaws.com) do not match.
var snsHost = regexp.MustCompile(`^sns\.(?:[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-[0-9]+\.amazonaws\.com|cn-[a-z]+-[0-9]+\.amazonaws\.com\.cn)$`)

// snsSubjects are the names an SNS signing certificate is issued to (its subject's common name
// or a DNS name). AWS's certificates carry CN=sns.amazonaws.com, issued by Amazon RSA 2048
// M01-M04 (before: Amazon Server CA 1B) under Amazon Root CA 1. The China regions' name is
// accepted too, as is the host the certificate was fetched from.
var snsSubjects = []string{"sns.amazonaws.com", "sns.amazonaws.com.cn"}

// amazonTrustHost is where Amazon Trust Services publishes its intermediate certificates (the
// "CA Issuers" address in an SNS certificate, e.g. http://crt.r2m01.amazontrust.com/r2m01.cer).
// SNS serves its certificate without them. They are fetched over plain http, as published: a
// certificate proves itself by its signature up to a root this machine trusts.
var amazonTrustHost = regexp.MustCompile(`^crt\.[a-z0-9]+\.amazontrust\.com$`)

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
			var p *certProblem
			if errors.As(err, &p) {
				h.refuse(w, r, e, forbidden("sns_subscribe_refused", "the SNS SubscribeURL was not confirmed: "+p.msg))
				return
			}
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
	client *outbound.Client
	roots  *x509.CertPool  // nil: the system's
	topics map[string]bool // EVENTS_SNS_TOPICS; empty: every topic
	maxAge time.Duration
	now    func() time.Time

	mu      sync.Mutex
	certs   map[string]*x509.Certificate // by SigningCertURL
	issuers map[string]*x509.Certificate // by "CA Issuers" address
}

func newSNSVerifier(o *Options) *snsVerifier {
	f := o.SNSFetch
	f.PlainHTTP = amazonTrustHost.MatchString
	topics := map[string]bool{}
	for _, t := range o.SNSTopics {
		topics[t] = true
	}
	return &snsVerifier{client: outbound.New(f), roots: o.SNSRoots, topics: topics, maxAge: o.SNSMaxAge, now: o.Now,
		certs: map[string]*x509.Certificate{}, issuers: map[string]*x509.Certificate{}}
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
	if len(v.topics) > 0 && !v.topics[env.TopicArn] {
		return forbidden("sns_topic_not_allowed", fmt.Sprintf("the SNS topic %q is not one of EVENTS_SNS_TOPICS: refused; add it there to accept its messages", env.TopicArn)), nil
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

// certProblem is an SNS fetch that was refused, or a certificate that is not SNS's: the message
// is refused, not retried.
type certProblem struct{ msg string }

func (p *certProblem) Error() string { return p.msg }

// maxCerts bounds the certificate cache (SNS rotates its certificate every few years; one per
// region is expected).
const maxCerts = 64

// Bounds on what an SNS certificate fetch reads.
const (
	maxCertBytes = 64 << 10 // a PEM file: SNS's is under 2 KiB
	maxIssuers   = 2        // "CA Issuers" hops fetched to reach a root
)

func (v *snsVerifier) cert(ctx context.Context, certURL string) (*x509.Certificate, error) {
	now := v.now()
	v.mu.Lock()
	c, ok := v.certs[certURL]
	v.mu.Unlock()
	if ok && now.Before(c.NotAfter) {
		return c, nil
	}
	body, err := v.get(ctx, certURL)
	if err != nil {
		return nil, err
	}
	var chain []*x509.Certificate
	for rest := body; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, &certProblem{"the SNS signing certificate does not parse: " + err.Error()}
		}
		chain = append(chain, cert)
	}
	if len(chain) == 0 {
		return nil, &certProblem{"the SigningCertURL does not hold a PEM certificate"}
	}
	c = chain[0]
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return nil, &certProblem{fmt.Sprintf("the SNS signing certificate is valid from %s to %s, not now", c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))}
	}
	if err := v.verifyChain(ctx, c, chain[1:], now); err != nil {
		return nil, err
	}
	if !snsSubject(c, certURL) {
		return nil, &certProblem{fmt.Sprintf("the SNS signing certificate is issued to %q, not to SNS (%s)", c.Subject.CommonName, strings.Join(snsSubjects, ", "))}
	}
	if c.KeyUsage != 0 && c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, &certProblem{"the SNS signing certificate may not sign (no digitalSignature key usage)"}
	}
	v.mu.Lock()
	if len(v.certs) >= maxCerts {
		clear(v.certs)
	}
	v.certs[certURL] = c
	v.mu.Unlock()
	return c, nil
}

// verifyChain verifies leaf up to a root: the system's, or v.roots. Intermediates come from the
// PEM file itself, else from the "CA Issuers" addresses on Amazon Trust Services' host.
func (v *snsVerifier) verifyChain(ctx context.Context, leaf *x509.Certificate, extra []*x509.Certificate, now time.Time) error {
	pool := x509.NewCertPool()
	for _, c := range extra {
		pool.AddCert(c)
	}
	opts := x509.VerifyOptions{Roots: v.roots, Intermediates: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	next := leaf
	for hop := 0; ; hop++ {
		_, err := leaf.Verify(opts)
		if err == nil {
			return nil
		}
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) || hop == maxIssuers {
			return &certProblem{"the SNS signing certificate does not chain to a trusted root: " + err.Error()}
		}
		issuer, ferr := v.issuer(ctx, next)
		if ferr != nil {
			return ferr
		}
		if issuer == nil {
			return &certProblem{"the SNS signing certificate does not chain to a trusted root: " + err.Error()}
		}
		pool.AddCert(issuer)
		next = issuer
	}
}

// issuer fetches the certificate that issued c from its first "CA Issuers" address on Amazon
// Trust Services' host; nil when it has none there.
func (v *snsVerifier) issuer(ctx context.Context, c *x509.Certificate) (*x509.Certificate, error) {
	for _, raw := range c.IssuingCertificateURL {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "http" || !amazonTrustHost.MatchString(u.Hostname()) {
			continue
		}
		v.mu.Lock()
		issuer, ok := v.issuers[raw]
		v.mu.Unlock()
		if ok {
			return issuer, nil
		}
		body, err := v.get(ctx, raw)
		if err != nil {
			return nil, err
		}
		if block, _ := pem.Decode(body); block != nil {
			body = block.Bytes
		}
		issuer, err = x509.ParseCertificate(body)
		if err != nil {
			return nil, &certProblem{fmt.Sprintf("the issuer certificate at %s does not parse: %v", raw, err)}
		}
		// Kept whatever it proves: the chain is verified each time, so a wrong one only fails.
		v.mu.Lock()
		if len(v.issuers) >= maxCerts {
			clear(v.issuers)
		}
		v.issuers[raw] = issuer
		v.mu.Unlock()
		return issuer, nil
	}
	return nil, nil
}

// snsSubject reports whether c is issued to SNS: one of snsSubjects, or the host it was fetched
// from, as its subject's common name or one of its DNS names.
func snsSubject(c *x509.Certificate, certURL string) bool {
	names := append([]string{c.Subject.CommonName}, c.DNSNames...)
	host := ""
	if u, err := url.Parse(certURL); err == nil {
		host = u.Hostname()
	}
	for _, n := range names {
		n = strings.ToLower(n)
		if n == host || slices.Contains(snsSubjects, n) {
			return true
		}
	}
	return false
}

// confirm answers a SubscriptionConfirmation by fetching its SubscribeURL (on an SNS host).
func (v *snsVerifier) confirm(ctx context.Context, subscribeURL string) error {
	if reason := checkSNSURL(subscribeURL); reason != "" {
		return &certProblem{"SubscribeURL " + reason}
	}
	_, err := v.get(ctx, subscribeURL)
	return err
}

// get fetches raw through the outbound client: at most maxCertBytes of a 200 answer, no
// redirect. A refusal (a redirect, an address, a scheme, a long answer) is a *certProblem: the
// message is refused, not retried. Errors never hold the URL's query (a SubscribeURL's token).
func (v *snsVerifier) get(ctx context.Context, raw string) ([]byte, error) {
	body, err := v.client.Get(ctx, raw, maxCertBytes)
	if errors.Is(err, outbound.ErrRefused) {
		return nil, &certProblem{err.Error()}
	}
	return body, err
}
