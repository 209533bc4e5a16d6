package events

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/cipurge/cipurge/internal/httpapi"
)

// cloudEvent is a CloudEvents 1.0 event, read from a structured-mode body or from a
// binary-mode request's ce-* headers and body.
type cloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
	DataBase64      string          `json:"data_base64"`
}

// CloudEvents media types (structured and batched modes).
const (
	ceStructured = "application/cloudevents+json"
	ceBatch      = "application/cloudevents-batch+json"
)

func (h *handler) serveCloudEvents(w http.ResponseWriter, r *http.Request, e *entry) {
	if r.Method == http.MethodOptions {
		h.handshake(w, r, e)
		return
	}
	data, ok := h.post(w, r, e, "POST, OPTIONS")
	if !ok {
		return
	}
	ces, bad := readCloudEvents(r, data)
	if bad != nil {
		h.refuse(w, r, e, bad)
		return
	}
	var evs []event
	for i, ce := range ces {
		ev, bad := storageEvent(ce)
		if bad != nil {
			if len(ces) > 1 {
				bad.Body.Message = fmt.Sprintf("event %d of the batch: %s", i, bad.Body.Message)
			}
			h.refuse(w, r, e, bad)
			return
		}
		evs = append(evs, ev)
	}
	if len(evs) > 0 {
		e.source = evs[0].source
	}
	h.deliver(w, r, e, evs)
}

// handshake answers the CloudEvents webhook abuse-protection handshake (Azure Event Grid sends it
// when a subscription with the CloudEvents schema is created): consent for the origin that asks.
func (h *handler) handshake(w http.ResponseWriter, r *http.Request, e *entry) {
	origin := r.Header.Get("WebHook-Request-Origin")
	w.Header().Set("Allow", "POST, OPTIONS")
	if origin == "" {
		h.refuse(w, r, e, &httpapi.Problem{Status: http.StatusBadRequest, Body: httpapi.Error{Code: "handshake_origin_missing",
			Message: "OPTIONS is the CloudEvents webhook validation handshake: send WebHook-Request-Origin (deliveries are POST)"}})
		return
	}
	w.Header().Set("WebHook-Allowed-Origin", origin)
	w.Header().Set("WebHook-Allowed-Rate", "*")
	e.source = "handshake"
	w.WriteHeader(http.StatusOK)
}

// readCloudEvents reads the events of a request in binary mode (ce-specversion header),
// structured mode (application/cloudevents+json) or batched mode
// (application/cloudevents-batch+json).
func readCloudEvents(r *http.Request, data []byte) ([]cloudEvent, *httpapi.Problem) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case r.Header.Get("Ce-Specversion") != "":
		ce := cloudEvent{
			SpecVersion: r.Header.Get("Ce-Specversion"), ID: r.Header.Get("Ce-Id"), Source: r.Header.Get("Ce-Source"),
			Type: r.Header.Get("Ce-Type"), Subject: r.Header.Get("Ce-Subject"), DataContentType: r.Header.Get("Content-Type"), Data: data,
		}
		if err := ce.check(); err != nil {
			return nil, err
		}
		return []cloudEvent{ce}, nil
	case mt == ceStructured:
		var ce cloudEvent
		if bad := decodeObject(data, &ce); bad != nil {
			return nil, bad
		}
		if err := ce.check(); err != nil {
			return nil, err
		}
		return []cloudEvent{ce}, nil
	case mt == ceBatch:
		var ces []cloudEvent
		if bad := decodeObject(data, &ces); bad != nil {
			return nil, bad
		}
		for i := range ces {
			if err := ces[i].check(); err != nil {
				err.Body.Message = fmt.Sprintf("event %d of the batch: %s", i, err.Body.Message)
				return nil, err
			}
		}
		return ces, nil
	}
	return nil, unknownFormat(fmt.Sprintf("not a CloudEvent: binary mode needs the ce-specversion, ce-id, ce-source and ce-type headers; "+
		"structured mode the Content-Type %s (or %s for a batch), not %q", ceStructured, ceBatch, r.Header.Get("Content-Type")))
}

// check refuses an event without the attributes CloudEvents 1.0 requires, and decodes
// data_base64 into Data.
func (ce *cloudEvent) check() *httpapi.Problem {
	if ce.SpecVersion != "1.0" {
		return unknownFormat(fmt.Sprintf("specversion %q is not supported: send CloudEvents 1.0", ce.SpecVersion))
	}
	if ce.ID == "" || ce.Source == "" || ce.Type == "" {
		return unknownFormat("a CloudEvent needs id, source and type")
	}
	if ce.DataBase64 != "" && len(ce.Data) == 0 {
		d, err := base64.StdEncoding.DecodeString(ce.DataBase64)
		if err != nil {
			return unknownFormat("data_base64 is not base64")
		}
		ce.Data = d
	}
	return nil
}

// Event types that change what an image URL serves.
const (
	azureCreated = "Microsoft.Storage.BlobCreated"
	azureDeleted = "Microsoft.Storage.BlobDeleted"
	gcsFinalized = "google.cloud.storage.object.v1.finalized"
	gcsDeleted   = "google.cloud.storage.object.v1.deleted"
)

// storageEvent reads the object event of an Azure Blob Storage or Google Cloud Storage
// CloudEvent. Other event types of those services are ignored; events of other services are
// refused (the subscription is pointed at the wrong endpoint).
func storageEvent(ce cloudEvent) (event, *httpapi.Problem) {
	switch {
	case strings.HasPrefix(ce.Type, "Microsoft.Storage."):
		ev := event{source: "azure", typ: ce.Type, change: ce.Type == azureCreated || ce.Type == azureDeleted}
		if !ev.change {
			return ev, nil
		}
		// subject: /blobServices/default/containers/<container>/blobs/<blob name, as stored>
		rest, ok := strings.CutPrefix(ce.Subject, "/blobServices/default/containers/")
		container, blob, ok2 := strings.Cut(rest, "/blobs/")
		if ok && ok2 && container != "" {
			ev.bucket, ev.key = container, blob
			return ev, nil
		}
		// No usable subject: the blob's URL in data.url, https://<account>.blob.core.windows.net/<container>/<blob>.
		var d struct {
			URL string `json:"url"`
		}
		if u, err := url.Parse(dataField(ce, &d, &d.URL)); err == nil && u.Path != "" {
			container, blob, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
			if container != "" {
				ev.bucket, ev.key = container, blob
				return ev, nil
			}
		}
		return ev, unknownFormat(fmt.Sprintf("%s event %q names no blob: its subject is not /blobServices/default/containers/<container>/blobs/<blob> and its data has no blob url", ce.Type, ce.ID))
	case strings.HasPrefix(ce.Type, "google.cloud.storage."):
		ev := event{source: "gcs", typ: ce.Type, change: ce.Type == gcsFinalized || ce.Type == gcsDeleted}
		if !ev.change {
			return ev, nil
		}
		var d struct {
			Bucket string `json:"bucket"`
			Name   string `json:"name"`
		}
		dataField(ce, &d, &d.Name)
		// Without data: source //storage.googleapis.com/projects/_/buckets/<bucket>, subject objects/<name>.
		ev.bucket = or(d.Bucket, strings.TrimPrefix(ce.Source, "//storage.googleapis.com/projects/_/buckets/"))
		ev.key = or(d.Name, strings.TrimPrefix(ce.Subject, "objects/"))
		if ev.bucket == "" || ev.bucket == ce.Source || ev.key == "" {
			return ev, unknownFormat(fmt.Sprintf("%s event %q names no object: its data has no bucket and name", ce.Type, ce.ID))
		}
		return ev, nil
	}
	return event{}, &httpapi.Problem{Status: http.StatusBadRequest, Body: httpapi.Error{Code: "unknown_event_type",
		Message: fmt.Sprintf("event type %q is not a storage event: this endpoint takes Microsoft.Storage.Blob* (Azure Event Grid) and "+
			"google.cloud.storage.object.v1.* (GCS through Eventarc); filter the subscription to those types", ce.Type)}}
}

// dataField decodes ce's data, when it is a JSON object, into dst and returns *field.
func dataField(ce cloudEvent, dst any, field *string) string {
	if len(ce.Data) > 0 {
		_ = json.Unmarshal(ce.Data, dst) // a missing or odd data is reported by the caller
	}
	return *field
}
