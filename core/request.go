package core

// Request is what a limiter needs to know about an HTTP request. Every
// framework can fill it cheaply: strings it already has and its header map,
// which is read, never copied.
type Request struct {
	// Method is the HTTP method, such as "GET".
	Method string
	// Path is the request path, without the query.
	Path string
	// Route is the route template the framework matched, such as
	// "/users/{id}", or empty when the framework does not know one. Rules
	// are matched against it first, so every user shares the
	// "/users/{id}" rule.
	Route string
	// RemoteAddr is the address of the connection's peer, as in
	// http.Request.RemoteAddr ("203.0.113.7:51234" or "[2001:db8::1]:443").
	RemoteAddr string
	// Header gives read-only access to the request headers; an
	// http.Header satisfies it. It may be nil.
	Header Header
	// Identity, when its Kind is set, is the client as already identified
	// by the caller (an authentication middleware, say); the Limiter's
	// identifier is then not consulted. Set it only from verified data.
	Identity Identity
	// Cost, when positive, overrides the matched rule's cost for this
	// request.
	Cost int64
	// Rule, when set, names the rule that decides the request, instead of
	// matching Method, Path, Route and tier: a request naming a rule is
	// never an exempt endpoint, and a name no rule has is an error. Admin
	// tools set it with Identity to Peek at or Reset a client's usage of
	// one rule.
	Rule string
}

// Header is read-only access to request headers. http.Header implements it.
type Header interface {
	// Get returns the first value of the named header, or "".
	Get(name string) string
	// Values returns every value of the named header, in order.
	Values(name string) []string
}
