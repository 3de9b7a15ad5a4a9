package sluicehttp_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	sluicehttp "github.com/sluicehq/sluice/adapters/nethttp"
	"github.com/sluicehq/sluice/core"
)

func ExampleMiddleware() {
	lim, _ := core.New(core.WithDefault(core.PerMinute(2)))
	defer lim.Close()

	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "user") })
	handler := sluicehttp.Middleware(lim)(mux)

	for range 3 {
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, httptest.NewRequest("GET", "/users/42", nil))
		fmt.Printf("%d ratelimit=%s retry-after=%q\n", w.Code, w.Header().Get("RateLimit"), w.Header().Get("Retry-After"))
	}
	// Output:
	// 200 ratelimit="default";r=1;t=30 retry-after=""
	// 200 ratelimit="default";r=0;t=30 retry-after=""
	// 429 ratelimit="default";r=0;t=30 retry-after="30"
}

func ExampleHandler() {
	lim, _ := core.New(core.WithDefault(core.PerMinute(1)))
	defer lim.Close()

	mux := http.NewServeMux()
	mux.Handle("POST /login", sluicehttp.Handler(lim, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "welcome")
	})))
	for range 2 {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("POST", "/login", nil))
		fmt.Println(w.Code, w.Header().Get("RateLimit-Policy"))
	}
	// Output:
	// 200 "default";q=1;w=60
	// 429 "default";q=1;w=60
}
