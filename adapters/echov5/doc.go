// Package sluiceechov5 limits echo v5 servers (github.com/labstack/echo/v5)
// with a Sluice core.Limiter. Servers on echo v4 use package sluiceecho
// (module github.com/sluicehq/sluice/adapters/echo) instead.
//
// Import it as
//
//	import sluiceechov5 "github.com/sluicehq/sluice/adapters/echov5"
//
// and register it once, or per route or group:
//
//	e := echo.New()
//	e.Use(sluiceechov5.Middleware(lim))
//	e.POST("/login", login, sluiceechov5.Middleware(strict))
//
// The middleware passes echo's route (c.Path(), such as "/users/:id") as the
// request's route template, rewritten to "/users/{id}", so every user shares
// that rule and its counters. Register it with Use, not Pre: echo routes a
// request before the Use middleware runs, and Pre middleware runs before it
// knows the route. Requests no route matches (404) are limited by their path.
// Responses follow the contract of package httpcontract, whose options every
// adapter shares.
package sluiceechov5
