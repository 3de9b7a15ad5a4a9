// Package sluicehttp limits net/http handlers with a Sluice core.Limiter.
//
// Import it as
//
//	import sluicehttp "github.com/sluicehq/sluice/adapters/nethttp"
//
// and wrap a whole server, or one handler:
//
//	http.ListenAndServe(":8080", sluicehttp.Middleware(lim, httpcontract.WithServeMux(mux))(mux))
//	mux.Handle("GET /users/{id}", sluicehttp.Handler(lim, usersHandler))
//
// A handler wrapped on its own knows its ServeMux pattern, so every path of
// "/users/{id}" shares that rule's counters. Middleware wrapping a whole mux
// learns patterns from httpcontract.WithServeMux; without it, rules match
// the request path. Responses follow the contract of package httpcontract,
// whose options every adapter shares.
package sluicehttp
