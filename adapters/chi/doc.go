// Package sluicechi limits chi routers with a Sluice core.Limiter.
//
// Import it as
//
//	import sluicechi "github.com/sluicehq/sluice/adapters/chi"
//
// and register it once, or per route or group:
//
//	r := chi.NewRouter()
//	r.Use(sluicechi.Middleware(lim))
//	r.With(sluicechi.Middleware(strict)).Post("/login", login)
//
// The middleware passes chi's route pattern (such as "/users/{id}") as the
// request's route template, so "/users/42" and "/users/43" share the
// "/users/{id}" rule and its counters, even when it is registered with Use
// before chi has routed the request. Responses follow the contract of
// package httpcontract, whose options every adapter shares.
package sluicechi
