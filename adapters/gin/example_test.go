package sluicegin_test

import (
	"fmt"
	"net/http/httptest"

	"github.com/gin-gonic/gin"
	sluicegin "github.com/sluicehq/sluice/adapters/gin"
	"github.com/sluicehq/sluice/core"
)

func ExampleMiddleware() {
	gin.SetMode(gin.ReleaseMode)
	lim, _ := core.New(core.WithRules(core.Rule{Name: "users", Path: "/users/{id}", Limits: []core.Limit{core.PerMinute(2)}}))
	defer lim.Close()

	r := gin.New()
	r.Use(sluicegin.Middleware(lim))
	r.GET("/users/:id", func(c *gin.Context) { c.String(200, "user\n") })

	for _, id := range []string{"1", "2", "3"} { // "/users/:id" is the rule's "/users/{id}"
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", "/users/"+id, nil))
		fmt.Println(w.Code, w.Header().Get("RateLimit"))
	}
	// Output:
	// 200 "users";r=1;t=30
	// 200 "users";r=0;t=30
	// 429 "users";r=0;t=30
}
