package sluiceadmin

import (
	"container/list"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/core"
)

// Denials is a core.Observer that remembers the clients a Limiter denied
// (blocked ones included, shadow denials not), so that the admin API can
// list those still denied: give it to the Limiter with core.WithObserver
// and to [Handler] with [WithDenials]. It keeps each client's latest
// denial per rule, at most a bound's worth: past it, the client denied
// least recently is forgotten (and counted as dropped, when its denial
// had not ended). Recording a denial is a map update under a mutex; other
// decisions cost nothing. It is safe for concurrent use.
type Denials struct {
	mu      sync.Mutex
	size    int
	m       map[denialKey]*list.Element // of *denial
	order   list.List                   // least recently denied first
	latest  time.Time                   // the latest decision time seen: the Limiter's "now"
	dropped uint64
}

type denialKey struct {
	rule  string
	kind  core.IdentityKind
	value string
}

type denial struct {
	denialKey
	id    core.Identity
	at    time.Time // the latest denial
	until time.Time // when it ends
}

// defaultDenials is the bound of NewDenials(0).
const defaultDenials = 1024

// NewDenials returns a Denials that remembers at most size clients (per
// rule); size 0 or less means 1024. Listing them peeks at each, so keep
// the bound near the number of clients you expect to be denied at once.
func NewDenials(size int) *Denials {
	if size <= 0 {
		size = defaultDenials
	}
	return &Denials{size: size, m: map[denialKey]*list.Element{}}
}

var _ core.Observer = (*Denials)(nil)

// ObserveDecision implements core.Observer: it records a Denied decision.
func (d *Denials) ObserveDecision(_ core.Request, dec core.Decision) {
	if dec.Outcome != core.Denied {
		return
	}
	k := denialKey{dec.Rule, dec.Client.Kind, dec.Client.Value}
	until := dec.At.Add(dec.RetryAfter)
	d.mu.Lock()
	defer d.mu.Unlock()
	if dec.At.After(d.latest) {
		d.latest = dec.At
	}
	if el := d.m[k]; el != nil {
		e := el.Value.(*denial)
		e.at, e.until, e.id.Tier = dec.At, until, dec.Client.Tier
		d.order.MoveToBack(el)
		return
	}
	if len(d.m) >= d.size {
		oldest := d.order.Front()
		e := oldest.Value.(*denial)
		if e.until.After(dec.At) {
			d.dropped++
		}
		delete(d.m, e.denialKey)
		d.order.Remove(oldest)
	}
	id := dec.Client
	id.Exempt = false
	d.m[k] = d.order.PushBack(&denial{denialKey: k, id: id, at: dec.At, until: until})
}

// ObserveBackend implements core.Observer; it does nothing.
func (d *Denials) ObserveBackend(string, string, time.Duration, error) {}

// ObserveBreaker implements core.Observer; it does nothing.
func (d *Denials) ObserveBreaker(string, string) {}

// snapshot returns the denials that may not have ended, most recent first,
// forgetting those that have (by the latest decision time seen), and the
// number dropped to keep to the bound.
func (d *Denials) snapshot() ([]denial, uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []denial
	for el := d.order.Front(); el != nil; {
		next := el.Next()
		e := el.Value.(*denial)
		if !e.until.After(d.latest) {
			delete(d.m, e.denialKey)
			d.order.Remove(el)
		} else {
			out = append(out, *e)
		}
		el = next
	}
	slices.SortStableFunc(out, func(a, b denial) int {
		if c := b.at.Compare(a.at); c != 0 {
			return c
		}
		if c := strings.Compare(a.rule, b.rule); c != 0 {
			return c
		}
		return strings.Compare(a.id.String(), b.id.String())
	})
	return out, d.dropped
}

// drop forgets e, unless it was denied again since the snapshot.
func (d *Denials) drop(e denial) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if el := d.m[e.denialKey]; el != nil && !el.Value.(*denial).at.After(e.at) {
		delete(d.m, e.denialKey)
		d.order.Remove(el)
	}
}

// forget forgets id's denials in rule, or in every rule when rule is "".
func (d *Denials) forget(rule string, id core.Identity) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k, el := range d.m {
		if k.kind == id.Kind && k.value == id.Value && (rule == "" || k.rule == rule) {
			delete(d.m, k)
			d.order.Remove(el)
		}
	}
}
