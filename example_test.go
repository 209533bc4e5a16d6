package cipurge_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/normalize"
)

// redisAddr is the private redis-server that the examples write to.
var redisAddr string

// TestMain starts the examples' redis-server. The tests start their own.
func TestMain(m *testing.M) {
	s, stop, err := testredis.StartMain()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	redisAddr = s.Addr()
	code := m.Run()
	stop()
	os.Exit(code)
}

func ExampleClient_Enqueue() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	norm, err := normalize.New(normalize.Config{Token: "demo"})
	if err != nil {
		panic(err)
	}
	client, err := cipurge.NewClient(rdb, norm)
	if err != nil {
		panic(err)
	}
	report, err := client.Enqueue(ctx, []string{
		"https://demo.cloudimg.io/v7/https://img.example.com/enqueue/a.jpg?w=300",
		"https://img.example.com/enqueue/a.jpg",
		"ftp://img.example.com/enqueue/b.jpg",
	}, cipurge.WithSource("cms: image 42 replaced"))
	if err != nil {
		panic(err)
	}
	for _, r := range report.Results {
		fmt.Println(strings.TrimSpace(r.Outcome.String() + " " + r.Key))
	}
	var bad *cipurge.InvalidURLError
	fmt.Println("rejected input is an *InvalidURLError:", errors.As(report.Results[2].Err, &bad))
	fmt.Println("enqueued:", report.Enqueued)
	// Output:
	// enqueued https://img.example.com/enqueue/a.jpg
	// duplicate https://img.example.com/enqueue/a.jpg
	// rejected
	// rejected input is an *InvalidURLError: true
	// enqueued: 1
}

func ExampleClient_EnqueueBulkFrom() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	norm, err := normalize.New(normalize.Config{Token: "demo"})
	if err != nil {
		panic(err)
	}
	client, err := cipurge.NewClient(rdb, norm)
	if err != nil {
		panic(err)
	}
	input := strings.NewReader(`# re-ingest of the catalogue
https://img.example.com/bulk/1.jpg
https://img.example.com/bulk/2.jpg
https://img.example.com/bulk/1.jpg
not a url
`)
	rep, err := client.EnqueueBulkFrom(ctx, input, cipurge.WithSource("catalogue re-ingest"))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d read, %d enqueued in %d API request, %d duplicate, %d rejected\n",
		rep.URLs, rep.Enqueued, rep.Requests, rep.Duplicates, rep.Rejected)
	// Output:
	// 4 read, 2 enqueued in 1 API request, 1 duplicate, 1 rejected
}

func ExampleClient_RequestFlushAll() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	norm, err := normalize.New(normalize.Config{Token: "demo"})
	if err != nil {
		panic(err)
	}
	client, err := cipurge.NewClient(rdb, norm, cipurge.WithFlushAll("demo", time.Hour))
	if err != nil {
		panic(err)
	}
	err = client.RequestFlushAll(ctx, cipurge.FlushAllRequest{Confirm: "DEMO", RequestedBy: "ops", Reason: "new watermark"})
	fmt.Println("wrong confirmation:", errors.Is(err, cipurge.ErrFlushAllMismatch))
	err = client.RequestFlushAll(ctx, cipurge.FlushAllRequest{Confirm: "demo", RequestedBy: "ops", Reason: "new watermark"})
	fmt.Println("requested:", err == nil)
	err = client.RequestFlushAll(ctx, cipurge.FlushAllRequest{Confirm: "demo", RequestedBy: "ops", Reason: "again"})
	var refused *cipurge.FlushRefusedError
	fmt.Println("one at a time:", errors.As(err, &refused) && errors.Is(err, cipurge.ErrFlushAllPending))
	// Output:
	// wrong confirmation: true
	// requested: true
	// one at a time: true
}

func ExampleInspector_Lookup() {
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	norm, err := normalize.New(normalize.Config{Token: "demo"})
	if err != nil {
		panic(err)
	}
	client, err := cipurge.NewClient(rdb, norm)
	if err != nil {
		panic(err)
	}
	if _, err := client.Enqueue(ctx, []string{"https://img.example.com/lookup/a.jpg"}); err != nil {
		panic(err)
	}
	insp, err := cipurge.NewInspector(rdb, norm)
	if err != nil {
		panic(err)
	}
	h, err := insp.Lookup(ctx, "https://demo.cloudimg.io/v7/https://img.example.com/lookup/a.jpg")
	if err != nil {
		panic(err)
	}
	fmt.Println(h.Key, "pending:", h.PendingSince != nil, "sent:", h.SentAt != nil)
	// Output:
	// https://img.example.com/lookup/a.jpg pending: true sent: false
}

func ExampleNewClient() {
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	norm, err := normalize.New(normalize.Config{Token: "demo"})
	if err != nil {
		panic(err)
	}
	_, err = cipurge.NewClient(rdb, norm, cipurge.WithMaxRetry(-3))
	var bad *cipurge.OptionError
	if errors.As(err, &bad) {
		fmt.Println(bad.Option, bad.Value, "refused:", bad.Reason)
	}
	// Output:
	// WithMaxRetry -3 refused: use 0 to 100
}
