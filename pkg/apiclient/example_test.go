package apiclient_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cipurge/cipurge/internal/sandbox"
	"github.com/cipurge/cipurge/pkg/apiclient"
)

// Example invalidates a batch against the sandbox API and shows how a caller tells the
// outcomes apart.
func Example() {
	ctx := context.Background()
	srv, base, stop, err := sandbox.Start(sandbox.Options{Key: "demo-key"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()

	c, err := apiclient.New("demo-key", apiclient.WithBaseURL(base))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseIdleConnections()

	inv, err := c.Invalidate(ctx, []string{"https://img.example.com/a.jpg", "https://img.example.com/b.jpg"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(inv.StatusCode, inv.Status)

	st, err := c.Status(ctx, inv.UUID)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.Status, st.Invalidated)

	srv.RateLimitFor(time.Minute, "30")
	_, err = c.Invalidate(ctx, []string{"https://img.example.com/c.jpg"})
	fmt.Println(errors.Is(err, apiclient.ErrRateLimited), apiclient.IsTransient(err), apiclient.RetryAfter(err))

	srv.ClearFaults()
	_, err = c.Invalidate(ctx, []string{"https://img.example.com/c.jpg?w=600"})
	var rejected *apiclient.RejectedError
	fmt.Println(errors.As(err, &rejected), apiclient.IsTransient(err))
	fmt.Println(err)

	// Output:
	// 201 RECEIVED
	// DONE [https://img.example.com/a.jpg https://img.example.com/b.jpg]
	// true true 30s
	// true false
	// cloudimage: POST /invalidate: 400 Bad Request: {"status":"error","msg":"query string in url: https://img.example.com/c.jpg?w=600"}
}
