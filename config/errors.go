package sluiceconfig

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/core"
)

// ErrRestartRequired is wrapped by the error of a reload that changes a
// setting only a restart can apply (see Service.Reload).
var ErrRestartRequired = errors.New("sluiceconfig: a setting changed that needs a restart")

// configErrors is every problem a configuration has, one *core.ConfigError
// each, sorted by path: Load reports them all at once.
type configErrors []*core.ConfigError

func (es configErrors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sluiceconfig: %d invalid setting(s):", len(es))
	for _, e := range es {
		b.WriteString("\n\t")
		b.WriteString(e.Path)
		if e.Value != nil {
			if s, ok := e.Value.(string); ok {
				fmt.Fprintf(&b, ": %q", s)
			} else {
				fmt.Fprintf(&b, ": %v", e.Value)
			}
		}
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the *core.ConfigError values, for errors.As.
func (es configErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// problems collects the problems of a configuration.
type problems struct{ errs configErrors }

func (p *problems) add(path string, value any, format string, args ...any) {
	p.wrap(path, value, fmt.Errorf(format, args...))
}

func (p *problems) wrap(path string, value any, err error) {
	p.errs = append(p.errs, &core.ConfigError{Path: path, Value: value, Err: err})
}

// err returns the problems as one error, nil when there are none.
func (p *problems) err() error {
	if len(p.errs) == 0 {
		return nil
	}
	sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Path < p.errs[j].Path })
	return p.errs
}
