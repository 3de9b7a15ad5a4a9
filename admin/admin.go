package sluiceadmin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
)

// Authorizer decides whether r may do op, one of "rules", "peek" and
// "denied", which only read, and "reset" and "unblock", which change a
// client's state. It is called for every request before anything else is
// done; false answers 403. Refuse an op you do not know: a later version
// may add one. It must be safe for concurrent use.
type Authorizer func(r *http.Request, op string) bool

// BearerToken returns an Authorizer that allows every op to a request
// whose Authorization header is "Bearer " followed by token, compared in
// constant time, and refuses every other request. An empty token refuses
// every request.
func BearerToken(token string) Authorizer {
	want := sha256.Sum256([]byte("Bearer " + token))
	return func(r *http.Request, _ string) bool {
		got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
		return token != "" && subtle.ConstantTimeCompare(got[:], want[:]) == 1
	}
}

type config struct {
	denials *Denials
}

// Option configures [Handler].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithDenials lists, at GET /denied, the clients d saw denied that are
// still denied; d must be an observer of the same Limiter
// (core.WithObserver(d)). Without it, the default, GET /denied answers
// 501 Not Implemented.
func WithDenials(d *Denials) Option {
	return optionFunc(func(c *config) { c.denials = d })
}

// errNoAuthorizer is Handler's error for a nil Authorizer.
var errNoAuthorizer = errors.New("sluiceadmin: an Authorizer is required (there is no open default)")

// Handler returns the admin API of lim (see the package documentation for
// its endpoints), which serves only the requests auth allows. It returns
// an error when lim or auth is nil.
func Handler(lim *core.Limiter, auth Authorizer, opts ...Option) (http.Handler, error) {
	if auth == nil {
		return nil, errNoAuthorizer
	}
	if lim == nil {
		return nil, errors.New("sluiceadmin: a Limiter is required")
	}
	var cfg config
	for _, o := range opts {
		o.apply(&cfg)
	}
	return &handler{lim: lim, auth: auth, denials: cfg.denials}, nil
}

type handler struct {
	lim     *core.Limiter
	auth    Authorizer
	denials *Denials
}

// endpoint is one operation: its method and what serves it.
type endpoint struct {
	op     string
	method string
	serve  func(h *handler, w http.ResponseWriter, r *http.Request)
}

var endpoints = map[string]endpoint{
	"/rules":   {"rules", http.MethodGet, (*handler).rules},
	"/peek":    {"peek", http.MethodGet, (*handler).peek},
	"/denied":  {"denied", http.MethodGet, (*handler).denied},
	"/reset":   {"reset", http.MethodPost, (*handler).reset},
	"/unblock": {"unblock", http.MethodPost, (*handler).unblock},
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e, ok := endpoints[r.URL.Path]
	if !ok {
		fail(w, http.StatusNotFound, "no such endpoint")
		return
	}
	if !h.auth(r, e.op) {
		fail(w, http.StatusForbidden, "forbidden")
		return
	}
	if r.Method != e.method && !(e.method == http.MethodGet && r.Method == http.MethodHead) {
		w.Header().Set("Allow", e.method)
		fail(w, http.StatusMethodNotAllowed, e.op+" takes "+e.method)
		return
	}
	e.serve(h, w, r)
}

// The JSON the API answers with.
type (
	clientJSON struct {
		Kind string `json:"kind"`
		Key  string `json:"key"`
		Tier string `json:"tier,omitempty"`
	}
	limitJSON struct {
		Limit string  `json:"limit"` // as configuration files write it
		N     int64   `json:"n"`
		Per   float64 `json:"per,omitempty"`
		Burst int64   `json:"burst,omitempty"`
		Name  string  `json:"name,omitempty"`
	}
	penaltyJSON struct {
		Threshold  int64   `json:"threshold"`
		Window     float64 `json:"window"`
		Base       float64 `json:"base"`
		Multiplier float64 `json:"multiplier,omitempty"`
		Max        float64 `json:"max,omitempty"`
		Decay      float64 `json:"decay,omitempty"`
	}
	ruleJSON struct {
		Name      string       `json:"name"`
		Path      string       `json:"path,omitempty"`
		Methods   []string     `json:"methods,omitempty"`
		Tiers     []string     `json:"tiers,omitempty"`
		Algorithm string       `json:"algorithm"`
		Limits    []limitJSON  `json:"limits,omitempty"`
		Cost      int64        `json:"cost,omitempty"`
		MaxDelay  float64      `json:"max_delay,omitempty"`
		Group     string       `json:"group,omitempty"`
		Failure   string       `json:"failure,omitempty"`
		Shadow    bool         `json:"shadow,omitempty"`
		Exempt    bool         `json:"exempt,omitempty"`
		NameOnly  bool         `json:"name_only,omitempty"`
		Penalty   *penaltyJSON `json:"penalty,omitempty"`
	}
	windowJSON struct {
		Limit      limitJSON `json:"limit"`
		Remaining  int64     `json:"remaining"`
		ResetAfter float64   `json:"reset_after"`
		RetryAfter float64   `json:"retry_after"`
		NextAfter  float64   `json:"next_after"`
	}
	stateJSON struct {
		Rule       string       `json:"rule"`
		Outcome    string       `json:"outcome"`
		Blocked    bool         `json:"blocked,omitempty"`
		RetryAfter float64      `json:"retry_after,omitempty"`
		Windows    []windowJSON `json:"windows,omitempty"`
	}
	peekJSON struct {
		Client clientJSON  `json:"client"`
		Rules  []stateJSON `json:"rules"`
	}
	changeJSON struct {
		Client clientJSON `json:"client"`
		Rules  []string   `json:"rules"` // the rules reset or unblocked
	}
	deniedJSON struct {
		Rule       string     `json:"rule"`
		Client     clientJSON `json:"client"`
		Blocked    bool       `json:"blocked,omitempty"`
		RetryAfter float64    `json:"retry_after"`
		LastDenied time.Time  `json:"last_denied"`
	}
	deniedListJSON struct {
		Clients []deniedJSON `json:"clients"`
		// Dropped counts the denials Denials forgot to keep to its
		// bound: when positive, the list may miss clients.
		Dropped uint64 `json:"dropped"`
	}
)

func secs(d time.Duration) float64 { return d.Seconds() }

func limitOf(l core.Limit) limitJSON {
	return limitJSON{Limit: l.String(), N: l.N, Per: secs(l.Per), Burst: l.Burst, Name: l.Name}
}

func (h *handler) rules(w http.ResponseWriter, _ *http.Request) {
	rules := h.lim.Rules()
	out := make([]ruleJSON, len(rules))
	for i, r := range rules {
		rj := ruleJSON{
			Name: r.Name, Path: r.Path, Methods: r.Methods, Tiers: r.Tiers,
			Algorithm: r.Algorithm.String(), Cost: r.Cost, MaxDelay: secs(r.MaxDelay),
			Group: r.Group, Failure: r.Failure, Shadow: r.Shadow, Exempt: r.Exempt, NameOnly: r.NameOnly,
		}
		for _, l := range r.Limits {
			rj.Limits = append(rj.Limits, limitOf(l))
		}
		if p := r.Penalty; p != nil {
			rj.Penalty = &penaltyJSON{Threshold: p.Threshold, Window: secs(p.Window), Base: secs(p.Base),
				Multiplier: p.Multiplier, Max: secs(p.Max), Decay: secs(p.Decay)}
		}
		out[i] = rj
	}
	reply(w, map[string]any{"rules": out})
}

// target is what a peek, reset or unblock names: a client and, optionally,
// a rule.
type target struct {
	Kind string `json:"kind"`
	Key  string `json:"key"`
	Rule string `json:"rule"`
}

var kinds = map[string]core.IdentityKind{
	"ip": core.KindIP, "user": core.KindUser, "apikey": core.KindAPIKey,
	"custom": core.KindCustom, "unverified": core.KindUnverified,
}

// identity validates t's client.
func (t *target) identity() (core.Identity, error) {
	if t.Kind == "" {
		t.Kind = "ip"
	}
	k, ok := kinds[t.Kind]
	switch {
	case !ok:
		return core.Identity{}, fmt.Errorf("unknown kind %q (ip, user, apikey, custom or unverified)", t.Kind)
	case t.Key == "":
		return core.Identity{}, errors.New("key is required: the client's identity value, as decisions show it")
	}
	return core.Identity{Kind: k, Value: t.Key}, nil
}

// rulesFor returns the rules t names: its rule, which must exist, or every
// rule that keep selects.
func (h *handler) rulesFor(t *target, keep func(*core.Rule) bool) ([]core.Rule, error) {
	all := h.lim.Rules()
	if t.Rule == "" {
		var out []core.Rule
		for _, r := range all {
			if keep(&r) {
				out = append(out, r)
			}
		}
		return out, nil
	}
	for _, r := range all {
		if r.Name == t.Rule {
			return []core.Rule{r}, nil
		}
	}
	return nil, fmt.Errorf("no rule named %q", t.Rule)
}

func limited(r *core.Rule) bool { return !r.Exempt }

func (h *handler) peek(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	t := target{Kind: q.Get("kind"), Key: q.Get("key"), Rule: q.Get("rule")}
	id, err := t.identity()
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	rules, err := h.rulesFor(&t, limited)
	if err != nil {
		fail(w, http.StatusNotFound, err.Error())
		return
	}
	out := peekJSON{Client: clientJSON{Kind: t.Kind, Key: t.Key}, Rules: []stateJSON{}}
	for _, rule := range rules {
		d, ok := h.peekOne(w, r.Context(), rule.Name, id)
		if !ok {
			return
		}
		out.Client.Tier = d.Client.Tier
		out.Rules = append(out.Rules, stateOf(&d))
	}
	reply(w, out)
}

// peekOne peeks at id's state in rule; on failure it answers the request
// and returns false.
func (h *handler) peekOne(w http.ResponseWriter, ctx context.Context, rule string, id core.Identity) (core.Decision, bool) {
	d, err := h.lim.Peek(ctx, core.Request{Rule: rule, Identity: id})
	switch {
	case errors.Is(err, backend.ErrInvalidRequest):
		fail(w, http.StatusBadRequest, "invalid client or rule")
		return d, false
	case err != nil:
		failUnavailable(w, err)
		return d, false
	case d.Outcome == core.FailedOpen || d.Outcome == core.FailedClosed || d.Local:
		fail(w, http.StatusServiceUnavailable, "the backend is unavailable")
		return d, false
	}
	return d, true
}

func stateOf(d *core.Decision) stateJSON {
	s := stateJSON{Rule: d.Rule, Outcome: string(d.Outcome), Blocked: d.Blocked, RetryAfter: secs(d.RetryAfter)}
	for _, win := range d.Windows() {
		s.Windows = append(s.Windows, windowJSON{
			Limit: limitOf(win.Limit), Remaining: win.Remaining,
			ResetAfter: secs(win.ResetAfter), RetryAfter: secs(win.RetryAfter), NextAfter: secs(win.NextAfter),
		})
	}
	return s
}

// readTarget reads the JSON body of a POST.
func readTarget(w http.ResponseWriter, r *http.Request) (target, core.Identity, bool) {
	var t target
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		fail(w, http.StatusUnsupportedMediaType, "the body must be application/json")
		return t, core.Identity{}, false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		fail(w, http.StatusBadRequest, "the body must be a JSON object with kind, key and rule")
		return t, core.Identity{}, false
	}
	id, err := t.identity()
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return t, core.Identity{}, false
	}
	return t, id, true
}

func (h *handler) reset(w http.ResponseWriter, r *http.Request) {
	t, id, ok := readTarget(w, r)
	if !ok {
		return
	}
	rules, err := h.rulesFor(&t, limited)
	if err != nil {
		fail(w, http.StatusNotFound, err.Error())
		return
	}
	out := changeJSON{Client: clientJSON{Kind: t.Kind, Key: t.Key}, Rules: []string{}}
	for _, rule := range rules {
		if !h.resetOne(w, r.Context(), rule.Name, id) {
			return
		}
		out.Rules = append(out.Rules, rule.Name)
	}
	if h.denials != nil {
		h.denials.forget(t.Rule, id)
	}
	reply(w, out)
}

func (h *handler) resetOne(w http.ResponseWriter, ctx context.Context, rule string, id core.Identity) bool {
	err := h.lim.Reset(ctx, core.Request{Rule: rule, Identity: id})
	switch {
	case errors.Is(err, backend.ErrInvalidRequest):
		fail(w, http.StatusBadRequest, "invalid client or rule")
		return false
	case err != nil:
		failUnavailable(w, err)
		return false
	}
	return true
}

func (h *handler) unblock(w http.ResponseWriter, r *http.Request) {
	t, id, ok := readTarget(w, r)
	if !ok {
		return
	}
	rules, err := h.rulesFor(&t, func(r *core.Rule) bool { return r.Penalty != nil && !r.Exempt })
	if err != nil {
		fail(w, http.StatusNotFound, err.Error())
		return
	}
	if t.Rule != "" && rules[0].Penalty == nil {
		fail(w, http.StatusBadRequest, fmt.Sprintf("rule %q has no penalty", t.Rule))
		return
	}
	out := changeJSON{Client: clientJSON{Kind: t.Kind, Key: t.Key}, Rules: []string{}}
	for _, rule := range rules {
		d, ok := h.peekOne(w, r.Context(), rule.Name, id)
		if !ok {
			return
		}
		if !d.Blocked {
			continue
		}
		if !h.resetOne(w, r.Context(), rule.Name, id) {
			return
		}
		out.Rules = append(out.Rules, rule.Name)
		if h.denials != nil {
			h.denials.forget(rule.Name, id)
		}
	}
	reply(w, out)
}

func (h *handler) denied(w http.ResponseWriter, r *http.Request) {
	if h.denials == nil {
		fail(w, http.StatusNotImplemented, "no Denials: give sluiceadmin.WithDenials the observer of this Limiter")
		return
	}
	seen, dropped := h.denials.snapshot()
	out := deniedListJSON{Clients: []deniedJSON{}, Dropped: dropped}
	for _, e := range seen {
		d, err := h.lim.Peek(r.Context(), core.Request{Rule: e.rule, Identity: e.id})
		switch {
		case errors.Is(err, backend.ErrInvalidRequest): // the rule is gone
			h.denials.drop(e)
			continue
		case err != nil:
			failUnavailable(w, err)
			return
		case d.Outcome == core.FailedOpen || d.Outcome == core.FailedClosed || d.Local:
			fail(w, http.StatusServiceUnavailable, "the backend is unavailable")
			return
		case d.Outcome != core.Denied:
			h.denials.drop(e)
			continue
		}
		out.Clients = append(out.Clients, deniedJSON{
			Rule:       e.rule,
			Client:     clientJSON{Kind: string(e.id.Kind), Key: e.id.Value, Tier: d.Client.Tier},
			Blocked:    d.Blocked,
			RetryAfter: secs(d.RetryAfter),
			LastDenied: e.at.UTC(),
		})
	}
	reply(w, out)
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": "sluiceadmin: " + msg})
}

// failUnavailable answers an error of the Limiter without its text: a
// closed Limiter, a backend that failed, or a request that went away.
func failUnavailable(w http.ResponseWriter, err error) {
	msg := "the backend is unavailable"
	if errors.Is(err, core.ErrClosed) {
		msg = "the limiter is closed"
	} else if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		msg = "the request ended"
	}
	fail(w, http.StatusServiceUnavailable, msg)
}
