package sluiceclient_test

import (
	"net/http"
	"testing"

	sluiceclient "github.com/sluicehq/sluice/client"
)

// stub is a RoundTripper that answers every request at once with header.
type stub http.Header

func (s stub) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header(s).Clone(), Body: http.NoBody, Request: r}, nil
}

// BenchmarkRoundTrip measures what the transport adds to a request:
// pacing, and reading the response's rate-limit fields.
func BenchmarkRoundTrip(b *testing.B) {
	for _, bc := range []struct {
		name   string
		header http.Header
	}{
		{"no fields", http.Header{}},
		{"draft-10", http.Header{
			"Ratelimit":        {`"api";r=1000000000;t=60`},
			"Ratelimit-Policy": {`"api";q=1000000000;w=60`},
		}},
		{"X-RateLimit", http.Header{
			"X-Ratelimit-Limit":     {"1000000000"},
			"X-Ratelimit-Remaining": {"1000000000"},
			"X-Ratelimit-Reset":     {"60"},
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tr := sluiceclient.Wrap(stub(bc.header))
			req, _ := http.NewRequest("GET", "https://api.example.com/items", nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tr.RoundTrip(req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
