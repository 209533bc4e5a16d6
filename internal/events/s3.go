package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/cipurge/cipurge/internal/httpapi"
)

// s3Message is what POST /v1/events/s3 reads: an S3 event notification message (Records), with
// MinIO's webhook envelope around it (EventName, Key), or S3's test event; or an SNS envelope
// (see sns.go) that carries one of those in its Message.
type s3Message struct {
	Records []s3Record `json:"Records"`
	// MinIO's webhook envelope: the first record's event name and "bucket/key" (not used: the
	// records say the same, per record).
	EventName string `json:"EventName"`
	Key       string `json:"Key"`
	// S3's test event, sent once when a notification is configured.
	Service string `json:"Service"`
	Event   string `json:"Event"`
	Bucket  string `json:"Bucket"`
	// The SNS envelope's marks.
	Type      string `json:"Type"`
	TopicArn  string `json:"TopicArn"`
	MessageID string `json:"MessageId"`
}

// s3Record is one record of an S3 event message (event versions 2.x). Unknown fields are fine.
type s3Record struct {
	EventVersion string `json:"eventVersion"`
	EventSource  string `json:"eventSource"` // aws:s3, minio:s3, ceph:s3
	EventName    string `json:"eventName"`   // ObjectCreated:Put, s3:ObjectRemoved:Delete, ...
	S3           struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key string `json:"key"` // URL-encoded as a form value (a space as '+'), but raw from Ceph RGW: see s3Key
		} `json:"object"`
	} `json:"s3"`
}

const s3TestEvent = "s3:TestEvent"

func (h *handler) serveS3(w http.ResponseWriter, r *http.Request, e *entry) {
	data, ok := h.post(w, r, e, http.MethodPost)
	if !ok {
		return
	}
	var msg s3Message
	if bad := decodeObject(data, &msg); bad != nil {
		h.refuse(w, r, e, bad)
		return
	}
	if msg.Type != "" && msg.TopicArn != "" && msg.MessageID != "" {
		e.source = "sns"
		h.serveSNS(w, r, e, data)
		return
	}
	if r.Header.Get("X-Amz-Sns-Message-Type") != "" {
		h.refuse(w, r, e, &httpapi.Problem{Status: http.StatusForbidden, Body: httpapi.Error{Code: "sns_unsigned",
			Message: "an SNS delivery without the SNS envelope cannot be verified: turn off raw message delivery on the subscription"}})
		return
	}
	evs, bad := s3Events(&msg, "")
	if bad != nil {
		h.refuse(w, r, e, bad)
		return
	}
	if len(evs) > 0 {
		e.source = evs[0].source
	}
	h.deliver(w, r, e, evs)
}

// s3Events returns the events of an S3 message (not an SNS envelope); via names the sender
// that carried it ("sns"), or "" to name each record's own source.
func s3Events(msg *s3Message, via string) ([]event, *httpapi.Problem) {
	if msg.Records == nil {
		if msg.Event == s3TestEvent {
			return []event{{source: or(via, "s3"), typ: s3TestEvent, bucket: msg.Bucket}}, nil
		}
		return nil, unknownFormat(`no "Records" array: POST /v1/events/s3 takes S3 event notification messages ({"Records": [...]}, ` +
			`as MinIO's webhook, Ceph RGW's HTTP push endpoint and SNS send them); CloudEvents go to POST /v1/events/cloudevents`)
	}
	evs := make([]event, 0, len(msg.Records))
	for i, rec := range msg.Records {
		major, _, _ := strings.Cut(rec.EventVersion, ".")
		if major != "2" {
			return nil, unknownFormat(fmt.Sprintf("record %d has eventVersion %q: this endpoint reads S3 event messages of version 2.x", i, rec.EventVersion))
		}
		if rec.EventName == "" || rec.S3.Bucket.Name == "" {
			return nil, unknownFormat(fmt.Sprintf("record %d has no eventName or no s3.bucket.name", i))
		}
		typ, change := s3Change(rec.EventName)
		ev := event{source: or(via, s3Source(rec.EventSource)), typ: typ, bucket: rec.S3.Bucket.Name, change: change}
		// A key that does not decode is one record's problem, not the delivery's: the record is
		// acknowledged and counted as rejected (see handler.one), the others go on.
		ev.key, ev.badKey = s3Key(rec.EventSource, rec.S3.Object.Key)
		evs = append(evs, ev)
	}
	return evs, nil
}

// s3Key returns a record's object key as stored. The encoding depends on the sender, named by
// eventSource.
//
// AWS S3 (aws:s3, also through SNS) and MinIO (minio:s3) URL-encode keys as a form value is
// encoded. A space is '+', and a '+' is %2B. MinIO also writes '/' as %2F. These keys are decoded.
//
// Ceph RGW (ceph:s3) sends keys raw, as stored. See suitenumerique/meet#1455: "Ceph RGW send[s]
// notification object keys with raw path separators". Decoding would read its "sale+new.jpg" as
// "sale new.jpg". It would refuse "50%off.jpg". So these keys are used as they are.
//
// Any other eventSource, or none, is read as S3's. When an encoded key does not decode, bad is
// set and key is the raw key.
func s3Key(eventSource, raw string) (key, bad string) {
	if eventSource == "ceph:s3" {
		return raw, ""
	}
	key, err := url.QueryUnescape(raw)
	if err != nil {
		return raw, fmt.Sprintf("s3.object.key %q is not URL-encoded as %s encodes keys: %v", raw, or(eventSource, "S3"), err)
	}
	return key, ""
}

// s3Change classifies an S3 event name (with or without MinIO's "s3:" prefix): created by any
// method (put, post, copy, multipart, an overwrite) and removed (delete, delete marker,
// lifecycle expiration) change what an image URL serves; access, tagging, ACL, retention,
// restore, replication and lifecycle transitions do not.
func s3Change(name string) (typ string, change bool) {
	typ = strings.TrimPrefix(name, "s3:")
	switch {
	case strings.HasPrefix(typ, "ObjectCreated:"):
		switch strings.TrimPrefix(typ, "ObjectCreated:") {
		case "PutRetention", "PutLegalHold", "PutTagging", "DeleteTagging": // MinIO: metadata only
			return typ, false
		}
		return typ, true
	case typ == "ObjectRemoved:NoOP": // MinIO: a delete of a key that never existed changes nothing
		return typ, false
	case strings.HasPrefix(typ, "ObjectRemoved:"),
		strings.HasPrefix(typ, "LifecycleExpiration:"),        // AWS: the object (or its current version) expired
		strings.HasPrefix(typ, "ObjectLifecycle:Expiration:"): // Ceph
		return typ, true
	}
	return typ, false
}

// s3Source names the sender of a record from its eventSource.
func s3Source(eventSource string) string {
	switch eventSource {
	case "minio:s3":
		return "minio"
	case "ceph:s3":
		return "ceph"
	}
	return "s3"
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func unknownFormat(msg string) *httpapi.Problem {
	return &httpapi.Problem{Status: http.StatusBadRequest, Body: httpapi.Error{Code: "unknown_format", Message: msg}}
}

// decodeObject decodes data, one JSON object (unknown fields allowed: senders add fields), into
// dst; a 400 says where it is not JSON.
func decodeObject(data []byte, dst any) *httpapi.Problem {
	if len(bytes.TrimSpace(data)) == 0 {
		return &httpapi.Problem{Status: http.StatusBadRequest, Body: httpapi.Error{Code: "empty_body", Message: "the body is empty: send the sender's JSON event message"}}
	}
	if bad := httpapi.CheckJSON(data); bad != nil {
		return bad
	}
	err := json.Unmarshal(data, dst)
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected end of JSON input"):
		return httpapi.Malformed(data, len(data), "malformed_json", "not JSON: the body ends in the middle of a value")
	case errors.As(err, &syn):
		return httpapi.Malformed(data, int(syn.Offset)-1, "malformed_json", "not JSON: "+syn.Error())
	case errors.As(err, &typ):
		msg := fmt.Sprintf("a JSON %s where a JSON object belongs: send the sender's event message", typ.Value)
		if typ.Field != "" {
			msg = fmt.Sprintf("field %q is a JSON %s, which no known event format has", typ.Field, typ.Value)
		}
		return httpapi.Malformed(data, int(typ.Offset)-1, "unknown_format", msg)
	}
	return &httpapi.Problem{Status: http.StatusBadRequest, Body: httpapi.Error{Code: "malformed_json", Message: "not JSON: " + err.Error()}}
}
