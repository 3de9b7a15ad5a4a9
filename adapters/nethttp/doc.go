// Package sluicehttp limits net/http handlers with a Sluice core.Limiter.
//
// Import it as
//
//	import sluicehttp "github.com/sluicehq/sluice/adapters/nethttp"
//
// and wrap a whole server, or one handler:
//
//	http.ListenAndServe(":8080", sluicehttp.Middleware(lim)(mux))
//	mux.Handle("GET /users/{id}", sluicehttp.Handler(lim, usersHandler))
//
// A handler wrapped on its own knows its ServeMux pattern, so every path of
// "/users/{id}" shares that rule's counters. Middleware wrapping a whole
// *http.ServeMux (or any handler with its Handler(*http.Request) method)
// asks it which pattern a request matches before the mux runs, so route
// rules match there too; around another handler, rules match the request
// path. Responses follow the contract of package httpcontract,
// whose options every adapter shares.
package sluicehttp
