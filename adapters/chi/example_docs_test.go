package sluicechi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/go-chi/chi/v5"
	sluicechi "github.com/sluicehq/sluice/adapters/chi"
	"github.com/sluicehq/sluice/core"
)

// The framework line of README.md (see docs/gen/snippets.go).
func ExampleMiddleware_readme() {
	lim, err := core.New(core.WithDefault(core.PerMinute(1)))
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	r := chi.NewRouter()
	// snippet:readme
	r.Use(sluicechi.Middleware(lim)) // github.com/sluicehq/sluice/adapters/chi
	// end snippet:readme
	r.Get("/hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello") })
	for range 2 {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", "/hello", nil))
		fmt.Println(w.Code)
	}
	// Output:
	// 200
	// 429
}
