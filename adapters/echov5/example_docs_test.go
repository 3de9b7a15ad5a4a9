package sluiceechov5_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/labstack/echo/v5"
	sluiceechov5 "github.com/sluicehq/sluice/adapters/echov5"
	"github.com/sluicehq/sluice/core"
)

// The framework line of README.md (see docs/gen/snippets.go).
func ExampleMiddleware_readme() {
	lim, err := core.New(core.WithDefault(core.PerMinute(1)))
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	e := echo.New()
	// snippet:readme
	e.Use(sluiceechov5.Middleware(lim)) // github.com/sluicehq/sluice/adapters/echov5
	// end snippet:readme
	e.GET("/hello", func(c *echo.Context) error { return c.String(http.StatusOK, "hello\n") })
	for range 2 {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest("GET", "/hello", nil))
		fmt.Println(w.Code)
	}
	// Output:
	// 200
	// 429
}
