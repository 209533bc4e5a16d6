package events_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/cipurge/cipurge/internal/events"
)

// ceClient is the CloudEvents Go SDK as the sender, with the token in a header (as Event Grid's
// delivery properties set it).
func ceClient(t *testing.T, e *env) cloudevents.Client {
	t.Helper()
	c, err := cloudevents.NewClientHTTP(cehttp.WithTarget(e.srv.URL+events.PathCloudEvents), cehttp.WithHeader("Authorization", "Bearer "+testToken))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sendCE sends ev in the mode given and returns the HTTP status the receiver answered.
func sendCE(t *testing.T, c cloudevents.Client, ev cloudevents.Event, structured bool) int {
	t.Helper()
	ctx := cloudevents.WithEncodingBinary(context.Background())
	if structured {
		ctx = cloudevents.WithEncodingStructured(context.Background())
	}
	res := c.Send(ctx, ev)
	var hr *cehttp.Result
	if !cloudevents.ResultAs(res, &hr) {
		t.Fatalf("send %s: %v", ev.Type(), res)
	}
	return hr.StatusCode
}

// azureSamples reads Azure's documented CloudEvents (a batch of one) with the SDK.
func azureSample(t *testing.T, file string) cloudevents.Event {
	t.Helper()
	var evs []cloudevents.Event
	if err := json.Unmarshal([]byte(sample(t, file)), &evs); err != nil || len(evs) != 1 {
		t.Fatalf("%s: %v", file, err)
	}
	return evs[0]
}

// gcsSample is Google's documented object.v1.finalized event as Eventarc delivers it.
func gcsSample(t *testing.T, typ string) cloudevents.Event {
	t.Helper()
	ev := cloudevents.NewEvent()
	ev.SetID("1234567890")
	ev.SetSource("//storage.googleapis.com/projects/_/buckets/my-bucket")
	ev.SetType(typ)
	ev.SetSubject("objects/my-file.txt")
	if err := ev.SetData(cloudevents.ApplicationJSON, json.RawMessage(sample(t, "gcs-finalized.json"))); err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestCloudEventsSDK: the CloudEvents Go SDK sends Azure's and Google's documented events in both
// modes; each is acknowledged (an ACK for the SDK) once its URL is pending.
func TestCloudEventsSDK(t *testing.T) {
	t.Parallel()
	for _, structured := range []bool{false, true} {
		e := setup(t, nil)
		c := ceClient(t, e)
		for _, ev := range []cloudevents.Event{
			azureSample(t, "azure-blob-created.json"), azureSample(t, "azure-blob-deleted.json"),
			gcsSample(t, "google.cloud.storage.object.v1.finalized"), gcsSample(t, "google.cloud.storage.object.v1.deleted"),
		} {
			if code := sendCE(t, c, ev, structured); code != http.StatusOK {
				t.Errorf("structured=%v %s: status %d", structured, ev.Type(), code)
			}
		}
		want := []string{
			"https://my-storage-account.blob.core.windows.net/test-container/new-file.txt",
			"https://my-storage-account.blob.core.windows.net/testcontainer/file-to-delete.txt",
			"https://storage.googleapis.com/my-bucket/my-file.txt",
		}
		if got := e.pending(); !sameSet(got, want) {
			t.Errorf("structured=%v: pending %v, want %v", structured, got, want)
		}
		if src := e.source(want[0]); src != "event: azure test-container/new-file.txt" {
			t.Errorf("source %q", src)
		}
		if src := e.source(want[2]); src != "event: gcs my-bucket/my-file.txt" {
			t.Errorf("source %q", src)
		}
		if e.count("gcs", "google.cloud.storage.object.v1.deleted", events.OutcomeAlreadyPending) != 1 ||
			e.count("azure", "Microsoft.Storage.BlobCreated", events.OutcomeEnqueued) != 1 {
			t.Errorf("structured=%v: CloudEvents are not counted by source, type and outcome", structured)
		}
		// Other event types of those services are acknowledged and ignored.
		for _, typ := range []string{"Microsoft.Storage.BlobTierChanged", "google.cloud.storage.object.v1.metadataUpdated", "google.cloud.storage.object.v1.archived"} {
			ev := gcsSample(t, typ)
			if code := sendCE(t, c, ev, structured); code != http.StatusOK {
				t.Errorf("%s: %d", typ, code)
			}
		}
		if len(e.pending()) != 3 || e.count("azure", "Microsoft.Storage.BlobTierChanged", events.OutcomeIgnored) != 1 {
			t.Errorf("ignored types changed the pending set or were not counted")
		}
	}
}

// TestCloudEventsBatchAndRefusals: Event Grid's batched mode (the documented array), and what is
// not a storage CloudEvent: 400 with the reason, nothing enqueued.
func TestCloudEventsBatchAndRefusals(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	batch := strings.TrimSuffix(strings.TrimSpace(sample(t, "azure-blob-created.json")), "]") + "," +
		strings.TrimPrefix(strings.TrimSpace(sample(t, "azure-blob-deleted.json")), "[")
	if s := e.send(http.MethodPost, events.PathCloudEvents, batch, "Content-Type: application/cloudevents-batch+json; charset=utf-8").summary(t); s.Events != 2 || s.Enqueued != 2 {
		t.Errorf("batch: %+v", s)
	}
	n := len(e.pending())
	for _, c := range []struct {
		name, body, code string
		headers          []string
	}{
		{"plain JSON", `{"type":"Microsoft.Storage.BlobCreated"}`, "unknown_format", nil},
		{"structured, not JSON", `{"specversion":`, "malformed_json", []string{"Content-Type: application/cloudevents+json"}},
		{"specversion 0.3", `{"specversion":"0.3","id":"1","source":"s","type":"Microsoft.Storage.BlobCreated"}`, "unknown_format", []string{"Content-Type: application/cloudevents+json"}},
		{"no id", `{}`, "unknown_format", []string{"Ce-Specversion: 1.0", "Ce-Source: s", "Ce-Type: Microsoft.Storage.BlobCreated"}},
		{"another service", `{}`, "unknown_event_type", []string{"Ce-Specversion: 1.0", "Ce-Id: 1", "Ce-Source: github", "Ce-Type: com.github.push"}},
		{"blob created without a blob", `{}`, "unknown_format", []string{"Ce-Specversion: 1.0", "Ce-Id: 1", "Ce-Source: s", "Ce-Type: Microsoft.Storage.BlobCreated"}},
		{"object finalized without an object", `{}`, "unknown_format", []string{"Ce-Specversion: 1.0", "Ce-Id: 1", "Ce-Source: s", "Ce-Type: google.cloud.storage.object.v1.finalized"}},
		{"a bad event in a batch", `[{"specversion":"1.0","id":"1","source":"s","type":"Microsoft.Storage.BlobCreated","subject":"/blobServices/default/containers/media/blobs/a.jpg"},{"specversion":"1.0"}]`,
			"unknown_format", []string{"Content-Type: application/cloudevents-batch+json"}},
	} {
		a := e.send(http.MethodPost, events.PathCloudEvents, c.body, c.headers...)
		if a.Status != http.StatusBadRequest || a.errorCode(t) != c.code {
			t.Errorf("%s: %d %s, want 400 %s", c.name, a.Status, a.Body, c.code)
		}
	}
	if len(e.pending()) != n {
		t.Errorf("a refused delivery enqueued: %v", e.pending())
	}
}

// TestWebhookHandshake: the CloudEvents abuse-protection handshake that Event Grid sends when a
// subscription is created, with or without the token (with a wrong one it is 401: TestAuth).
func TestWebhookHandshake(t *testing.T) {
	t.Parallel()
	e := setup(t, nil)
	for _, path := range []string{events.PathCloudEvents, events.PathCloudEvents + "?token=" + testToken} {
		a := e.sendAs(http.MethodOptions, path, "", "WebHook-Request-Origin: eventgrid.azure.net")
		if a.Status != http.StatusOK || a.Header.Get("WebHook-Allowed-Origin") != "eventgrid.azure.net" || a.Header.Get("WebHook-Allowed-Rate") != "*" {
			t.Errorf("%s: %d %v", path, a.Status, a.Header)
		}
	}
	if a := e.send(http.MethodOptions, events.PathCloudEvents, ""); a.Status != http.StatusBadRequest || a.errorCode(t) != "handshake_origin_missing" {
		t.Errorf("no origin: %d %s", a.Status, a.Body)
	}
	// The S3 endpoint has no handshake: OPTIONS there needs the token like anything else.
	if a := e.sendAs(http.MethodOptions, events.PathS3, "", "WebHook-Request-Origin: eventgrid.azure.net"); a.Status != http.StatusUnauthorized {
		t.Errorf("OPTIONS on the S3 endpoint: %d", a.Status)
	}
}
