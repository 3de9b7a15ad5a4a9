// Command echo is a small API server on an echo instance, limited by Sluice
// through package sluiceecho on the in-memory backend. Its policy, shared by
// every example, is in package policy: 5 requests per 10 seconds per client
// IP by default, 3 login attempts per minute, 10 user lookups per minute for
// all users together, and /healthz exempt. GET /api/... answers any path
// below /api. CONFIG_FILE=sluice.toml takes the policy from a
// configuration file instead, reloaded when it changes.
//
//	go run ./examples/echo         # listens on :8080; ADDR overrides
//	curl -i localhost:8080/hello
package main

import (
	"net/http"

	"github.com/labstack/echo/v4"
	sluiceecho "github.com/sluicehq/sluice/adapters/echo"
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/httpcontract"
	"github.com/sluicehq/sluice/examples/internal/policy"
)

func main() {
	policy.Main("echo", func(lim *core.Limiter, opts ...httpcontract.Option) http.Handler {
		e := echo.New()
		// The middleware passes echo's route ("/users/:id", read as
		// "/users/{id}"), so /users/1 and /users/2 share that rule.
		e.Use(sluiceecho.Middleware(lim, opts...))
		e.GET("/hello", func(c echo.Context) error { return c.String(http.StatusOK, "hello\n") })
		e.POST("/login", func(c echo.Context) error { return c.String(http.StatusOK, "welcome\n") })
		e.GET("/users/:id", func(c echo.Context) error { return c.String(http.StatusOK, "user "+c.Param("id")+"\n") })
		e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
		e.GET("/api/*", func(c echo.Context) error { return c.String(http.StatusOK, "api /"+c.Param("*")+"\n") })
		return e
	})
}
