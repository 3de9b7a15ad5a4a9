// Package sluicegin limits gin engines with a Sluice core.Limiter.
//
// Import it as
//
//	import sluicegin "github.com/sluicehq/sluice/adapters/gin"
//
// and register it once, or per route or group:
//
//	r := gin.New()
//	r.Use(sluicegin.Middleware(lim))
//	r.POST("/login", sluicegin.Middleware(strict), login)
//
// The middleware passes gin's route (c.FullPath(), such as "/users/:id") as
// the request's route template, rewritten to "/users/{id}", so every user
// shares that rule and its counters. A limited request is aborted: no later
// handler runs. Responses follow the contract of package httpcontract, whose
// options every adapter shares.
package sluicegin
