package store_test

import (
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/cipurge/cipurge/internal/sandbox"
	"github.com/cipurge/cipurge/pkg/apiclient"
)

// TestSandboxRecordsOutliveTheSandbox: a sandbox started again over the same Redis answers the
// status of what the previous one accepted (DONE, with its URLs and failures), as the real API
// would; without a keeper, the uuid is unknown (404), which the worker reads as unconfirmed.
func TestSandboxRecordsOutliveTheSandbox(t *testing.T) {
	s, ctx := newStore(t)
	keep := s.SandboxRecords(time.Minute)
	client := func(sb *sandbox.Server) *apiclient.Client {
		c, err := apiclient.New("k", apiclient.WithBaseURL("http://sandbox.test"), apiclient.WithHTTPClient(&http.Client{Transport: sb.RoundTripper()}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := sandbox.New(sandbox.Options{Keeper: keep})
	first.FailURLInStatus("https://img.example.com/bad.jpg")
	urls := []string{"https://img.example.com/a.jpg", "https://img.example.com/bad.jpg"}
	inv, err := client(first).Invalidate(ctx, urls)
	if err != nil {
		t.Fatal(err)
	}

	again := sandbox.New(sandbox.Options{Keeper: keep}) // a restart: nothing in memory
	st, err := client(again).Status(ctx, inv.UUID)
	if err != nil {
		t.Fatalf("status of %s after a restart: %v", inv.UUID, err)
	}
	if st.Status != sandbox.StatusDone || !slices.Equal(st.Invalidated, urls[:1]) || !slices.Equal(st.Failed, urls[1:]) {
		t.Errorf("after a restart: %+v, want DONE, %v invalidated, %v failed", st, urls[:1], urls[1:])
	}

	forgetful := sandbox.New(sandbox.Options{})
	_, err = client(forgetful).Status(ctx, inv.UUID)
	var rej *apiclient.RejectedError
	if !errors.As(err, &rej) || rej.StatusCode != http.StatusNotFound {
		t.Errorf("without a keeper: %v, want a 404", err)
	}
}
