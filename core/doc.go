// Package core is Sluice's framework-agnostic rate-limiting engine.
//
// A [Limiter] holds rules and a backend and decides whether a key may spend
// some units of a rule: [Limiter.Take] asks directly, for a job, an
// outbound call or an LLM's tokens; [Limiter.Wait] waits until it may; and
// [Limiter.Decide] asks for an HTTP request, given as a [Request]. The
// answer is a [Decision]: allow, deny, delay, or exempt, with the numbers a
// response's rate-limit headers need.
//
//	lim, err := core.New(
//		core.WithDefault(core.PerMinute(100)),
//		core.WithRules(core.Rule{Name: "login", Path: "/login", Methods: []string{"POST"},
//			Algorithm: backend.SlidingLog, Limits: []core.Limit{core.PerMinute(5)}}),
//	)
//	...
//	d, err := lim.Decide(ctx, core.Request{Method: r.Method, Path: r.URL.Path,
//		RemoteAddr: r.RemoteAddr, Header: r.Header})
//
// Most HTTP programs use an adapter (sluicehttp, sluicechi, sluicegin,
// sluiceecho) instead of calling Decide themselves. Anything else calls
// Take:
//
//	d, err := lim.Take(ctx, "jobs", tenant, 1)
//
// # Guarantees
//
// A Limiter is safe for concurrent use. Every window of a rule is checked
// and charged atomically by the backend, so concurrent requests never admit
// more than a limit allows. No backend configured means the in-memory
// backend (package memory). Time comes from a [clock.Clock], so tests run on
// a fake clock. Package core imports only the standard library.
package core
