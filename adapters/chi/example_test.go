package sluicechi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/go-chi/chi/v5"
	sluicechi "github.com/sluicehq/sluice/adapters/chi"
	"github.com/sluicehq/sluice/core"
)

func ExampleMiddleware() {
	lim, _ := core.New(core.WithRules(core.Rule{Name: "users", Path: "/users/{id}", Limits: []core.Limit{core.PerMinute(2)}}))
	defer lim.Close()

	r := chi.NewRouter()
	r.Use(sluicechi.Middleware(lim))
	r.Get("/users/{id}", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "user") })

	for _, id := range []string{"1", "2", "3"} { // every user shares /users/{id}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", "/users/"+id, nil))
		fmt.Println(w.Code, w.Header().Get("RateLimit"))
	}
	// Output:
	// 200 "users";r=1;t=30
	// 200 "users";r=0;t=30
	// 429 "users";r=0;t=30
}
