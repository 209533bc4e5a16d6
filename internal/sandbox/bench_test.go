package sandbox

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// nopWriter is a reusable http.ResponseWriter that discards the body.
type nopWriter struct {
	h    http.Header
	code int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) WriteHeader(code int)        { w.code = code }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkServeInvalidate measures the handler alone for a 15-URL request with new URLs
// every time, as in the product benchmark (300,000 URLs in 20,000 requests).
func BenchmarkServeInvalidate(b *testing.B) {
	s := New(Options{Key: key})
	bodies := make([][]byte, 20000)
	for i := range bodies {
		urls := make([]string, MaxURLs)
		for j := range urls {
			urls[j] = fmt.Sprintf("https://img.example.com/images/%d/%d.jpg", i, j)
		}
		bodies[i] = []byte(original(urls...))
	}
	u, _ := url.Parse("http://sandbox/invalidate")
	w := &nopWriter{h: http.Header{}}
	hdr := http.Header{"X-Client-Key": {key}, "Content-Type": {"application/json"}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%len(bodies) == 0 && i > 0 {
			b.StopTimer()
			s.Reset()
			b.StartTimer()
		}
		r := &http.Request{Method: "POST", URL: u, Header: hdr, Body: nopCloser{bytes.NewReader(bodies[i%len(bodies)])}}
		s.ServeHTTP(w, r)
		if w.code != http.StatusCreated {
			b.Fatalf("code %d", w.code)
		}
	}
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// BenchmarkStatus measures a status request.
func BenchmarkStatus(b *testing.B) {
	s := New(Options{Key: key})
	w := &nopWriter{h: http.Header{}}
	r := &http.Request{Method: "POST", URL: &url.URL{Path: "/invalidate"},
		Header: http.Header{"X-Client-Key": {key}, "Content-Type": {"application/json"}},
		Body:   nopCloser{bytes.NewReader([]byte(original("a.jpg", "b.jpg", "c.jpg")))}}
	rec := &recorder{header: http.Header{}}
	s.ServeHTTP(rec, r)
	uuid := rec.body.String()[strings.Index(rec.body.String(), `"uuid":"`)+8:][:36]
	sr := &http.Request{Method: "GET", URL: &url.URL{Path: "/invalidate/" + uuid}, Header: http.Header{"X-Client-Key": {key}}}
	b.ReportAllocs()
	for b.Loop() {
		s.ServeHTTP(w, sr)
		if w.code != http.StatusOK {
			b.Fatalf("code %d", w.code)
		}
	}
}
