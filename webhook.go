package cipurge

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge/internal/store"
	"github.com/cipurge/cipurge/internal/webhook"
)

// The events a worker posts to a request's callback URL.
// The callback is WithCallback's, or the workers' default.
const (
	EventRequestDone = webhook.EventRequestDone // every URL of the request is confirmed or has finally failed
	EventURLDead     = webhook.EventURLDead     // one URL of the request was dead-lettered, or could not be followed
)

// WebhookEvent is the JSON body of a webhook delivery.
// A receiver decodes it once the signature is verified.
// The webhook-id header names the event: a retried delivery keeps it, so a receiver dedupes by it.
type WebhookEvent struct {
	Type      string      `json:"type"`      // EventRequestDone or EventURLDead
	Timestamp time.Time   `json:"timestamp"` // when it happened
	Data      WebhookData `json:"data"`
}

// WebhookData is the request as Inspector.Request reads it when the event happens.
// Its fields are those of GET /v1/requests/{id}.
// An EventURLDead adds the URL it is about.
type WebhookData struct {
	RequestStatus
	URL string `json:"url,omitempty"` // EventURLDead: the URL's canonical key
}

// ReadWebhookData reads request id for an event about it, and url for an EventURLDead.
// It reads the keys of the account default: a deployment of one account.
// An unknown or expired ID matches ErrNoRequest.
func ReadWebhookData(ctx context.Context, rdb redis.UniversalClient, id, url string) (*WebhookData, error) {
	s, err := readRequest(ctx, []*store.Store{store.New(rdb)}, id)
	if err != nil {
		return nil, err
	}
	return &WebhookData{RequestStatus: *s, URL: url}, nil
}
