// Package sluiceadmin is an admin API for a Sluice Limiter: a mountable
// http.Handler, speaking JSON, for support and incident work. It lists the
// rules, peeks at a client's windows, resets a client, lifts a client's
// penalty block, and lists the clients currently denied.
//
// Import it as
//
//	import sluiceadmin "github.com/sluicehq/sluice/admin"
//
// and mount it behind an authorizer of your own:
//
//	denials := sluiceadmin.NewDenials(0)
//	lim, err := core.New(core.WithObserver(denials), ...)
//	h, err := sluiceadmin.Handler(lim, sluiceadmin.BearerToken(os.Getenv("ADMIN_TOKEN")),
//		sluiceadmin.WithDenials(denials))
//	mux.Handle("/admin/sluice/", http.StripPrefix("/admin/sluice", h))
//
// # Endpoints
//
// Paths are relative to where the handler is mounted. A client is named by
// kind (ip, the default, user, apikey, custom or unverified) and key, its
// identity's value as decisions and logs show it ("203.0.113.7"; an IPv6
// client's /64 prefix, "2001:db8:1:2::/64"; an API key's digest). Times
// are in seconds.
//
//	GET  /rules                          the rules, in precedence order
//	GET  /peek?kind=ip&key=K[&rule=R]    the client's windows in rule R, or in every rule
//	GET  /denied                         the clients denied now (see Denials)
//	POST /reset   {"kind","key","rule"}  forget the client's usage (of rule, or of every rule)
//	POST /unblock {"kind","key","rule"}  lift the client's penalty block (in rule, or in every rule)
//
// Reads are GETs with query parameters; changes are POSTs with a JSON body
// and the content type application/json, which a cross-site form cannot
// send. Errors are {"error": "..."} with a 4xx or 5xx status; a backend
// that fails is a 503 whose message never carries the backend's error.
//
// # Trust model
//
// There is no open default: [Handler] takes an [Authorizer] and refuses
// nil. The authorizer is asked before anything else is done, with the
// operation the request asks for; a request it refuses gets 403 and
// touches neither the Limiter nor its backend. The API shows clients'
// identities (IP addresses, user IDs), so authorize it as you would
// access to your logs.
//
// # What it can tell
//
// Peek, reset and unblock work on any backend: they are
// core.Limiter.Peek and Reset on a Request that names the rule and the
// client. Listing the clients currently denied needs a [Denials]: an
// Observer that remembers the latest denials the Limiter made, bounded,
// each checked again with Peek when listed. For the in-memory backend,
// which only this process uses, the list is exact up to its bound. For a
// shared backend such as Redis, it holds the clients this instance denied:
// another instance's denials are listed by that instance's admin API. It
// never scans the backend's keys (no KEYS, no SCAN): on Redis those are
// full-keyspace operations, and the keys hold digests, not clients.
//
// Lifting a block is a Reset of the rule: the block, the denials counted
// towards the next one, and the client's usage of that rule go together,
// so the client starts afresh on it.
package sluiceadmin
