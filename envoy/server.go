package sluiceenvoy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	commonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sluicehq/sluice/core"
	"github.com/sluicehq/sluice/core/backend"
)

// defaultTimeout bounds each backend call of a decision unless the
// Limiter's options set a core.Failure: well inside the 20ms Envoy waits
// for an answer by default, so that the failure mode answers in time.
const defaultTimeout = 10 * time.Millisecond

// maxOverrides bounds the distinct limits that requests carry themselves
// (a descriptor's limit field): each is a rule of its own.
const maxOverrides = 1024

// maxCost bounds a descriptor's hits: far above any limit, and exact in
// every backend.
const maxCost = 1 << 40

// Server answers Envoy's rate limit service,
// envoy.service.ratelimit.v3.RateLimitService, from a [Config], with a
// Sluice Limiter deciding. It is safe for concurrent use. Create it with
// [New], serve it with [Server.Register] on a grpc.Server, and change its
// configuration with [Server.SetConfig] or [Server.Watch].
//
// Every descriptor of a request is decided by the Limiter's Take: the rule
// is the Descriptor the entries reach, the key their values, the cost the
// hits. A request is admitted, or denied, as a whole: when one descriptor is
// over its limit, the units the others were charged are given back before
// the answer is sent (see docs/envoy.md for the moment they are held).
type Server struct {
	lim      *core.Limiter
	log      *slog.Logger
	headers  bool
	onReload func(error)
	health   *health.Server

	table     atomic.Pointer[table]
	overrides atomic.Pointer[map[overrideKey]*limitRef] // copied on write

	mu            sync.Mutex // serializes changes to the Limiter's rules
	overrideRules []core.Rule
	overflowed    bool // maxOverrides was reached; logged once
}

// Option configures a [Server].
type Option interface{ apply(*options) }

type options struct {
	limiter  []core.Option
	log      *slog.Logger
	headers  bool
	onReload func(error)
}

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

// WithLimiterOptions passes options to the Limiter the Server creates: its
// backend (core.WithBackend; the default is the in-memory backend, which
// serves one process only), its failure handling (core.WithFailure), its
// observer (core.WithObserver, such as a sluiceprom.Metrics), its logger
// and its clock. The Server's default failure handling is core.Failure
// with a Timeout of 10ms, inside the 20ms Envoy waits by default; a
// core.WithFailure here replaces it whole, so set its Timeout. The rules
// are the Server's: they come from the Config.
func WithLimiterOptions(opts ...core.Option) Option {
	return optionFunc(func(o *options) { o.limiter = append(o.limiter, opts...) })
}

// WithLogger logs what the Server does to l: rejected reloads at Error,
// accepted ones at Info, and the Limiter's decisions and failures (it is
// passed to core.WithLogger). The default logs nothing.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) { o.log = l })
}

// WithHeaders sets whether responses carry the RateLimit and
// RateLimit-Policy header fields (IETF draft-ietf-httpapi-ratelimit-headers
// version 10) for Envoy to add to the client's response. The default is on.
func WithHeaders(on bool) Option {
	return optionFunc(func(o *options) { o.headers = on })
}

// WithReloadHook calls f after every reload [Server.Watch] attempts, with
// its error, nil on success: to count reloads in metrics, say with a
// sluiceprom.Metrics' ConfigReloaded. The default is none.
func WithReloadHook(f func(error)) Option {
	return optionFunc(func(o *options) { o.onReload = f })
}

// New returns a Server for cfg. It returns an error, joining one
// *core.ConfigError per problem with its path (such as
// "domains[0].descriptors[1].limits[0]"), when cfg is invalid, and an
// error when the Limiter cannot be created.
func New(cfg *Config, opts ...Option) (*Server, error) {
	o := options{headers: true}
	for _, opt := range opts {
		opt.apply(&o)
	}
	t, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	lopts := []core.Option{core.WithFailure(core.Failure{Timeout: defaultTimeout})}
	if o.log != nil {
		lopts = append(lopts, core.WithLogger(o.log))
	}
	lopts = append(lopts, o.limiter...)
	lopts = append(lopts, core.WithRules(rulesOrPlaceholder(t.rules)...))
	lim, err := core.New(lopts...)
	if err != nil {
		return nil, fmt.Errorf("sluiceenvoy: %w", err)
	}
	s := &Server{lim: lim, log: o.log, headers: o.headers, onReload: o.onReload, health: health.NewServer()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.table.Store(t)
	s.overrides.Store(&map[overrideKey]*limitRef{})
	s.health.SetServingStatus(rlsv3.RateLimitService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return s, nil
}

// Register registers the rate limit service and the gRPC health service
// (grpc.health.v1.Health, SERVING for "" and for the rate limit service
// until Close) on r, typically a *grpc.Server.
func (s *Server) Register(r grpc.ServiceRegistrar) {
	rlsv3.RegisterRateLimitServiceServer(r, rlsService{s: s})
	healthpb.RegisterHealthServer(r, s.health)
}

// rlsService is the generated service interface, which requires embedding.
type rlsService struct {
	rlsv3.UnimplementedRateLimitServiceServer
	s *Server
}

func (r rlsService) ShouldRateLimit(ctx context.Context, req *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
	return r.s.ShouldRateLimit(ctx, req)
}

// Limiter returns the Limiter that decides, for admin tools: its rules are
// named after the descriptor paths, such as "edge:remote_address", and
// its keys are the descriptor values.
func (s *Server) Limiter() *core.Limiter { return s.lim }

// SetConfig replaces the configuration atomically: requests in progress
// finish with the old one, and the counters of every descriptor whose path
// is unchanged are kept, so a changed limit resets no one's usage. On error
// (the same as New's) the old configuration stays.
func (s *Server) SetConfig(cfg *Config) error {
	t, err := compile(cfg)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.lim.SetRules(rulesOrPlaceholder(append(t.rules[:len(t.rules):len(t.rules)], s.overrideRules...))...); err != nil {
		return mapRuleErrors(err, t.paths)
	}
	s.table.Store(t)
	return nil
}

// Close marks the service NOT_SERVING in the health service and closes the
// Limiter; requests then fail with codes.Unavailable. A backend passed with
// core.WithBackend stays open. Close is idempotent.
func (s *Server) Close() error {
	s.health.Shutdown()
	return s.lim.Close()
}

// item is one descriptor of a request being decided.
type item struct {
	ref      *limitRef // nil: not limited
	replaced bool
	key      string
	cost     int64
	d        core.Decision
	err      error
	refund   int64 // units given back after another descriptor denied
}

// ShouldRateLimit answers one request, as the gRPC service does (see
// [Server.Register]): a status per descriptor, in order, and OVER_LIMIT
// overall when any descriptor is over its limit, in which case no
// descriptor keeps a charge. A request with no domain, no descriptors, a
// descriptor with no entries, an entry with no key or an invalid limit
// override is an error with codes.InvalidArgument; a context that ends is
// its error, and a closed Server answers codes.Unavailable.
func (s *Server) ShouldRateLimit(ctx context.Context, req *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
	if err := checkRequest(req); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	for try := 0; ; try++ {
		resp, err := s.decide(ctx, req)
		// A reload between matching and charging can remove the rule
		// matched; the request is matched again on the new rules.
		if err != nil && try == 0 && errors.Is(err, backend.ErrInvalidRequest) {
			continue
		}
		if err != nil {
			return nil, grpcError(err)
		}
		return resp, nil
	}
}

func checkRequest(req *rlsv3.RateLimitRequest) error {
	switch {
	case req.GetDomain() == "":
		return errors.New("rate limit domain must not be empty")
	case len(req.GetDescriptors()) == 0:
		return errors.New("rate limit descriptor list must not be empty")
	}
	for i, d := range req.GetDescriptors() {
		if len(d.GetEntries()) == 0 {
			return fmt.Errorf("descriptors[%d] has no entries", i)
		}
		for j, e := range d.GetEntries() {
			if e.GetKey() == "" {
				return fmt.Errorf("descriptors[%d].entries[%d] has an empty key", i, j)
			}
		}
	}
	return nil
}

func grpcError(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "sluiceenvoy: deadline exceeded")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "sluiceenvoy: canceled")
	case errors.Is(err, core.ErrClosed):
		return status.Error(codes.Unavailable, "sluiceenvoy: server closed")
	case errors.Is(err, errBadOverride):
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return status.Error(codes.Internal, "sluiceenvoy: no decision could be made")
}

func (s *Server) decide(ctx context.Context, req *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
	t := s.table.Load()
	root := t.domains[req.GetDomain()]
	descs := req.GetDescriptors()
	ib := itemPool.Get().(*itemBuf)
	defer ib.put()
	items := ib.items[:0]
	if len(descs) > len(ib.items) {
		items = make([]item, 0, len(descs))
	}
	hits := int64(req.GetHitsAddend())
	if hits == 0 {
		hits = 1
	}
	var replaced map[string]bool
	for _, d := range descs {
		it := item{cost: hits}
		if h := d.GetHitsAddend(); h != nil {
			it.cost = int64(min(h.GetValue(), maxCost))
		}
		if d.GetIsNegativeHits() {
			it.cost = 0 // a refund has no decision to settle: only look
		}
		if root != nil {
			if o := d.GetLimit(); o != nil {
				ref, err := s.override(req.GetDomain(), o)
				if err != nil {
					return nil, err
				}
				if ref != nil {
					it.ref, it.key = ref, entriesKey(d.GetEntries())
				}
			}
			if it.ref == nil {
				it.ref, it.key = match(root, d.GetEntries())
			}
		}
		if it.ref != nil && len(it.ref.replaces) > 0 {
			if replaced == nil {
				replaced = map[string]bool{}
			}
			for _, r := range it.ref.replaces {
				replaced[r] = true
			}
		}
		items = append(items, it)
	}
	for i := range items {
		if it := &items[i]; it.ref != nil && it.ref.name != "" && replaced[it.ref.name] {
			it.replaced = true
		}
	}
	take := func(it *item) { it.d, it.err = s.lim.Take(ctx, it.ref.rule, it.key, it.cost) }
	var first *item // decided here; the others in parallel, so that a slow
	// backend costs one timeout, not one per descriptor
	var wg sync.WaitGroup
	for i := range items {
		if it := &items[i]; it.decided() {
			if first == nil {
				first = it
				continue
			}
			wg.Go(func() { take(it) })
		}
	}
	if first != nil {
		take(first)
	}
	wg.Wait()
	over := false
	for i := range items {
		it := &items[i]
		if it.err != nil {
			s.refund(ctx, items)
			return nil, it.err
		}
		if it.decided() && (it.d.Outcome == core.Denied || it.d.Outcome == core.FailedClosed) {
			over = true
		}
	}
	if over {
		s.refund(ctx, items)
	}
	return s.response(items, over), nil
}

// itemBuf holds the items of a request, reused: a request's items are
// too large for its goroutine's stack to hold without growing it.
type itemBuf struct{ items [4]item }

var itemPool = sync.Pool{New: func() any { return new(itemBuf) }}

func (b *itemBuf) put() {
	b.items = [4]item{} // drop the references the decisions hold
	itemPool.Put(b)
}

// decided reports whether the Limiter decides the item.
func (it *item) decided() bool { return it.ref != nil && !it.replaced && !it.ref.unlimited }

// refund gives back what the items that were charged cost, because the
// request is denied (or failed) as a whole.
func (s *Server) refund(ctx context.Context, items []item) {
	var wg sync.WaitGroup
	for i := range items {
		it := &items[i]
		if !it.decided() || it.err != nil || it.cost == 0 {
			continue
		}
		if o := it.d.Outcome; o != core.Allowed && o != core.Delayed {
			continue
		}
		if ctx.Done() != nil {
			ctx = context.WithoutCancel(ctx) // the request's end must not stop a refund
		}
		wg.Go(func() {
			if err := it.d.Settle(ctx, 0); err != nil {
				s.log.Error("sluiceenvoy: refund of a denied request's descriptor failed", "rule", it.ref.rule, "error", err)
				return
			}
			it.refund = it.cost
		})
	}
	wg.Wait()
}

func (s *Server) response(items []item, over bool) *rlsv3.RateLimitResponse {
	// The messages of a response are allocated together.
	type limited struct {
		limit rlsv3.RateLimitResponse_RateLimit
		reset durationpb.Duration
	}
	var (
		resp = &rlsv3.RateLimitResponse{
			OverallCode: rlsv3.RateLimitResponse_OK,
			Statuses:    make([]*rlsv3.RateLimitResponse_DescriptorStatus, len(items)),
		}
		sts  = make([]rlsv3.RateLimitResponse_DescriptorStatus, len(items))
		lims []limited
	)
	if over {
		resp.OverallCode = rlsv3.RateLimitResponse_OVER_LIMIT
	}
	var (
		rl     []byte
		policy string
	)
	for i := range items {
		it := &items[i]
		st := &sts[i]
		st.Code = rlsv3.RateLimitResponse_OK
		resp.Statuses[i] = st
		switch {
		case it.ref == nil || it.replaced:
			continue
		case it.ref.unlimited:
			st.LimitRemaining = math.MaxUint32
			continue
		}
		d := &it.d
		switch d.Outcome {
		case core.FailedOpen, core.Exempt:
			continue
		case core.FailedClosed:
			st.Code = rlsv3.RateLimitResponse_OVER_LIMIT
			continue
		}
		denied := d.Outcome == core.Denied
		if denied {
			st.Code = rlsv3.RateLimitResponse_OVER_LIMIT
		}
		w := primary(d.Windows())
		if lims == nil {
			lims = make([]limited, len(items))
		}
		lm := &lims[i]
		setCurrentLimit(&lm.limit, w.Limit, it.ref.name)
		st.CurrentLimit = &lm.limit
		st.LimitRemaining = uint32(min(w.Limit.N, max(0, w.Remaining)+it.refund, math.MaxUint32))
		reset := w.ResetAfter
		if denied || d.Outcome == core.ShadowDenied {
			reset = max(w.RetryAfter, reset)
		}
		lm.reset.Seconds, lm.reset.Nanos = int64(reset/time.Second), int32(reset%time.Second)
		st.DurationUntilReset = &lm.reset
		if s.headers && !it.ref.shadow && len(d.Windows()) > 0 {
			if rl == nil {
				rl = make([]byte, 0, 128)
			}
			rl = appendRateLimit(rl, d, denied, it.refund)
			p := it.ref.policy
			if d.Local {
				p = policyValue(limitsOf(d))
			}
			if policy == "" {
				policy = p
			} else {
				policy += ", " + p
			}
		}
	}
	if policy != "" {
		hs := new([2]corev3.HeaderValue)
		hs[0].Key, hs[0].Value = headerRateLimit, string(rl)
		hs[1].Key, hs[1].Value = headerPolicy, policy
		resp.ResponseHeadersToAdd = []*corev3.HeaderValue{&hs[0], &hs[1]}
	}
	return resp
}

func limitsOf(d *core.Decision) []core.Limit {
	ws := d.Windows()
	ls := make([]core.Limit, len(ws))
	for i, w := range ws {
		ls[i] = w.Limit
	}
	return ls
}

// primary returns the window that constrains the request most, as a
// Decision's own fields describe it: the longest wait, then the least
// remaining, then the longest reset.
func primary(ws []core.WindowState) core.WindowState {
	p := ws[0]
	for _, w := range ws[1:] {
		switch {
		case w.RetryAfter != p.RetryAfter:
			if w.RetryAfter > p.RetryAfter {
				p = w
			}
		case w.Remaining != p.Remaining:
			if w.Remaining < p.Remaining {
				p = w
			}
		case w.ResetAfter > p.ResetAfter:
			p = w
		}
	}
	return p
}

// responseUnits are the units a status can name, longest first.
var responseUnits = []struct {
	d time.Duration
	u rlsv3.RateLimitResponse_RateLimit_Unit
}{
	{year, rlsv3.RateLimitResponse_RateLimit_YEAR},
	{month, rlsv3.RateLimitResponse_RateLimit_MONTH},
	{week, rlsv3.RateLimitResponse_RateLimit_WEEK},
	{day, rlsv3.RateLimitResponse_RateLimit_DAY},
	{time.Hour, rlsv3.RateLimitResponse_RateLimit_HOUR},
	{time.Minute, rlsv3.RateLimitResponse_RateLimit_MINUTE},
	{time.Second, rlsv3.RateLimitResponse_RateLimit_SECOND},
}

// setCurrentLimit describes a limit as a status does: the longest unit
// that divides its period, with a multiplier when the period is several
// units (a period that is not whole seconds is rounded up to them).
func setCurrentLimit(rl *rlsv3.RateLimitResponse_RateLimit, l core.Limit, name string) {
	rl.Name = name
	rl.RequestsPerUnit = uint32(min(l.N, math.MaxUint32))
	rl.Unit = rlsv3.RateLimitResponse_RateLimit_SECOND
	mult := seconds(l.Per)
	for _, u := range responseUnits {
		if l.Per%u.d == 0 {
			rl.Unit, mult = u.u, int64(l.Per/u.d)
			break
		}
	}
	if mult != 1 {
		rl.UnitMultiplier = wrapperspb.UInt32(uint32(min(mult, math.MaxUint32)))
	}
}

// overrideKey identifies the rule of a limit a request carries.
type overrideKey struct {
	domain string
	n      uint32
	per    time.Duration
}

var errBadOverride = errors.New("sluiceenvoy: invalid limit override")

var overrideUnits = map[typev3.RateLimitUnit]time.Duration{
	typev3.RateLimitUnit_SECOND: time.Second,
	typev3.RateLimitUnit_MINUTE: time.Minute,
	typev3.RateLimitUnit_HOUR:   time.Hour,
	typev3.RateLimitUnit_DAY:    day,
	typev3.RateLimitUnit_MONTH:  month,
	typev3.RateLimitUnit_YEAR:   year,
}

// override returns the limit of a descriptor's own limit field: a fixed
// window rule per domain and limit, added to the Limiter's rules the first
// time it is seen. Past maxOverrides distinct limits it returns nil, and
// the descriptor is matched against the configuration.
func (s *Server) override(domain string, o *commonv3.RateLimitDescriptor_RateLimitOverride) (*limitRef, error) {
	unit, ok := overrideUnits[o.GetUnit()]
	mult := uint64(1)
	if m := o.GetUnitMultiplier(); m != nil {
		mult = uint64(m.GetValue())
	}
	if !ok || mult == 0 || mult > uint64(maxPeriod/unit) {
		return nil, fmt.Errorf("%w: unit %v, multiplier %d", errBadOverride, o.GetUnit(), mult)
	}
	k := overrideKey{domain: domain, n: o.GetRequestsPerUnit(), per: time.Duration(mult) * unit}
	if ref := (*s.overrides.Load())[k]; ref != nil {
		return ref, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.overrides.Load()
	if ref := old[k]; ref != nil {
		return ref, nil
	}
	if len(old) >= maxOverrides {
		if !s.overflowed {
			s.overflowed = true
			s.log.Error("sluiceenvoy: too many distinct limit overrides; further ones are ignored", "max", maxOverrides)
		}
		return nil, nil
	}
	name := escapeRuleName(domain) + ":override=" + core.Limit{N: int64(k.n), Per: k.per}.String()
	limit := core.Limit{N: int64(k.n), Per: k.per, Name: "override"}
	rule := core.Rule{Name: name, NameOnly: true, Algorithm: backend.FixedWindow, Limits: []core.Limit{limit}}
	t := s.table.Load()
	rules := append(t.rules[:len(t.rules):len(t.rules)], s.overrideRules...)
	if err := s.lim.SetRules(append(rules, rule)...); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadOverride, err)
	}
	s.overrideRules = append(s.overrideRules, rule)
	ref := &limitRef{rule: name, algorithm: backend.FixedWindow, limits: rule.Limits, policy: policyValue(rule.Limits)}
	m := make(map[overrideKey]*limitRef, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[k] = ref
	s.overrides.Store(&m)
	return ref, nil
}
