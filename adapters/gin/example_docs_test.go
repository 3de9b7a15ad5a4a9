package sluicegin_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/gin-gonic/gin"
	sluicegin "github.com/sluicehq/sluice/adapters/gin"
	"github.com/sluicehq/sluice/core"
)

// The framework line of README.md (see docs/gen/snippets.go).
func ExampleMiddleware_readme() {
	gin.SetMode(gin.ReleaseMode)
	lim, err := core.New(core.WithDefault(core.PerMinute(1)))
	if err != nil {
		panic(err)
	}
	defer lim.Close()
	r := gin.New()
	// snippet:readme
	r.Use(sluicegin.Middleware(lim)) // github.com/sluicehq/sluice/adapters/gin
	// end snippet:readme
	r.GET("/hello", func(c *gin.Context) { c.String(http.StatusOK, "hello\n") })
	for range 2 {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", "/hello", nil))
		fmt.Println(w.Code)
	}
	// Output:
	// 200
	// 429
}
