package intake_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"

	"github.com/cipurge/cipurge"
	"github.com/cipurge/cipurge/internal/intake"
	"github.com/cipurge/cipurge/internal/testredis"
	"github.com/cipurge/cipurge/pkg/normalize"
)

// BenchmarkInvalidations measures POST /v1/invalidations over loopback HTTP into a private
// redis-server, with new URLs on every request (all enqueued), from parallel clients. It reports
// URLs/s besides ns/op (one op = one request).
//
//	go test -run '^$' -bench Invalidations -benchtime 3s ./internal/intake/
func BenchmarkInvalidations(b *testing.B) {
	r := testredis.Start(b)
	norm, err := normalize.New(normalize.Config{Token: ciToken})
	if err != nil {
		b.Fatal(err)
	}
	client, err := cipurge.NewClient(r.Client(), norm)
	if err != nil {
		b.Fatal(err)
	}
	h := intake.New(intake.Options{Client: client, Token: testToken, Log: zap.NewNop()})
	srv := httptest.NewServer(h)
	defer srv.Close()
	var seq atomic.Int64
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("urls=%d", n), func(b *testing.B) {
			b.SetParallelism(4) // 4 clients per GOMAXPROCS
			b.RunParallel(func(pb *testing.PB) {
				c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
				defer c.CloseIdleConnections()
				for pb.Next() {
					id := seq.Add(1)
					us := make([]string, n)
					for i := range us {
						us[i] = "https://img.example.com/bench/" + strconv.FormatInt(id, 10) + "/" + strconv.Itoa(i) + ".jpg"
					}
					req, _ := http.NewRequest(http.MethodPost, srv.URL+intake.PathInvalidations, strings.NewReader(urlsBody(us, "bench")))
					req.Header.Set("Authorization", "Bearer "+testToken)
					req.Header.Set("Content-Type", "application/json")
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "urls/s")
		})
	}
}
