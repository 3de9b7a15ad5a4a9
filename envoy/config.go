package sluiceenvoy

import (
	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
)

// Config is what a [Server] limits: domains of descriptors, as Envoy sends
// them. Build one with [Load] (Sluice's YAML format), [Import]
// (envoyproxy/ratelimit's YAML format) or as a literal; [New] and
// [Server.SetConfig] validate it and report every problem with its path.
type Config struct {
	// Domains are the domains served; each name appears once. A request
	// for a domain that is not here is answered OK, with no limit.
	Domains []Domain
}

// Domain is one domain: the namespace a rate limit filter's domain setting
// names, with its descriptors.
type Domain struct {
	// Name is the domain, as the filter sends it; it must not be empty.
	Name string
	// Descriptors are the top level of the descriptor tree.
	Descriptors []Descriptor
}

// Descriptor matches one entry (key and value) of a request descriptor,
// and, through Descriptors, the entries after it. A request descriptor of
// n entries is limited by the Descriptor it reaches at depth n, when that
// one has Limits; otherwise it is not limited at all.
//
// Among the siblings with the entry's key, an exact Value wins, then the
// first wildcard (a Value ending in "*") whose prefix the entry's value
// starts with, in the order written, then the Descriptor with no Value.
// Matching never goes back up to try another sibling.
type Descriptor struct {
	// Key is the entry's key; it must not be empty.
	Key string
	// Value restricts the Descriptor to entries with this value. A Value
	// ending in "*" matches every value that starts with what precedes
	// the "*". Empty matches any value.
	Value string

	// Limits are the windows of a request that stops here, 0 to 4 of
	// them; a request is admitted only if every window admits it. None,
	// without Unlimited, means that a request stopping here is not
	// limited, but the Descriptors below may be.
	Limits []core.Limit
	// Algorithm counts the Limits; the zero value is backend.TokenBucket,
	// as for every Sluice rule. Import sets backend.FixedWindow, which is
	// what envoyproxy/ratelimit counts. backend.Concurrency is refused:
	// Envoy's protocol never releases a slot.
	Algorithm backend.Algorithm
	// Unlimited answers OK with no counter and the largest remaining
	// quota, without asking the backend. It excludes Limits.
	Unlimited bool

	// Shared makes every value a wildcard Value matches share one counter
	// per request path; by default each distinct value has its own, as
	// it has under an empty Value. Only a wildcard may be shared.
	Shared bool
	// Shadow makes the Limits decide and report without denying: an
	// entry over its limit is answered OK, with its limit and no
	// remaining quota.
	Shadow bool
	// Failure overrides the Limiter's failure mode for these Limits when
	// the backend fails: "open", "closed" or "local"; "" keeps the
	// Limiter's (see core.Failure).
	Failure string

	// Name names the limit: in the status Envoy receives, in the
	// RateLimit response headers, and for Replaces.
	Name string
	// Replaces lists the Names of limits that this one replaces: when a
	// request matches both, the named ones are neither checked nor
	// charged for that request.
	Replaces []string

	// Descriptors match the next entry of a request descriptor.
	Descriptors []Descriptor
}
