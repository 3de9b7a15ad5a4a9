// Command gin is a small API server on a gin engine, limited by Sluice
// through package sluicegin on the in-memory backend. Its policy, shared by
// every example, is in package policy: 5 requests per 10 seconds per client
// IP by default, 3 login attempts per minute, 10 user lookups per minute for
// all users together, and /healthz exempt. GET /api/... answers any path
// below /api. CONFIG_FILE=sluice.toml takes the policy from a
// configuration file instead, reloaded when it changes.
//
//	go run ./examples/gin          # listens on :8080; ADDR overrides
//	curl -i localhost:8080/hello
package main

import (
	"net/http"

	"github.com/gin-gonic/gin"
	sluicegin "github.com/sluicehq/sluice/adapters/gin"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
	"github.com/sluicehq/sluice/examples/internal/policy"
)

func main() {
	policy.Main("gin", func(lim *core.Limiter, opts ...httpcontract.Option) http.Handler {
		r := gin.New()
		r.Use(gin.Recovery())
		// The middleware passes gin's route ("/users/:id", read as
		// "/users/{id}"), so /users/1 and /users/2 share that rule.
		r.Use(sluicegin.Middleware(lim, opts...))
		r.GET("/hello", func(c *gin.Context) { c.String(http.StatusOK, "hello\n") })
		r.POST("/login", func(c *gin.Context) { c.String(http.StatusOK, "welcome\n") })
		r.GET("/users/:id", func(c *gin.Context) { c.String(http.StatusOK, "user %s\n", c.Param("id")) })
		r.GET("/healthz", func(c *gin.Context) { c.String(http.StatusOK, "ok\n") })
		r.GET("/api/*rest", func(c *gin.Context) { c.String(http.StatusOK, "api %s\n", c.Param("rest")) })
		return r
	})
}
