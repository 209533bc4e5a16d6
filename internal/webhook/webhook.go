// Package webhook delivers signed events to a receiver's URL.
//
// It follows the Standard Webhooks specification (https://www.standardwebhooks.com).
// Each event is a JSON body with three headers.
// They are webhook-id, webhook-timestamp and webhook-signature.
// The signature is an HMAC-SHA256 of the three, with the receiver's secret.
//
// Deliveries are asynq tasks on a queue of their own, [Queue].
// An asynq server of their own runs them ([NewServer]).
// So a slow or down receiver never takes a slot of an invalidation.
// A delivery keeps its webhook-id across retries.
// A receiver dedupes by it.
// Retries back off up to an hour apart, for at least RetryFor.
// A delivery that finally fails stays in asynq's archive of Queue.
// [Failed] lists it, and [Replay] runs it once more.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cipurge/cipurge/internal/outbound"
)

// Header names of the Standard Webhooks specification.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts a secret in the specification's format: whsec_ then the key in base64.
const SecretPrefix = "whsec_"

// Key lengths the secret's decoded key may have. The specification asks for 24 to 64 bytes.
const (
	minKeyBytes = 24
	maxKeyBytes = 64
)

// ParseSecret decodes a webhook secret into the HMAC key.
// A secret is whsec_ followed by base64.
// The error says how to make a good secret.
// It never holds the secret.
func ParseSecret(secret string) ([]byte, error) {
	const fix = "set it to whsec_ followed by base64 of 32 random bytes, e.g. whsec_$(openssl rand -base64 32)"
	b64, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("the webhook secret does not start with %s: %s", SecretPrefix, fix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("the webhook secret is not base64 after %s: %s", SecretPrefix, fix)
	}
	if len(key) < minKeyBytes || len(key) > maxKeyBytes {
		return nil, fmt.Errorf("the webhook secret holds %d bytes, not %d to %d: %s", len(key), minKeyBytes, maxKeyBytes, fix)
	}
	return key, nil
}

// Sign returns the webhook-signature header of one delivery attempt: v1, a comma, and the base64
// HMAC-SHA256 of "id.timestamp.body" with key.
func Sign(key []byte, id string, ts time.Time, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Event types.
const (
	EventRequestDone = "request.done"     // every URL of a request is confirmed or has finally failed
	EventURLDead     = "request.url_dead" // one URL of a request was dead-lettered
)

// Event is the JSON body of a delivery. Data depends on Type.
type Event struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// MessageID is the stable webhook-id of the event typ about subject (a request ID, or a request
// ID and a URL): the same event gets the same id however often it is built or sent.
func MessageID(typ string, subject ...string) string {
	h := sha256.New()
	h.Write([]byte(typ))
	for _, s := range subject {
		h.Write([]byte{0})
		h.Write([]byte(s))
	}
	return "msg_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Delivery is one event to one receiver: the payload of a delivery task. It holds no secret.
type Delivery struct {
	ID   string          `json:"id"`   // the webhook-id, stable across attempts
	URL  string          `json:"url"`  // the receiver
	Body json.RawMessage `json:"body"` // the Event, as sent
}

// MaxBody bounds the body of a delivery. A receiver can rely on it.
const MaxBody = 64 << 10

// ErrTooLarge is what NewDelivery returns for a body over MaxBody.
var ErrTooLarge = errors.New("webhook: the event is larger than the bound of a delivery")

// NewDelivery builds the delivery of ev to target, with the id MessageID gives for subject.
// A body over MaxBody is refused with ErrTooLarge.
func NewDelivery(target string, ev Event, subject ...string) (Delivery, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return Delivery{}, fmt.Errorf("webhook: encoding a %s event: %w", ev.Type, err)
	}
	if len(body) > MaxBody {
		return Delivery{}, fmt.Errorf("%w: a %s event of %d bytes, over %d", ErrTooLarge, ev.Type, len(body), MaxBody)
	}
	return Delivery{ID: MessageID(ev.Type, subject...), URL: target, Body: body}, nil
}

// Config is how a worker delivers the events of requests.
type Config struct {
	URL          string // the default receiver, for requests that name none; "" for none
	Secret       string // signs every delivery (ParseSecret); "" for none, and then nothing is sent
	AllowPrivate bool   // deliveries may dial private addresses: a receiver inside the network
	Concurrency  int    // deliveries at once per worker; 0: DefaultConcurrency
}

// String describes c without its secret, nor the query or user info of its URL.
func (c Config) String() string {
	secret := "none"
	if c.Secret != "" {
		secret = "set"
	}
	return fmt.Sprintf("{URL:%s Secret:%s AllowPrivate:%t Concurrency:%d}", Redact(c.URL), secret, c.AllowPrivate, c.Concurrency)
}

// NewSender returns the Sender of c, or nil when c has no secret.
// Its client is the outbound one: no redirects, Timeout, https except to loopback.
// Private addresses are dialed only with c.AllowPrivate.
func NewSender(c Config) (*Sender, error) {
	if c.Secret == "" {
		return nil, nil
	}
	key, err := ParseSecret(c.Secret)
	if err != nil {
		return nil, err
	}
	client := outbound.New(outbound.Options{Timeout: Timeout, AllowLoopback: true, AllowPrivate: c.AllowPrivate})
	return &Sender{Client: client, Key: key}, nil
}

// Doer sends one HTTP request. The product uses an *outbound.Client: https only except loopback,
// no redirects, a timeout.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// AnswerLimit is how much of a receiver's answer is read. The answer is only drained.
const AnswerLimit = 64 << 10

// ErrRejected is what a receiver's non-2xx answer matches with errors.Is.
var ErrRejected = errors.New("webhook: the receiver did not answer 2xx")

// Sender signs and sends deliveries.
type Sender struct {
	Client Doer
	Key    []byte           // from ParseSecret
	Now    func() time.Time // nil: time.Now
}

// Send makes one attempt: it signs d with the attempt's timestamp and POSTs it. Any 2xx answer
// is success. Errors name the receiver without its query, never the key.
func (s *Sender) Send(ctx context.Context, d Delivery) error {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	ts := now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Body))
	if err != nil {
		return fmt.Errorf("webhook %s: the target %q is not a URL: %w", d.ID, Redact(d.URL), err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderID, d.ID)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(s.Key, d.ID, ts, d.Body))
	resp, err := s.Client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", d.ID, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, AnswerLimit))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook %s: %s answered %s: %w", d.ID, Redact(d.URL), resp.Status, ErrRejected)
	}
	return nil
}

// Redact is raw without its query, fragment and user info, which may hold a token.
func Redact(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if i := strings.Index(raw, "@"); i >= 0 {
		if j := strings.Index(raw, "://"); j >= 0 && j < i {
			raw = raw[:j+3] + raw[i+1:]
		}
	}
	return raw
}

// MaxTargetLen bounds a callback URL's length.
const MaxTargetLen = 2048

// CheckTarget says why raw cannot be a receiver's URL, or nil: it must be an absolute https URL,
// or http to a loopback address or localhost, with no user info, at most MaxTargetLen bytes.
// The delivery's client checks the address again when it connects.
func CheckTarget(raw string) error {
	if len(raw) > MaxTargetLen {
		return fmt.Errorf("the callback URL is %d bytes long: use at most %d", len(raw), MaxTargetLen)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("the callback URL %q is not an absolute URL", Redact(raw))
	}
	if u.User != nil {
		return fmt.Errorf("the callback URL %q holds user info: put a token in its path or query", Redact(raw))
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		h := u.Hostname()
		if a, err := netip.ParseAddr(h); (err == nil && a.Unmap().IsLoopback()) || strings.EqualFold(h, "localhost") {
			return nil
		}
		return fmt.Errorf("the callback URL %q is plain http: use https (plain http only to a loopback address)", Redact(raw))
	}
	return fmt.Errorf("the callback URL %q has the scheme %q: use https", Redact(raw), u.Scheme)
}
