// Package sluiceecho limits echo servers with a Sluice core.Limiter.
//
// Import it as
//
//	import sluiceecho "github.com/sluicehq/sluice/adapters/echo"
//
// and register it once, or per route or group:
//
//	e := echo.New()
//	e.Use(sluiceecho.Middleware(lim))
//	e.POST("/login", login, sluiceecho.Middleware(strict))
//
// The middleware passes echo's route (c.Path(), such as "/users/:id") as the
// request's route template, rewritten to "/users/{id}", so every user shares
// that rule and its counters. Responses follow the contract of package
// httpcontract, whose options every adapter shares.
package sluiceecho
