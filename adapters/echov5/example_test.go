package sluiceechov5_test

import (
	"fmt"
	"net/http/httptest"

	"github.com/labstack/echo/v5"
	sluiceechov5 "github.com/sluicehq/sluice/adapters/echov5"
	"github.com/sluicehq/sluice/core"
)

func ExampleMiddleware() {
	lim, _ := core.New(core.WithRules(core.Rule{Name: "users", Path: "/users/{id}", Limits: []core.Limit{core.PerMinute(2)}}))
	defer lim.Close()

	e := echo.New()
	e.Use(sluiceechov5.Middleware(lim))
	e.GET("/users/:id", func(c *echo.Context) error { return c.String(200, "user\n") })

	for _, id := range []string{"1", "2", "3"} { // "/users/:id" is the rule's "/users/{id}"
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest("GET", "/users/"+id, nil))
		fmt.Println(w.Code, w.Header().Get("RateLimit"))
	}
	// Output:
	// 200 "users";r=1;t=30
	// 200 "users";r=0;t=30
	// 429 "users";r=0;t=30
}
